import { seededRandom } from './seeded-random.js';

/**
 * Percentile bootstrap over patients. A patient's images (and the pairs made of them) are not independent, so
 * the resampling unit is the patient: each resample draws as many patients as there are, with replacement, and a
 * statistic sees how many times each patient was drawn (its weight). An image counts with its patient's weight,
 * a same-patient pair with its patient's weight, a pair of two patients with the product of theirs.
 */

export interface Interval {
  estimate: number;
  /** bounds of the central interval at the plan's level; NaN when too few resamples gave a value */
  lo: number;
  hi: number;
}

export interface BootstrapPlan {
  patients: number;
  resamples: number;
  seed: number;
  level: number;
  /** weights[r][p]: how many times patient p was drawn in resample r */
  weights: Uint32Array[];
}

export function bootstrapPlan(patients: number, resamples: number, seed: number, level = 0.95): BootstrapPlan {
  const random = seededRandom(seed);
  const weights: Uint32Array[] = [];
  for (let r = 0; r < resamples; r++) {
    const w = new Uint32Array(patients);
    for (let k = 0; k < patients; k++) w[Math.floor(random() * patients)]!++;
    weights.push(w);
  }
  return { patients, resamples, seed, level, weights };
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const x = p * (sorted.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  return i + 1 < sorted.length ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

/** The statistic on the data as they are, and its percentile interval over the plan's resamples. */
export function bootstrapInterval(plan: BootstrapPlan, statistic: (patientWeights: ArrayLike<number>) => number): Interval {
  const estimate = statistic(new Uint32Array(plan.patients).fill(1));
  const values: number[] = [];
  for (const w of plan.weights) {
    const v = statistic(w);
    if (Number.isFinite(v)) values.push(v);
  }
  values.sort((a, b) => a - b);
  // a resample without both classes has no AUC: an interval from fewer than half the resamples says little
  if (values.length < plan.resamples / 2) return { estimate, lo: Number.NaN, hi: Number.NaN };
  const tail = (1 - plan.level) / 2;
  return { estimate, lo: quantile(values, tail), hi: quantile(values, 1 - tail) };
}

/**
 * ROC-AUC (Mann-Whitney, ties as halves) of weighted items; the scores are sorted once, so each resample costs
 * one pass. With unit weights it equals rocAuc().
 */
export class WeightedAuc {
  private readonly order: Uint32Array;
  /** index into order where each run of tied scores starts, and a sentinel */
  private readonly groups: Uint32Array;

  constructor(
    private readonly labels: ArrayLike<boolean>,
    scores: ArrayLike<number>,
  ) {
    const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
    this.order = Uint32Array.from(idx);
    const groups: number[] = [];
    for (let i = 0; i < idx.length; i++) if (i === 0 || scores[idx[i]!] !== scores[idx[i - 1]!]) groups.push(i);
    groups.push(idx.length);
    this.groups = Uint32Array.from(groups);
  }

  /** weight(i) of item i; NaN when either class has no weight */
  auc(weight: (i: number) => number): number {
    let below = 0;
    let positives = 0;
    let sum = 0;
    for (let g = 0; g + 1 < this.groups.length; g++) {
      let wp = 0;
      let wn = 0;
      for (let k = this.groups[g]!; k < this.groups[g + 1]!; k++) {
        const i = this.order[k]!;
        const w = weight(i);
        if (this.labels[i]) wp += w;
        else wn += w;
      }
      sum += wp * (below + wn / 2);
      below += wn;
      positives += wp;
    }
    return positives > 0 && below > 0 ? sum / (positives * below) : Number.NaN;
  }
}

export function weightedMean(values: ArrayLike<number>, weight: (i: number) => number): number {
  let s = 0;
  let w = 0;
  for (let i = 0; i < values.length; i++) {
    const wi = weight(i);
    s += wi * values[i]!;
    w += wi;
  }
  return w > 0 ? s / w : Number.NaN;
}

/** Pearson correlation of weighted pairs; NaN when either side is constant. */
export function weightedPearson(a: ArrayLike<number>, b: ArrayLike<number>, weight: (i: number) => number): number {
  let w = 0;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    const wi = weight(i);
    w += wi;
    ma += wi * a[i]!;
    mb += wi * b[i]!;
  }
  if (w <= 0) return Number.NaN;
  ma /= w;
  mb /= w;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const wi = weight(i);
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += wi * da * db;
    saa += wi * da * da;
    sbb += wi * db * db;
  }
  return saa > 1e-15 && sbb > 1e-15 ? sab / Math.sqrt(saa * sbb) : Number.NaN;
}
