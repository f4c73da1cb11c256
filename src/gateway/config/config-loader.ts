import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { AnofairError } from '../../errors/anofair-error.js';
import { closest, didYouMean } from '../rules/did-you-mean.js';
import { LocatedYaml, type Location } from '../rules/yaml-locations.js';
import { EMBEDDED_DEFAULTS } from './default-config.js';
import { gatewayConfigSchema, RENAMED_KEYS, type GatewayConfig } from './config-schema.js';

/** Values from command-line flags; they replace the file's values before validation. */
export interface ConfigOverrides {
  port?: number;
  host?: string;
  upstream?: string;
  /** URL of the destination named `research`. */
  archive?: string;
  data?: string;
  rules?: string;
}

export interface LoadedConfig {
  config: Readonly<GatewayConfig>;
  /** The file it came from, or 'embedded defaults'. */
  source: string;
}

interface Problem {
  path: Array<string | number>;
  key?: string;
  message: string;
  hint?: string;
  location?: Location;
}

type Shape = { shape: Record<string, z.ZodType> };

/** The keys allowed in the object at `path`, read from the schema itself (so hints never name a stale key). */
function allowedKeys(path: ReadonlyArray<string | number>): string[] {
  let schema: unknown = gatewayConfigSchema;
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

function hintForKey(key: string, path: ReadonlyArray<string | number>): string | undefined {
  const allowed = allowedKeys(path);
  if (path.length === 0 && RENAMED_KEYS[key] !== undefined) return `use ${RENAMED_KEYS[key]}`;
  const typo = didYouMean(key, allowed);
  if (typo) return typo;
  const habit = RENAMED_KEYS[key] !== undefined ? key : closest(key, Object.keys(RENAMED_KEYS));
  if (habit !== undefined && path.length === 0) return `use ${RENAMED_KEYS[habit]}`;
  return allowed.length > 0 ? `allowed here: ${allowed.join(', ')}` : undefined;
}

function toProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ path, key, message: `unknown key "${key}"`, hint: hintForKey(key, path) });
    } else if (issue.code === 'invalid_type' && issue.input === undefined && path.length > 0) {
      const key = String(path[path.length - 1]);
      problems.push({ path: path.slice(0, -1), key, message: `the required key "${key}" is missing` });
    } else if (issue.code === 'invalid_key') {
      const inner = issue.issues[0]?.message;
      problems.push({ path, message: `the name "${String(path[path.length - 1])}" is not allowed${inner ? `: ${inner}` : ''}` });
    } else if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
      const got = issue.input;
      problems.push({
        path,
        message: `"${String(got)}" is not one of: ${issue.values.join(', ')}`,
        hint: typeof got === 'string' ? didYouMean(got, issue.values as string[]) : undefined,
      });
    } else {
      problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

function formatPath(path: ReadonlyArray<string | number>, key?: string): string {
  let out = '';
  for (const p of [...path, ...(key === undefined ? [] : [key])]) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

export function formatProblem(source: string, p: Problem): string {
  const where = p.location ? `${source}:${p.location.line}:${p.location.column}` : source;
  return `${where} ${formatPath(p.path, p.key)}: ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`;
}

function fail(source: string, problems: Problem[]): never {
  const lines = problems.map((p) => `  ${formatProblem(source, p)}`);
  throw new AnofairError(
    'CONFIG_INVALID',
    `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration:\n${lines.join('\n')}`,
    { problems: problems.map((p) => formatProblem(source, p)) },
  );
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flags replace file values; `--archive` sets destinations.research.url and keeps its other keys. */
function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (name: string): Record<string, unknown> => {
    const current = out[name];
    const copy = isPlainObject(current) ? { ...current } : {};
    out[name] = copy;
    return copy;
  };
  if (o.port !== undefined) section('server').port = o.port;
  if (o.host !== undefined) section('server').host = o.host;
  if (o.upstream !== undefined) section('upstream').url = o.upstream;
  if (o.archive !== undefined) {
    const destinations = section('destinations');
    const research = isPlainObject(destinations.research) ? destinations.research : {};
    destinations.research = { ...research, url: o.archive };
  }
  if (o.data !== undefined) out.data = resolve(o.data);
  if (o.rules !== undefined) out.rules = resolve(o.rules);
  return out;
}

/** Paths written in a file are relative to the file's folder, as a reader of the file expects. */
function resolvePaths(config: GatewayConfig, base: string): GatewayConfig {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    data: abs(config.data)!,
    rules: abs(config.rules),
    deidentification: {
      ...config.deidentification,
      keyFile: abs(config.deidentification.keyFile),
      subjectLookup: abs(config.deidentification.subjectLookup),
    },
  };
}

/**
 * Validate configuration text (YAML). Every problem is reported at once, each with its key path, line and a hint;
 * the result is deeply frozen. `baseDir` anchors relative paths (the file's folder).
 */
export function parseConfig(text: string, options: { source?: string; baseDir?: string; overrides?: ConfigOverrides } = {}): Readonly<GatewayConfig> {
  const source = options.source ?? 'configuration';
  const yaml = new LocatedYaml(text);
  const syntax = yaml.syntaxErrors();
  if (syntax.length > 0) fail(source, syntax.map((e) => ({ path: [], message: `YAML syntax: ${e.message}`, location: e.location })));
  const data = yaml.doc.toJS() as unknown;
  if (data !== null && data !== undefined && !isPlainObject(data)) {
    fail(source, [{ path: [], message: 'the configuration must be a mapping of keys (server:, upstream:, ...)' }]);
  }
  const raw = applyOverrides((data as Record<string, unknown> | null) ?? {}, options.overrides ?? {});
  const parsed = gatewayConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const problems = toProblems(parsed.error.issues).map((p) => ({ ...p, location: yaml.locate(p.path, p.key) }));
    fail(source, problems);
  }
  return deepFreeze(resolvePaths(parsed.data, options.baseDir ?? process.cwd()));
}

/** Load the configuration file, or the embedded defaults when there is none; flags override either. */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): Promise<LoadedConfig> {
  if (file === undefined) {
    return { config: parseConfig(EMBEDDED_DEFAULTS, { source: 'embedded defaults', overrides }), source: 'embedded defaults' };
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `cannot read the configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { config: parseConfig(text, { source: file, baseDir: dirname(resolve(file)), overrides }), source: file };
}
