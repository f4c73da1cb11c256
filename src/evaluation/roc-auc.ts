/** ROC-AUC as the Mann-Whitney U statistic with average ranks for ties (the Python builder's metrics.roc_auc);
 * NaN when one class is absent. */
export function rocAuc(labels: readonly boolean[], scores: readonly number[]): number {
  const n = labels.length;
  const pos = labels.filter(Boolean).length;
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  const order = [...scores.keys()].sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = rank;
    i = j + 1;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) if (labels[i]) sum += ranks[i]!;
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** The ROC curve as (false positive rate, true positive rate) points from (0, 0) to (1, 1), one per distinct
 * score, thinned to at most `points` (evenly by rank) for drawing. */
export function rocCurve(labels: readonly boolean[], scores: ArrayLike<number>, points = 200): [number, number][] {
  const pos = labels.filter(Boolean).length;
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return [];
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const curve: [number, number][] = [[0, 0]];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    if (labels[order[k]!]) tp++;
    else fp++;
    if (k + 1 === order.length || scores[order[k + 1]!] !== scores[order[k]!]) curve.push([fp / neg, tp / pos]);
  }
  if (curve.length <= points) return curve;
  const thinned: [number, number][] = [];
  for (let i = 0; i < points; i++) thinned.push(curve[Math.round((i * (curve.length - 1)) / (points - 1))]!);
  return thinned;
}
