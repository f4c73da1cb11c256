import type { z } from 'zod';
import { closest, didYouMean } from './did-you-mean.js';
import type { LocatedYaml, Location } from './yaml-locations.js';

/**
 * One thing wrong in a YAML configuration file (gateway configuration, routing rules, the `deidentification:`
 * section), in the words a user reads: `file:line:column key.path: message (hint: ...)`.
 */
export interface ConfigProblem {
  path: Array<string | number>;
  /** When the problem is a key (unknown or missing), the key, so the location points at it. */
  key?: string;
  message: string;
  hint?: string;
  location?: Location;
}

/** What a schema calls its keys, so an unknown key gets a hint. */
export interface KeyVocabulary {
  /** The keys allowed in the object at `path`. */
  allowedKeys(path: ReadonlyArray<string | number>): readonly string[];
  /** Keys people write by habit (another tool's name, an old name), with what the schema calls them. */
  renamedKeys?: Readonly<Record<string, string>>;
  /** Whether a renamed key's target belongs in the object at `path`; default: everywhere. */
  renameFits?(target: string, path: ReadonlyArray<string | number>, allowed: readonly string[]): boolean;
  /** A key that is exactly a habit (upstreamUrl) is named as such before any typo of an allowed key (upstream). */
  exactRenameFirst?: boolean;
}

/** A hint for an unknown key: the habit it comes from, a typo of an allowed key, or the keys allowed there. */
export function unknownKeyHint(key: string, path: ReadonlyArray<string | number>, vocabulary: KeyVocabulary): string | undefined {
  const allowed = vocabulary.allowedKeys(path);
  const renamed = vocabulary.renamedKeys ?? {};
  const fitting = (habit: string | undefined): string | undefined => {
    const target = habit === undefined || !Object.hasOwn(renamed, habit) ? undefined : renamed[habit];
    return target !== undefined && (vocabulary.renameFits?.(target, path, allowed) ?? true) ? target : undefined;
  };
  const exact = vocabulary.exactRenameFirst ? fitting(key) : undefined;
  if (exact) return `use ${exact}`;
  const typo = didYouMean(key, allowed);
  if (typo) return typo;
  const habit = fitting(Object.hasOwn(renamed, key) ? key : closest(key, Object.keys(renamed)));
  if (habit) return `use ${habit}`;
  return allowed.length > 0 ? `allowed here: ${allowed.join(', ')}` : undefined;
}

type Shape = { shape: Record<string, z.ZodType> };

/** The keys allowed in the object at `path`, read from the schema itself (so hints never name a stale key). */
export function keysAllowedBySchema(root: z.ZodType, path: ReadonlyArray<string | number>): string[] {
  let schema: unknown = root;
  for (const p of path) {
    schema = unwrap(schema);
    if (typeof p === 'number') return [];
    const s = schema as Partial<Shape> & { _zod?: { def?: { type?: string; valueType?: unknown } } };
    if (s._zod?.def?.type === 'record') {
      schema = s._zod.def.valueType;
      continue;
    }
    if (!s.shape || !(p in s.shape)) return [];
    schema = s.shape[p];
  }
  const s = unwrap(schema) as Partial<Shape>;
  return s.shape ? Object.keys(s.shape) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema as { _zod?: { def?: { type?: string; innerType?: unknown } } };
  while (s?._zod?.def && ['default', 'optional', 'nullable', 'prefault', 'readonly'].includes(s._zod.def.type ?? '')) {
    s = s._zod.def.innerType as typeof s;
  }
  return s;
}

/**
 * Zod's issues as problems a user can act on. Parse with `{ reportInput: true }`: a missing key is told apart
 * from a wrong value by the issue's input.
 */
export function problemsFromIssues(
  issues: readonly z.core.$ZodIssue[],
  vocabulary: KeyVocabulary,
  prefix: Array<string | number> = [],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ path, key, message: `unknown key "${key}"`, hint: unknownKeyHint(key, path, vocabulary) });
    } else if (issue.code === 'invalid_type' && issue.input === undefined && path.length > 0) {
      const key = String(path[path.length - 1]);
      problems.push({ path: path.slice(0, -1), key, message: `the required key "${key}" is missing` });
    } else if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0) {
      // A union of shapes (e.g. `when` as one condition or a list). When no branch got past the value's
      // type, the union's own message says best what was expected; otherwise report the closest branch.
      const wrongType = issue.errors.every((branch) => branch.every((i) => i.path.length === 0 && i.code === 'invalid_type'));
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
      problems.push(...(wrongType ? [{ path, message: issue.message }] : problemsFromIssues(best, vocabulary, path)));
    } else if (issue.code === 'invalid_key') {
      const inner = issue.issues[0]?.message;
      problems.push({ path, message: `the name "${String(path[path.length - 1])}" is not allowed${inner ? `: ${inner}` : ''}` });
    } else if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
      const got = issue.input;
      // Zod's own wording is replaced by the list of choices; a schema's own message is kept.
      const message =
        issue.message.startsWith('Invalid option') || issue.message.startsWith('Invalid input')
          ? `"${String(got)}" is not one of: ${issue.values.join(', ')}`
          : issue.message;
      problems.push({ path, message, hint: typeof got === 'string' ? didYouMean(got, issue.values as string[]) : undefined });
    } else {
      problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

/** The YAML parser's errors as problems at their line. */
export function syntaxProblems(yaml: LocatedYaml): ConfigProblem[] {
  return yaml.syntaxErrors().map((e) => ({ path: [], message: `YAML syntax: ${e.message}`, location: e.location }));
}

/** Each problem with where its key or value stands in the file. */
export function locateProblems<P extends ConfigProblem>(yaml: LocatedYaml, problems: readonly P[]): Array<P & { location?: Location }> {
  return problems.map((p) => ({ ...p, location: yaml.locate(p.path, p.key) }));
}

/** `server.port`, `rules[0].when`, `(top level)`. */
export function formatKeyPath(path: ReadonlyArray<string | number>, key?: string): string {
  let out = '';
  for (const p of [...path, ...(key === undefined ? [] : [key])]) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

/** `file:line:column key.path: message (hint: ...)`; `context` (e.g. which rule) follows the place in brackets. */
export function formatProblem(source: string, p: ConfigProblem, context?: string): string {
  const where = p.location ? `${source}:${p.location.line}:${p.location.column}` : source;
  return `${where}${context ? ` (${context})` : ''} ${formatKeyPath(p.path, p.key)}: ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`;
}

/** A failed load's message: a headline with the count, then one indented line per problem. */
export function problemsReport(source: string, subject: string, lines: readonly string[]): string {
  return `${source}: ${lines.length} problem${lines.length === 1 ? '' : 's'} in the ${subject}:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
