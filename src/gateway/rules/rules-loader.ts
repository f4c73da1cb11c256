import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { AnofairError } from '../../errors/anofair-error.js';
import { closest, didYouMean } from './did-you-mean.js';
import type { Rule, RuleSet } from './rule-types.js';
import { compileRule, type RuleProblem } from './rules-compiler.js';
import { KNOWN_KEYS, RENAMED_KEYS, ruleFileSchema } from './rules-schema.js';
import { LocatedYaml, type Location } from './yaml-locations.js';

export interface LoadRulesOptions {
  /** For messages and the rule set's source, e.g. the file path. */
  source?: string;
  /** Configured destination names; a rule forwarding elsewhere fails the load. */
  knownDestinations?: readonly string[];
}

export interface LocatedProblem extends RuleProblem {
  location?: Location;
  /** The rule's position and name when the problem is inside a rule. */
  rule?: { index: number; name?: string };
}

function keysFor(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return KNOWN_KEYS.file;
  if (path.length === 2 && path[0] === 'rules') return KNOWN_KEYS.rule;
  const last = path[path.length - 1];
  if (last === 'forward') return KNOWN_KEYS.forward;
  if (last === 'deidentify') return KNOWN_KEYS.deidentify;
  if (last === 'range') return KNOWN_KEYS.range;
  if (last === 'dateRange') return KNOWN_KEYS.dateRange;
  return KNOWN_KEYS.condition;
}

function hintForKey(key: string, allowed: readonly string[]): string {
  const typo = didYouMean(key, allowed);
  if (typo) return typo;
  const habit = RENAMED_KEYS[key] !== undefined ? key : closest(key, Object.keys(RENAMED_KEYS));
  const target = habit === undefined ? undefined : RENAMED_KEYS[habit];
  if (target && allowed.includes(target.split(' ')[0]!)) return `use ${target}`;
  return `allowed here: ${allowed.join(', ')}`;
}

function toProblems(issues: readonly z.core.$ZodIssue[], prefix: Array<string | number> = []): RuleProblem[] {
  const problems: RuleProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const allowed = keysFor(path);
        problems.push({ path, key, message: `unknown key "${key}"`, hint: hintForKey(key, allowed) });
      }
    } else if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0) {
      // A union of shapes (e.g. `when` as one condition or a list). When no branch got past the value's
      // type, the union's own message says best what was expected; otherwise report the closest branch.
      const wrongType = issue.errors.every((branch) => branch.every((i) => i.path.length === 0 && i.code === 'invalid_type'));
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
      problems.push(...(wrongType ? [{ path, message: issue.message }] : toProblems(best, path)));
    } else if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
      const got = issue.input;
      const hint = typeof got === 'string' ? didYouMean(got, issue.values as string[]) : undefined;
      const message =
        issue.message.startsWith('Invalid option') || issue.message.startsWith('Invalid input')
          ? `"${String(got)}" is not one of: ${issue.values.join(', ')}`
          : issue.message;
      problems.push({ path, message, hint });
    } else if (issue.code === 'invalid_type' && issue.input === undefined && path.length > 0) {
      const key = String(path[path.length - 1]);
      problems.push({ path: path.slice(0, -1), key, message: `the required key "${key}" is missing` });
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

export function formatProblem(source: string, p: LocatedProblem): string {
  const where = p.location ? `${source}:${p.location.line}:${p.location.column}` : source;
  const rule = p.rule ? ` (rule ${p.rule.index + 1}${p.rule.name ? ` "${p.rule.name}"` : ''})` : '';
  return `${where}${rule} ${formatPath(p.path, p.key)}: ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`;
}

function fail(source: string, problems: LocatedProblem[]): never {
  const lines = problems.map((p) => `  ${formatProblem(source, p)}`);
  throw new AnofairError(
    'RULES_INVALID',
    `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the routing rules:\n${lines.join('\n')}`,
    { problems: problems.map((p) => ({ ...p, text: formatProblem(source, p) })) },
  );
}

/**
 * Parse, validate and compile a routing rule file. Nothing unknown is skipped: an unknown key, attribute,
 * operator, option or destination fails the load with every problem, each with its line and a hint
 * (STYLE: recipes are checked when they load). Returns a frozen RuleSet.
 */
export function loadRules(text: string, options: LoadRulesOptions = {}): RuleSet {
  const source = options.source ?? 'rules';
  const yaml = new LocatedYaml(text);
  const syntax = yaml.syntaxErrors();
  if (syntax.length > 0) {
    fail(source, syntax.map((e) => ({ path: [], message: `YAML syntax: ${e.message}`, location: e.location })));
  }
  const data = yaml.doc.toJS() as unknown;
  if (data === null || data === undefined) fail(source, [{ path: [], message: 'the rules file is empty', hint: 'start with "version: 1" and a list under "rules:"' }]);
  const ruleNames = (): Array<string | undefined> => {
    const rules = (data as { rules?: unknown } | null)?.rules;
    return Array.isArray(rules) ? rules.map((r) => (r && typeof r === 'object' ? (r as { name?: unknown }).name : undefined)).map((n) => (typeof n === 'string' ? n : undefined)) : [];
  };
  const locate = (problems: RuleProblem[]): LocatedProblem[] => {
    const names = ruleNames();
    return problems.map((p) => ({
      ...p,
      location: yaml.locate(p.path, p.key),
      rule: p.path[0] === 'rules' && typeof p.path[1] === 'number' ? { index: p.path[1], name: names[p.path[1]] } : undefined,
    }));
  };

  const parsed = ruleFileSchema.safeParse(data ?? {}, { reportInput: true });
  if (!parsed.success) fail(source, locate(toProblems(parsed.error.issues)));

  const problems: RuleProblem[] = [];
  const seen = new Map<string, number>();
  parsed.data.rules.forEach((r, i) => {
    const first = seen.get(r.name);
    if (first !== undefined) {
      problems.push({ path: ['rules', i, 'name'], message: `the name "${r.name}" is already used by rule ${first + 1}`, hint: 'rule names are unique' });
    } else seen.set(r.name, i);
  });
  const ctx = { knownDestinations: options.knownDestinations, problems };
  const rules: Rule[] = [];
  parsed.data.rules.forEach((raw, i) => {
    const rule = compileRule(raw, i, ctx, yaml.locate(['rules', i])?.line);
    if (rule) rules.push(rule);
  });
  const catchAll = rules.find((r) => r.when === null && !r.continue);
  if (catchAll && catchAll.index < parsed.data.rules.length - 1) {
    problems.push({
      path: ['rules', catchAll.index + 1],
      message: `this rule can never match: rule ${catchAll.index + 1} "${catchAll.name}" matches every instance and does not continue`,
      hint: 'move the catch-all rule to the end, or give it a when: condition',
    });
  }
  if (problems.length > 0) fail(source, locate(problems));

  return Object.freeze({
    rules: Object.freeze(rules),
    source,
    hash: createHash('sha256').update(text).digest('hex'),
  });
}

export async function loadRulesFile(path: string, options: Omit<LoadRulesOptions, 'source'> = {}): Promise<RuleSet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AnofairError('RULES_INVALID', `cannot read the routing rules file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return loadRules(text, { ...options, source: path });
}
