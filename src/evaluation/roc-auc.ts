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
