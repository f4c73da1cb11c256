import type { Interval } from './bootstrap.js';

/**
 * What the released images must achieve. Met or missed is decided on the point estimate; the interval is shown
 * beside it, so a target met by a hair on a small split reads as such.
 */

export const TARGETS = {
  /** rank-1 linkage of the kept-region attack, as a multiple of chance */
  keptRegionRank1OverChance: 2,
  /** per finding, diagnostic AUC on originals less on anonymized images */
  diagnosticAucDrop: 0.03,
  /** per finding, Pearson correlation of the diagnostic outputs on original and anonymized image */
  diagnosticCorrelation: 0.9,
  /** share of released images with a hallucinated finding */
  hallucinatedShare: 0.02,
  /** the PriCheXy-Net verifier retrained on released images, held-out ROC-AUC, and the upper end of its interval */
  retrainedReidAuc: 0.6,
  retrainedReidAucUpper: 0.65,
  /** real-versus-regenerated discriminator, held-out ROC-AUC */
  realismAuc: 0.75,
  /** a privacy target met by an attacker that cannot verify originals either proves nothing: its AUC there */
  attackerCompetence: 0.8,
} as const;

export interface TargetResult {
  target: string;
  /** "<= 2" or ">= 0.9" */
  threshold: string;
  value: Interval;
  /** false too when the value could not be measured (a finding absent from the split): not measured is not met */
  met: boolean;
  status: 'met' | 'missed' | 'not measurable' | 'inconclusive';
  /** why a target is inconclusive */
  note?: string;
}

/** A privacy target is inconclusive, not met, when the attacker failed to learn to verify even originals. */
export function unlessIncompetent(t: TargetResult, competence: number, limit: number = TARGETS.attackerCompetence): TargetResult {
  if (!(competence < limit) || t.status !== 'met') return t;
  return { ...t, met: false, status: 'inconclusive', note: `the attacker reaches only ${competence.toFixed(3)} on pairs of originals (< ${limit}): too weak for a pass to mean anything` };
}

function result(target: string, threshold: string, value: Interval, met: boolean): TargetResult {
  return { target, threshold, value, met, status: Number.isFinite(value.estimate) ? (met ? 'met' : 'missed') : 'not measurable' };
}

export function atMost(target: string, value: Interval, limit: number): TargetResult {
  return result(target, `<= ${limit}`, value, value.estimate <= limit);
}

export function atLeast(target: string, value: Interval, limit: number): TargetResult {
  return result(target, `>= ${limit}`, value, value.estimate >= limit);
}
