import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createHash } from 'node:crypto';
import { readGreyPixels, toDisplay } from '../anonymizer/pixel/grey-pixels.js';
import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import { DEMO_MODELS } from '../anonymizer/pixel/pixel-cleaner.js';
import { describePixelModels } from '../anonymizer/pixel/pixel-models-notice.js';
import { YoloDetector } from '../anonymizer/pixel/yolo-detector.js';
import { readPart10 } from '../dicom/part10.js';
import { defaultThreads, ReleasePool, releaseWorkerData } from '../workers/release-pool.js';
import { AnofairError } from '../errors/anofair-error.js';
import { DEFAULT_BOOTSTRAP, DEFAULT_PAIR_SEED, evaluateAnonymization, type AnonymizationReport, type EvalImage, type FindingDetector } from '../evaluation/anonymization-eval.js';
import type { Interval } from '../evaluation/bootstrap.js';
import { NOT_MEASURED, renderEvalReport, type ReportExample } from '../evaluation/eval-report-html.js';
import { EvaluationModels } from '../evaluation/evaluation-models.js';
import { outlinedPng } from '../evaluation/example-images.js';
import { keptMaskOf } from '../evaluation/kept-region-attack.js';
import { parseLabels } from '../phantoms/labels.js';
import { createProgress } from './progress.js';

interface EvalFlags {
  data: string;
  split: string;
  models?: string;
  evalModels?: string;
  limit?: number;
  steps: number;
  out: string;
  workers?: number;
  resamples: number;
  bootstrapSeed: number;
}

/** The key whose derived noise the evaluation's releases draw: fixed, so that a rerun releases the same images. */
const EVAL_KEY_LABEL = 'anofair-eval-key';

/** ultralytics' default confidence, for a detector manifest that suggests none */
const FALLBACK_CONFIDENCE = 0.25;

/** The pixel step's own detector, reporting findings (not text) at its manifest's suggested confidence. */
async function findingDetector(models: string): Promise<{ detector: FindingDetector; release: () => Promise<void> }> {
  const folder = join(models, 'detector');
  const manifestPath = join(folder, 'manifest.json');
  const manifest = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { postprocess?: { conf_suggested?: unknown } }) : {};
  const suggested = manifest.postprocess?.conf_suggested;
  const confidence = typeof suggested === 'number' && suggested > 0 && suggested < 1 ? suggested : FALLBACK_CONFIDENCE;
  const yolo = await YoloDetector.load(folder);
  const text = new Set(yolo.textClasses);
  return {
    detector: {
      confidence,
      detect: async (img: GreyImage) => (await yolo.detect(img, { confidence })).filter((d) => !text.has(d.className)).map((d) => ({ finding: d.className, score: d.score, box: d.box })),
    },
    release: () => yolo.release(),
  };
}

function wholeNumber(min: number, max: number): (text: string) => number {
  return (text) => {
    if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return Number(text);
  };
}

const show = (i: Interval, d = 3): string => `${Number.isFinite(i.estimate) ? i.estimate.toFixed(d) : 'n/a'} [${Number.isFinite(i.lo) ? i.lo.toFixed(d) : 'n/a'}, ${Number.isFinite(i.hi) ? i.hi.toFixed(d) : 'n/a'}]`;

function summary(r: AnonymizationReport): string[] {
  const k = r.keptRegionAttack.strongest;
  const h = r.hallucinations;
  return [
    `  kept share of each image: mean ${r.keptShare.mean}, median ${r.keptShare.median}, max ${r.keptShare.max}; ${r.keptShare.imagesKeepingNothing} images keep nothing${r.keptShare.keptPixelsChanged ? `; ${r.keptShare.keptPixelsChanged} pixels called kept differ from the original` : ''}`,
    `  re-identification AUC: originals ${show(r.reidentification.aucOriginals)}, anonymized ${show(r.reidentification.aucAnonymized)} (0.5 = unlinkable)`,
    `  kept-region attack (${k.feature}): rank-1 ${show(k.rank1)}, chance ${k.chance}, ${show(k.ratioToChance, 1)} x chance, AUC ${show(k.auc)}`,
    `  judged male: originals ${r.attributes.judgedMale.originals}, anonymized ${r.attributes.judgedMale.anonymized}; aged >= 60: ${r.attributes.judgedOld.originals}, ${r.attributes.judgedOld.anonymized}`,
    `  diagnostic AUC (originals -> anonymized): ${r.diagnostic.map((d) => `${d.finding} ${d.aucOriginals.estimate} -> ${d.aucAnonymized.estimate}`).join(', ')}`,
    `  diagnostic output correlation: ${r.diagnostic.map((d) => `${d.finding} ${d.correlation.estimate}`).join(', ')}`,
    ...(h ? [`  hallucinated findings (confidence ${h.confidence}): ${h.imagesWith} of ${r.images} images, share ${show(h.share)}; on the originals, same rule: ${h.originals.imagesWith}; not on the original at the same place (added by the regeneration): ${h.added.imagesWith} images, ${show(h.added.share)}`] : []),
    `  targets (${r.targets.filter((t) => t.met).length} of ${r.targets.length} met; 95% intervals over patients):`,
    ...r.targets.map((t) => `    ${t.status === 'met' ? 'met   ' : t.status === 'missed' ? 'MISSED' : 'N/A   '} ${t.target}: ${show(t.value)} (target ${t.threshold})`),
    `  not measured: ${NOT_MEASURED.join('; ')}`,
  ];
}

export async function runEval(flags: EvalFlags): Promise<number> {
  const data = resolve(flags.data);
  if (!existsSync(join(data, 'labels.jsonl'))) throw new AnofairError('IO', `no labels.jsonl in ${data}: evaluate on a phantom folder (anofair phantoms --out DIR)`);
  const labels = parseLabels(readFileSync(join(data, 'labels.jsonl'), 'utf8')).filter((l) => l.split === flags.split);
  if (labels.length === 0) throw new AnofairError('IO', `no images of split "${flags.split}" in ${data}`);
  const chosen = flags.limit ? labels.slice(0, flags.limit) : labels;
  const models = resolve(flags.models ?? DEMO_MODELS);
  const judges = resolve(flags.evalModels ?? models);
  // the images are released exactly as the gateway releases them (pixels, then the header profile), under a
  // fixed evaluation key so that a rerun draws the same noise
  const pool = await ReleasePool.start({
    threads: flags.workers ?? defaultThreads(),
    data: releaseWorkerData({ key: { id: 'eval', secret: createHash('sha256').update(EVAL_KEY_LABEL).digest() } }, { models, steps: flags.steps }),
  });
  process.stderr.write(`${describePixelModels(pool.pixelModels!)}\n`);
  const evaluation = await EvaluationModels.load(judges);
  const images: EvalImage[] = [];
  const records: { kept: number[][]; text: number[][] }[] = [];
  const quarantined: { image: string; reason: string }[] = [];
  const progress = createProgress(chosen.length, 'anonymizing');
  const started = Date.now();
  try {
    const results: { label: (typeof chosen)[number]; original: ReturnType<typeof readGreyPixels>; outcome: Awaited<ReturnType<ReleasePool['release']>> }[] = [];
    await pool.forEachInWindow(chosen, async (label, k) => {
      const bytes = new Uint8Array(readFileSync(join(data, label.file)));
      const original = readGreyPixels(readPart10(bytes).dataset);
      results[k] = { label, original, outcome: await pool.release(bytes, { options: [], pixels: 'cxr-anofair', rule: 'eval' }) };
      progress.tick();
    });
    for (const { label, original, outcome } of results) {
      if (outcome.status !== 'released' || !outcome.record.pixelAnonymization) {
        quarantined.push({ image: label.image_id, reason: outcome.status === 'released' ? 'released without pixel anonymization' : outcome.reason });
        continue;
      }
      const pixels = outcome.record.pixelAnonymization;
      records.push({ kept: pixels.kept.map((k) => [...k.box]), text: pixels.textRegions.map((t) => [...t]) });
      images.push({
        image: label.image_id,
        patient: label.patient_id,
        male: label.sex === 'M',
        old: label.age_group === '>=60',
        findings: label.findings.map((f) => f.label),
        truth: label.findings.map((f) => ({ label: f.label, box: f.box })),
        original: toDisplay(original),
        anonymized: toDisplay(readGreyPixels(readPart10(outcome.bytes).dataset)),
        kept: keptMaskOf(pixels.kept, pixels.textRegions, original.columns, original.rows),
      });
    }
  } finally {
    progress.stop();
    await pool.close();
  }
  if (images.length === 0) throw new AnofairError('PIXEL_FAILED', `no image could be anonymized (${quarantined.length} quarantined; first: ${quarantined[0]?.reason})`);
  const anonymizedIn = (Date.now() - started) / 1000;
  const detection = await findingDetector(models);
  let report: AnonymizationReport;
  try {
    report = await evaluateAnonymization(images, evaluation, {
      pairSeed: DEFAULT_PAIR_SEED,
      bootstrap: { resamples: flags.resamples, seed: flags.bootstrapSeed },
      detector: detection.detector,
      progress: (total, label) => createProgress(total, label),
    });
  } finally {
    await evaluation.release();
    await detection.release();
  }
  const seconds = (Date.now() - started) / 1000;
  mkdirSync(flags.out, { recursive: true });
  const meta = {
    data: `${data} (split ${flags.split})`,
    'pixel models': models,
    'evaluation models': judges,
    sampler: `DPM-Solver++(2M), ${flags.steps} steps, guidance 7.5`,
    time: `${seconds.toFixed(0)} s for ${images.length} images (anonymizing ${anonymizedIn.toFixed(0)} s, measuring ${(seconds - anonymizedIn).toFixed(0)} s)`,
    seeds: `release noise from the fixed evaluation key sha256("${EVAL_KEY_LABEL}"); re-identification pairs ${DEFAULT_PAIR_SEED}; bootstrap ${flags.bootstrapSeed} (${flags.resamples} resamples over patients)`,
    ...(quarantined.length ? { quarantined: `${quarantined.length} image(s) held back by the release: ${quarantined.map((q) => `${q.image}: ${q.reason}`).join('; ')}` } : {}),
  };
  const examples: ReportExample[] = [];
  // the examples the reader most needs: the images that keep the most, whose kept pixels the attack uses
  const byKept = images.map((img, i) => ({ i, kept: img.kept.reduce((a, b) => a + b, 0) })).sort((a, b) => b.kept - a.kept || a.i - b.i);
  for (const { i, kept } of byKept.slice(0, 6)) {
    const img = images[i]!;
    const { kept: boxes, text } = records[i]!;
    examples.push({
      title: img.image,
      original: await outlinedPng(img.original, boxes, text),
      anonymized: await outlinedPng(img.anonymized, boxes, text),
      caption: `${img.findings.join(', ') || 'normal'}; kept ${((100 * kept) / img.kept.length).toFixed(1)}%`,
    });
  }
  writeFileSync(join(flags.out, 'report.json'), `${JSON.stringify({ meta, report }, null, 2)}\n`);
  writeFileSync(join(flags.out, 'report.html'), renderEvalReport(report, meta, examples));
  const r = report;
  process.stderr.write(
    [
      `evaluated ${r.images} images of ${r.patients} patients in ${seconds.toFixed(0)} s -> ${join(flags.out, 'report.html')}${quarantined.length ? ` (${quarantined.length} held back by the release)` : ''}`,
      ...summary(r),
      '',
    ].join('\n'),
  );
  return 0;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'Evaluate CXR-AnoFAIR on labelled phantoms: anonymize each image of a split, then measure privacy ' +
        '(re-identification AUC; a model-free attack on the pixels kept unchanged), fairness (attributes judged on ' +
        'the anonymized images) and utility (diagnostic AUC and output agreement per finding, hallucinated ' +
        'findings), with bootstrap intervals over patients, and check the targets. Writes report.json and report.html.',
    )
    .requiredOption('--data <dir>', 'phantom folder (labels.jsonl, dicom/), e.g. from anofair phantoms')
    .option('--split <name>', 'split to evaluate: train, val or test', 'test')
    .option('--models <dir>', 'pixel models (detector/, inpaint/); default: the shipped demo models')
    .option('--eval-models <dir>', 'evaluation models (reid/, attributes/, diagnostic/); default: --models')
    .option('--limit <n>', 'evaluate the first n images of the split', (v) => Number.parseInt(v, 10))
    .option('--steps <n>', 'sampler steps', (v) => Number.parseInt(v, 10), 20)
    .option('--out <dir>', 'report folder', 'eval-report')
    .option('--workers <n>', 'release worker threads (default: cores - 1)', (v) => Number.parseInt(v, 10))
    .option('--resamples <n>', 'bootstrap resamples over patients', wholeNumber(1, 100000), DEFAULT_BOOTSTRAP.resamples)
    .option('--bootstrap-seed <n>', 'seed of the bootstrap resamples', wholeNumber(0, 4294967295), DEFAULT_BOOTSTRAP.seed)
    .action(async (flags: EvalFlags) => {
      process.exitCode = await runEval(flags);
    });
}
