import { evaluate, type MatchInput } from './condition-evaluator.js';
import type { ForwardAction, Rule, RuleSet } from './rule-types.js';

/** The outcome of matching one instance against a rule set. Plain data: the pipeline acts on it. */
export interface RoutingDecision {
  /** Every rule that matched, in file order. */
  matched: readonly Rule[];
  /** The forward actions to carry out (one per matched forwarding rule). */
  forwards: ReadonlyArray<{ rule: Rule; action: ForwardAction }>;
  /** The rule that ended evaluation (a match without continue), or null when evaluation ran off the end. */
  decidedBy: Rule | null;
  /** True when a drop rule ended evaluation. */
  dropped: boolean;
}

/**
 * First match wins: rules are tried in order and the first matching rule decides, unless it says
 * `continue: true`, in which case its action is kept and the following rules are tried too. A drop rule ends
 * evaluation; forward actions of earlier continuing rules still apply.
 */
export function route(ruleSet: RuleSet, input: MatchInput): RoutingDecision {
  const matched: Rule[] = [];
  const forwards: Array<{ rule: Rule; action: ForwardAction }> = [];
  for (const rule of ruleSet.rules) {
    if (rule.when !== null && !evaluate(rule.when, input)) continue;
    matched.push(rule);
    if (rule.action.kind === 'drop') return { matched, forwards, decidedBy: rule, dropped: true };
    forwards.push({ rule, action: rule.action });
    if (!rule.continue) return { matched, forwards, decidedBy: rule, dropped: false };
  }
  return { matched, forwards, decidedBy: null, dropped: false };
}
