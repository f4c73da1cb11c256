import type { AnonymizationReport } from './anonymization-eval.js';

/** A self-contained HTML page of an evaluation: the numbers as tables and bars, and before/after examples. */

export interface ReportExample {
  title: string;
  /** PNG data URIs */
  original: string;
  anonymized: string;
  caption: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (v: number, d = 3): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** A horizontal bar for a value in 0..1 with a mark at 0.5 (chance for an AUC). */
function bar(v: number, colour: string): string {
  const w = Number.isFinite(v) ? Math.max(0, Math.min(1, v)) * 100 : 0;
  return `<div class="bar"><div style="width:${w.toFixed(1)}%;background:${colour}"></div><span class="mid"></span></div>`;
}

export function renderEvalReport(r: AnonymizationReport, meta: Record<string, string>, examples: ReportExample[]): string {
  const rows = (cells: string[][]): string => cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('');
  const pair = (label: string, o: number, a: number, note: string): string[] => [label, `${f(o)} ${bar(o, '#7aa2f7')}`, `${f(a)} ${bar(a, '#9ece6a')}`, note];
  const a = r.attributes;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AnoFAIR anonymization evaluation</title>
<style>
body{font-family:"DejaVu Sans",sans-serif;background:#16181c;color:#ddd;margin:24px;max-width:1100px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px;border-bottom:1px solid #333}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #333;padding:4px 8px;font-size:13px;vertical-align:middle}
th{background:#22252b;text-align:left} .bar{display:inline-block;position:relative;width:140px;height:10px;background:#2a2d33;margin-left:6px}
.bar div{height:10px} .bar .mid{position:absolute;left:50%;top:-2px;height:14px;border-left:1px dashed #888}
.meta td{border:none;padding:1px 8px;color:#aab} .ex{display:inline-block;margin:6px;text-align:center;font-size:12px;color:#aab}
.ex img{width:220px;height:220px;image-rendering:auto;margin:2px}
</style></head><body>
<h1>CXR-AnoFAIR anonymization: privacy, fairness and utility</h1>
<table class="meta">${rows(Object.entries(meta).map(([k, v]) => [esc(k), esc(v)]))}</table>
<p>${r.images} images of ${r.patients} patients; regenerated share of each image: mean ${f(r.regeneratedFraction.mean, 2)} (${f(r.regeneratedFraction.min, 2)} to ${f(r.regeneratedFraction.max, 2)}).</p>

<h2>Privacy: re-identification (lower is better; 0.5 = unlinkable)</h2>
<p>The Siamese network scores ${r.reidentification.pairs} pairs (${r.reidentification.samePatientPairs} of the same patient): another original image of the patient against the original, and against the anonymized image.</p>
<table><tr><th>metric</th><th>originals</th><th>anonymized</th><th></th></tr>
${rows([pair('ROC-AUC, same patient', r.reidentification.aucOriginals, r.reidentification.aucAnonymized, 'the attacker links the released image to the patient')])}</table>

<h2>Fairness: attributes of the anonymized images</h2>
<table><tr><th>metric</th><th>originals</th><th>anonymized</th><th></th></tr>
${rows([
  pair('share judged male', a.judgedMale.originals, a.judgedMale.anonymized, 'the generator should not skew it'),
  pair('share judged aged >= 60', a.judgedOld.originals, a.judgedOld.anonymized, ''),
  pair('AUC of sex against the truth', a.aucSex.originals, a.aucSex.anonymized, 'how recognisable sex stays'),
  pair('AUC of age group against the truth', a.aucAge.originals, a.aucAge.anonymized, ''),
])}</table>
<p>Judged sex changed by the anonymization on ${f(a.sexFlipped * 100, 0)}% of the images, judged age group on ${f(a.ageFlipped * 100, 0)}%.</p>

<h2>Utility: diagnostic classifier (higher is better)</h2>
<table><tr><th>finding</th><th>AUC originals</th><th>AUC anonymized</th><th>positives</th></tr>
${rows(r.diagnostic.map((d) => [esc(d.finding), `${f(d.aucOriginals)} ${bar(d.aucOriginals, '#7aa2f7')}`, `${f(d.aucAnonymized)} ${bar(d.aucAnonymized, '#9ece6a')}`, String(d.positives)]))}</table>

<h2>Examples (original, released)</h2>
${examples.map((e) => `<div class="ex"><div>${esc(e.title)}</div><img alt="original" src="${e.original}"><img alt="anonymized" src="${e.anonymized}"><div>${esc(e.caption)}</div></div>`).join('\n')}
</body></html>
`;
}
