import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AnofairError } from '../../errors/anofair-error.js';
import {
  formatProblem,
  locateProblems,
  problemsFromIssues,
  problemsReport,
  syntaxProblems,
  type KeyVocabulary,
} from '../config/config-problems.js';
import { LocatedYaml, type Location } from '../config/yaml-locations.js';
import type { Rule, RuleSet } from './rule-types.js';
import { compileRule, type RuleProblem } from './rules-compiler.js';
import { KNOWN_KEYS, RENAMED_KEYS, ruleFileSchema } from './rules-schema.js';

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

const vocabulary: KeyVocabulary = {
  allowedKeys: keysFor,
  renamedKeys: RENAMED_KEYS,
  // A habit is named only where its schema name belongs (`in` -> oneOf inside a condition, not in a rule).
  renameFits: (target, _path, allowed) => allowed.includes(target.split(' ')[0]!),
};

/** `file:line:column (rule 2 "name") key.path: message (hint: ...)`. */
function formatRuleProblem(source: string, p: LocatedProblem): string {
  return formatProblem(source, p, p.rule ? `rule ${p.rule.index + 1}${p.rule.name ? ` "${p.rule.name}"` : ''}` : undefined);
}

function fail(source: string, problems: LocatedProblem[]): never {
  throw new AnofairError(
    'RULES_INVALID',
    problemsReport(source, 'routing rules', problems.map((p) => formatRuleProblem(source, p))),
    { problems: problems.map((p) => ({ ...p, text: formatRuleProblem(source, p) })) },
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
  const syntax = syntaxProblems(yaml);
  if (syntax.length > 0) fail(source, syntax);
  const data = yaml.doc.toJS() as unknown;
  if (data === null || data === undefined) fail(source, [{ path: [], message: 'the rules file is empty', hint: 'start with "version: 1" and a list under "rules:"' }]);
  const ruleNames = (): Array<string | undefined> => {
    const rules = (data as { rules?: unknown } | null)?.rules;
    return Array.isArray(rules) ? rules.map((r) => (r && typeof r === 'object' ? (r as { name?: unknown }).name : undefined)).map((n) => (typeof n === 'string' ? n : undefined)) : [];
  };
  const locate = (problems: RuleProblem[]): LocatedProblem[] => {
    const names = ruleNames();
    return locateProblems(yaml, problems).map((p) => ({
      ...p,
      rule: p.path[0] === 'rules' && typeof p.path[1] === 'number' ? { index: p.path[1], name: names[p.path[1]] } : undefined,
    }));
  };

  const parsed = ruleFileSchema.safeParse(data ?? {}, { reportInput: true });
  if (!parsed.success) fail(source, locate(problemsFromIssues(parsed.error.issues, vocabulary)));

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
