import type { AnonymizationReport, TrainedAttackSummary } from './anonymization-eval.js';
import type { Interval } from './bootstrap.js';

/** A self-contained HTML page of an evaluation: targets, the numbers with their intervals, ROC curves as
 * inline SVG, and before/after examples with the kept regions outlined. Nothing is loaded from elsewhere. */

export interface ReportExample {
  title: string;
  /** PNG data URIs */
  original: string;
  anonymized: string;
  caption: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (v: number, d = 3): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const ci = (i: Interval, d = 3): string => `${f(i.estimate, d)} <span class="ci">[${f(i.lo, d)}, ${f(i.hi, d)}]</span>`;

const trainingNote = (t: TrainedAttackSummary): string => `${t.init ? `from the ${esc(t.init)}${t.startAucOnOriginals !== undefined ? ` (AUC ${f(t.startAucOnOriginals)} on originals before), ` : ', '}` : ''}${t.steps} steps, ${f(t.seconds, 0)} s, seed ${t.seed}, final loss ${f(t.finalLoss, 3)}`;

/** A horizontal bar for a value in 0..1 with a mark at 0.5 (chance for an AUC). */
function bar(v: number, colour: string): string {
  const w = Number.isFinite(v) ? Math.max(0, Math.min(1, v)) * 100 : 0;
  return `<div class="bar"><div style="width:${w.toFixed(1)}%;background:${colour}"></div><span class="mid"></span></div>`;
}

export interface RocSeries {
  label: string;
  colour: string;
  points: [number, number][];
}

/** ROC curves in one square plot, the chance diagonal dashed. */
export function rocSvg(series: RocSeries[], size = 320): string {
  const m = 36;
  const s = size - 2 * m;
  const x = (v: number): string => (m + v * s).toFixed(1);
  const y = (v: number): string => (m + (1 - v) * s).toFixed(1);
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((t) => `<line x1="${x(t)}" y1="${y(0)}" x2="${x(t)}" y2="${(m + s + 4).toFixed(1)}" stroke="#888"/><text x="${x(t)}" y="${(m + s + 16).toFixed(1)}" text-anchor="middle">${t}</text><line x1="${(m - 4).toFixed(1)}" y1="${y(t)}" x2="${x(0)}" y2="${y(t)}" stroke="#888"/><text x="${(m - 6).toFixed(1)}" y="${(Number(y(t)) + 4).toFixed(1)}" text-anchor="end">${t}</text>`)
    .join('');
  const lines = series
    .filter((c) => c.points.length > 1)
    .map((c) => `<polyline fill="none" stroke="${c.colour}" stroke-width="2" points="${c.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' ')}"/>`)
    .join('');
  // bottom right: ROC curves of any use stay above the diagonal, away from it
  const legend = series.map((c, k) => `<rect x="${m + 0.22 * s}" y="${m + s - 12 - (series.length - 1 - k) * 14}" width="12" height="3" fill="${c.colour}"/><text x="${m + 0.22 * s + 16}" y="${m + s - 7 - (series.length - 1 - k) * 14}">${esc(c.label)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size + 14}" viewBox="0 0 ${size} ${size + 14}" font-size="10" fill="#ddd">
<rect x="${m}" y="${m}" width="${s}" height="${s}" fill="#1d2025" stroke="#555"/>${ticks}
<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#777" stroke-dasharray="4 3"/>${lines}${legend}
<text x="${x(0.5)}" y="${size + 10}" text-anchor="middle">false positive rate</text>
<text transform="translate(10 ${y(0.5)}) rotate(-90)" text-anchor="middle">true positive rate</text></svg>`;
}

/** What this evaluation did not measure, so that no one reads its silence as a pass. */
export function notMeasured(r: AnonymizationReport): string[] {
  const out: string[] = [];
  if (!r.reidentification.retrained) out.push('a re-identification verifier retrained on released images (PriCheXy-Net protocol) and the kept-region-aware verifier: run without --no-trained-attacks');
  if (!r.attributes.readable) out.push('attribute judges retrained on released images');
  if (!r.realism) out.push('a real-versus-regenerated discriminator');
  if (!r.realism?.frechet) out.push('Fréchet distance on the diagnostic classifier\'s features (needs the classifier\'s PyTorch weights, diagnostic/pytorch/diagnostic.pt)');
  if (!r.hallucinations) out.push('hallucinated findings (needs the detector)');
  return out;
}

export function renderEvalReport(r: AnonymizationReport, meta: Record<string, string>, examples: ReportExample[]): string {
  const rows = (cells: string[][]): string => cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('');
  const pair = (label: string, o: number, a: number, note: string): string[] => [label, `${f(o)} ${bar(o, '#7aa2f7')}`, `${f(a)} ${bar(a, '#9ece6a')}`, note];
  const a = r.attributes;
  const k = r.keptRegionAttack;
  const h = r.hallucinations;
  const level = `${Math.round(r.bootstrap.level * 100)}%`;
  const missing = notMeasured(r);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AnoFAIR anonymization evaluation</title>
<style>
body{font-family:"DejaVu Sans",sans-serif;background:#16181c;color:#ddd;margin:24px;max-width:1100px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px;border-bottom:1px solid #333}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #333;padding:4px 8px;font-size:13px;vertical-align:middle}
th{background:#22252b;text-align:left} .bar{display:inline-block;position:relative;width:140px;height:10px;background:#2a2d33;margin-left:6px}
.bar div{height:10px} .bar .mid{position:absolute;left:50%;top:-2px;height:14px;border-left:1px dashed #888}
.meta td{border:none;padding:1px 8px;color:#aab} .ex{display:inline-block;margin:6px;text-align:center;font-size:12px;color:#aab}
.ex img{width:220px;height:220px;image-rendering:auto;margin:2px} .ci{color:#8a8fa0;font-size:12px}
.met{color:#9ece6a;font-weight:bold} .missed{color:#f7768e;font-weight:bold}
</style></head><body>
<h1>CXR-AnoFAIR anonymization: privacy, fairness and utility</h1>
<table class="meta">${rows(Object.entries(meta).map(([key, v]) => [esc(key), esc(v)]))}</table>
<p>${r.images} images of ${r.patients} patients. Share of each image released unchanged (kept): mean ${f(r.keptShare.mean, 3)}, median ${f(r.keptShare.median, 3)}, max ${f(r.keptShare.max, 3)}; ${r.keptShare.imagesKeepingNothing} images keep nothing${r.keptShare.keptPixelsChanged ? `; <b>${r.keptShare.keptPixelsChanged} pixels the record calls kept differ from the original</b>` : ''}.
Intervals: ${level} percentile bootstrap over patients, ${r.bootstrap.resamples} resamples, seed ${r.bootstrap.seed}.</p>

<h2>Targets</h2>
<table><tr><th>target</th><th>threshold</th><th>measured [${level} interval]</th><th></th></tr>
${rows(r.targets.map((t) => [esc(t.target), esc(t.threshold), ci(t.value), `<span class="${t.met ? 'met' : 'missed'}">${t.status}</span>${t.note ? ` <span class="ci">${esc(t.note)}</span>` : ''}`]))}</table>

<h2>Privacy: re-identification (lower is better; 0.5 = unlinkable)</h2>
<p>The Siamese network (trained on originals) scores ${r.reidentification.pairs} pairs (${r.reidentification.samePatientPairs} of the same patient): another original image of the patient against the original, and against the anonymized image.</p>
<table><tr><th>metric</th><th>originals</th><th>anonymized</th><th></th></tr>
${rows([pair('ROC-AUC, same patient', r.reidentification.aucOriginals.estimate, r.reidentification.aucAnonymized.estimate, 'the attacker links the released image to the patient')])}
${rows([[`${level} interval`, `[${f(r.reidentification.aucOriginals.lo)}, ${f(r.reidentification.aucOriginals.hi)}]`, `[${f(r.reidentification.aucAnonymized.lo)}, ${f(r.reidentification.aucAnonymized.hi)}]`, '']])}</table>

${
  r.reidentification.retrained && r.trainedOn
    ? `<h2>Privacy: attacks trained on released images (PriCheXy-Net protocol)</h2>
<p>Each network is trained on ${r.trainedOn.images} released images of ${r.trainedOn.patients} other patients (their originals beside them), seed ${r.trainedOn.seed}${r.trainedOn.pretrainedBackbone ? ', its backbone starting from the attribute judge\'s weights' : ''}, and scored on the held-out pairs above: image 1 released, image 2 another original of the patient.</p>
<table><tr><th>attack</th><th>ROC-AUC, released vs original [${level} interval]</th><th>the same network on pairs of originals</th><th>training</th></tr>
${rows([
  ['Siamese verifier trained on originals only', ci(r.reidentification.aucAnonymized), ci(r.reidentification.aucOriginals), 'as shipped'],
  ['Siamese verifier retrained on (released, original) pairs', ci(r.reidentification.retrained.auc), r.reidentification.retrained.aucOnOriginals ? ci(r.reidentification.retrained.aucOnOriginals) : 'n/a', trainingNote(r.reidentification.retrained)],
  ...(r.reidentification.keptRegionVerifier ? [['the same, on the kept pixels only (kept-region-aware)', ci(r.reidentification.keptRegionVerifier.auc), r.reidentification.keptRegionVerifier.aucOnOriginals ? ci(r.reidentification.keptRegionVerifier.aucOnOriginals) : 'n/a', trainingNote(r.reidentification.keptRegionVerifier)]] : []),
])}</table>
<p>The column on pairs of originals shows whether the attacker learned to verify at all: a low AUC on released images from a network that verifies originals well is the release's doing.</p>`
    : ''
}

<h2>Privacy: attack on the pixels released unchanged</h2>
<p>Assumption: ${esc(k.assumption)}. Each released image's kept pixels are compared with each of the ${k.gallery} other originals at the same place by normalised cross-correlation, over shifts up to ${k.maxShift} px and the rotations listed; the best-scoring original names the patient. No model is trained. ${k.linkable} images have another image of their patient in the gallery.</p>
<table><tr><th>feature</th><th>rotations (degrees)</th><th>rank-1 linkage</th><th>chance</th><th>rank-1 / chance</th><th>ROC-AUC, same patient</th><th>rank-1 among images keeping pixels</th><th>time</th></tr>
${rows(k.variants.map((v) => [esc(v.feature) + (v.feature === k.strongest.feature && v.rotations.join() === k.strongest.rotations.join() ? ' (strongest)' : ''), esc(v.rotations.join(', ')), ci(v.rank1), f(v.chance, 4), ci(v.ratioToChance, 1), ci(v.auc), f(v.rank1AmongKeeping), `${f(v.seconds, 0)} s`]))}</table>
<p>Without the mask: the grain of ${k.maskFromGrain.block}x${k.maskFromGrain.block} blocks (median |Laplacian|) tells the ${k.maskFromGrain.keptBlocks} kept blocks from the ${k.maskFromGrain.regeneratedBlocks} regenerated ones at ROC-AUC ${f(k.maskFromGrain.auc)} (0.5: the grain gives the mask away not at all).</p>
<p>Where the linkage comes from (strongest variant): rank-1 by the share of the image kept, and by the finding whose region was kept. Chance is ${f(k.strongest.chance, 4)}.</p>
<table><tr><th>kept share</th><th>images</th><th>median kept share</th><th>rank-1</th></tr>
${rows(k.strongest.byKeptShare.map((g) => [esc(g.group), String(g.images), f(g.medianKeptShare, 4), f(g.rank1)]))}</table>
${k.strongest.byKeptFinding.length ? `<table><tr><th>kept finding</th><th>images</th><th>median kept share</th><th>rank-1</th></tr>
${rows(k.strongest.byKeptFinding.map((g) => [esc(g.finding), String(g.images), f(g.medianKeptShare, 4), f(g.rank1)]))}</table>` : '<p>No image kept any region.</p>'}
${rocSvg([
  { label: `re-identification, originals (AUC ${f(r.reidentification.aucOriginals.estimate)})`, colour: '#7aa2f7', points: r.roc.reidOriginals },
  { label: `re-identification, anonymized (AUC ${f(r.reidentification.aucAnonymized.estimate)})`, colour: '#9ece6a', points: r.roc.reidAnonymized },
  { label: `kept-region attack (AUC ${f(k.strongest.auc.estimate)})`, colour: '#f7768e', points: r.roc.keptRegionAttack },
  ...(r.roc.reidRetrained && r.reidentification.retrained ? [{ label: `retrained verifier (AUC ${f(r.reidentification.retrained.auc.estimate)})`, colour: '#e0af68', points: r.roc.reidRetrained }] : []),
  ...(r.roc.keptRegionVerifier && r.reidentification.keptRegionVerifier ? [{ label: `kept-region verifier (AUC ${f(r.reidentification.keptRegionVerifier.auc.estimate)})`, colour: '#bb9af7', points: r.roc.keptRegionVerifier }] : []),
])}

<h2>Fairness: attributes of the anonymized images</h2>
<table><tr><th>metric</th><th>originals</th><th>anonymized</th><th></th></tr>
${rows([
  pair('share judged male', a.judgedMale.originals, a.judgedMale.anonymized, 'the generator should not skew it'),
  pair('share judged aged >= 60', a.judgedOld.originals, a.judgedOld.anonymized, ''),
  pair('AUC of sex against the truth', a.aucSex.originals, a.aucSex.anonymized, 'how recognisable sex stays'),
  pair('AUC of age group against the truth', a.aucAge.originals, a.aucAge.anonymized, ''),
])}</table>
<p>Judged sex changed by the anonymization on ${f(a.sexFlipped * 100, 0)}% of the images, judged age group on ${f(a.ageFlipped * 100, 0)}%.</p>

${
  a.readable
    ? `<p>Readable on the released images, ROC-AUC with the true labels [${level} interval]: sex ${ci(a.readable.sex.originalsJudge)} by the judge trained on originals, ${ci(a.readable.sex.retrainedJudge)} by one retrained on released images; age group ${ci(a.readable.age.originalsJudge)} and ${ci(a.readable.age.retrainedJudge)}. A retrained judge far above the originals-only one means the attribute is still there, and the originals-only judge is misled by what regeneration looks like.</p>`
    : ''
}

<h2>Utility: diagnostic classifier (higher is better)</h2>
<table><tr><th>finding</th><th>positives</th><th>AUC originals</th><th>AUC anonymized</th><th>AUC drop</th><th>output correlation (Pearson)</th></tr>
${rows(r.diagnostic.map((d) => [esc(d.finding), String(d.positives), ci(d.aucOriginals), ci(d.aucAnonymized), ci(d.aucDrop), ci(d.correlation)]))}</table>
${
  h
    ? `<h2>Utility: hallucinated findings</h2>
<p>Rule: ${esc(h.rule)} (${h.confidence}). ${h.imagesWith} of ${r.images} released images have one: ${ci(h.share)}; ${h.findings} findings in all${Object.keys(h.byFinding).length ? ` (${esc(Object.entries(h.byFinding).map(([name, c]) => `${name} ${c}`).join(', '))})` : ''}. The same rule on the originals (the detector's own false positives in those regions): ${h.originals.imagesWith} images, ${ci(h.originals.share)}. Not reported at the same place on the original, so added by the regeneration: ${h.added.findings} findings on ${h.added.imagesWith} images, ${ci(h.added.share)}.</p>
${h.atKeepConfidence ? `<p>From the score at which the pixel step itself keeps a finding (${esc(h.atKeepConfidence.confidence)}), where the detector seldom errs on originals: ${h.atKeepConfidence.imagesWith} released images have a hallucinated finding, ${ci(h.atKeepConfidence.share)}; the same rule on the originals ${h.atKeepConfidence.originals.imagesWith}, ${ci(h.atKeepConfidence.originals.share)}; added by the regeneration ${h.atKeepConfidence.added.imagesWith}, ${ci(h.atKeepConfidence.added.share)}. The target is judged at the reporting threshold above.</p>` : ''}
${h.list.length ? `<table><tr><th>image</th><th>finding</th><th>score</th><th>box</th></tr>${rows(h.list.slice(0, 30).map((x) => [esc(x.image), esc(x.finding), f(x.score, 2), esc(x.box.join(', '))]))}</table>${h.list.length > 30 ? `<p>and ${h.list.length - 30} more in report.json.</p>` : ''}` : ''}`
    : ''
}

${
  r.realism
    ? `<h2>Realism (0.5 = indistinguishable)</h2>
<p>A discriminator trained to tell originals from released images on the attack split, scored on the held-out images; beside it, the same discriminator against the inpainting model's own VAE round trip of the originals (what the latent space alone costs, the floor).</p>
<table><tr><th>measure</th><th>released images</th><th>VAE round trip (floor)</th></tr>
${rows([
  ['discriminator ROC-AUC', ci(r.realism.discriminator.auc), r.realism.vaeRoundTrip ? ci(r.realism.vaeRoundTrip.auc) : 'n/a'],
  ...(r.realism.frechet ? [[`Fréchet distance, diagnostic classifier features (${r.realism.frechet.features}-d; 0 = same distribution)`, ci(r.realism.frechet.released, 4), r.realism.frechet.vaeRoundTrip ? ci(r.realism.frechet.vaeRoundTrip, 4) : 'n/a']] : []),
])}</table>
${rocSvg([
  { label: `released (AUC ${f(r.realism.discriminator.auc.estimate)})`, colour: '#f7768e', points: r.roc.realism ?? [] },
  ...(r.realism.vaeRoundTrip ? [{ label: `VAE round trip (AUC ${f(r.realism.vaeRoundTrip.auc.estimate)})`, colour: '#7aa2f7', points: r.roc.realismFloor ?? [] }] : []),
])}`
    : ''
}

${missing.length ? `<h2>Not measured in this run</h2>\n<ul>${missing.map((m) => `<li>${esc(m)}</li>`).join('')}</ul>` : ''}

<h2>Examples (original, released; kept regions outlined in green, burned-in text found in red (always regenerated))</h2>
${examples.map((e) => `<div class="ex"><div>${esc(e.title)}</div><img alt="original" src="${e.original}"><img alt="anonymized" src="${e.anonymized}"><div>${esc(e.caption)}</div></div>`).join('\n')}
</body></html>
`;
}
