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
import { DEFAULT_BOOTSTRAP, DEFAULT_PAIR_SEED, evaluateAnonymization, labelledEvalImage, reidPairs, type AnonymizationReport, type EvalImage, type FindingDetector } from '../evaluation/anonymization-eval.js';
import { DEFAULT_PYTHON, runTrainedAttacks, type TrainedAttackScores } from '../evaluation/trained-attacks.js';
import type { Interval } from '../evaluation/bootstrap.js';
import { notMeasured, renderEvalReport, type ReportExample } from '../evaluation/eval-report-html.js';
import { EvaluationModels } from '../evaluation/evaluation-models.js';
import { outlinedPng } from '../evaluation/example-images.js';
import { keptMaskOf } from '../evaluation/kept-region-attack.js';
import { DEFAULT_KEEP_CONFIDENCE } from '../anonymizer/pixel/kept-regions.js';
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
  /** commander's --no-trained-attacks */
  trainedAttacks?: boolean;
  attackSplit: string;
  attackLimit?: number;
  attackSteps: number;
  attributeSteps: number;
  attackSeed: number;
  python: string;
  keepConfidence?: number;
  maxKeptBoxFraction?: number;
  maxKeptFraction?: number;
  keepMargin?: number;
  keepFindings?: string[];
}

function share(lo: number, hi: number, what: string): (text: string) => number {
  return (text) => {
    const v = Number(text);
    if (!/^\d*\.?\d+$/.test(text) || !(v >= lo && v <= hi)) throw new InvalidArgumentError(`${what}: expected a number from ${lo} to ${hi}`);
    return v;
  };
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
      keepConfidence: yolo.keepConfidence ?? DEFAULT_KEEP_CONFIDENCE,
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
    `    without the mask, the grain of ${r.keptRegionAttack.maskFromGrain.block}x${r.keptRegionAttack.maskFromGrain.block} blocks tells kept from regenerated pixels at AUC ${Number.isFinite(r.keptRegionAttack.maskFromGrain.auc) ? r.keptRegionAttack.maskFromGrain.auc : 'n/a'} (0.5: not at all; ${r.keptRegionAttack.maskFromGrain.keptBlocks} kept, ${r.keptRegionAttack.maskFromGrain.regeneratedBlocks} regenerated blocks)`,
    `    rank-1 by kept share: ${k.byKeptShare.map((g) => `${g.group} ${g.rank1} (${g.images})`).join(', ')}; by kept finding: ${k.byKeptFinding.map((g) => `${g.finding} ${g.rank1} (${g.images})`).join(', ') || 'none kept'}`,
    ...(r.reidentification.retrained ? [`  re-identification AUC, verifier retrained on released images: ${show(r.reidentification.retrained.auc)} (on pairs of originals ${r.reidentification.retrained.aucOnOriginals ? show(r.reidentification.retrained.aucOnOriginals) : 'n/a'}); on the kept pixels only: ${r.reidentification.keptRegionVerifier ? show(r.reidentification.keptRegionVerifier.auc) : 'n/a'}`] : []),
    ...(r.attributes.readable ? [`  attributes readable on released images (AUC): sex ${show(r.attributes.readable.sex.originalsJudge)} (originals judge), ${show(r.attributes.readable.sex.retrainedJudge)} (retrained); age ${show(r.attributes.readable.age.originalsJudge)}, ${show(r.attributes.readable.age.retrainedJudge)}`] : []),
    ...(r.realism ? [`  realism: discriminator AUC ${show(r.realism.discriminator.auc)} (VAE round trip ${r.realism.vaeRoundTrip ? show(r.realism.vaeRoundTrip.auc) : 'n/a'}); Fréchet distance ${r.realism.frechet ? `${show(r.realism.frechet.released, 4)} (VAE round trip ${r.realism.frechet.vaeRoundTrip ? show(r.realism.frechet.vaeRoundTrip, 4) : 'n/a'})` : 'n/a'}`] : []),
    `  judged male: originals ${r.attributes.judgedMale.originals}, anonymized ${r.attributes.judgedMale.anonymized}; aged >= 60: ${r.attributes.judgedOld.originals}, ${r.attributes.judgedOld.anonymized}`,
    `  diagnostic AUC (originals -> anonymized): ${r.diagnostic.map((d) => `${d.finding} ${d.aucOriginals.estimate} -> ${d.aucAnonymized.estimate}`).join(', ')}`,
    `  diagnostic output correlation: ${r.diagnostic.map((d) => `${d.finding} ${d.correlation.estimate}`).join(', ')}`,
    ...(h ? [`  hallucinated findings (confidence ${h.confidence}): ${h.imagesWith} of ${r.images} images, share ${show(h.share)}; on the originals, same rule: ${h.originals.imagesWith}; not on the original at the same place (added by the regeneration): ${h.added.imagesWith} images, ${show(h.added.share)}`, ...(h.atKeepConfidence ? [`    from the keep threshold (${h.atKeepConfidence.confidence}): ${h.atKeepConfidence.imagesWith} images, ${show(h.atKeepConfidence.share)}; on the originals ${h.atKeepConfidence.originals.imagesWith}; added by the regeneration ${h.atKeepConfidence.added.imagesWith}, ${show(h.atKeepConfidence.added.share)}`] : [])] : []),
    `  targets (${r.targets.filter((t) => t.met).length} of ${r.targets.length} met; 95% intervals over patients):`,
    ...r.targets.map((t) => `    ${t.status === 'met' ? 'met   ' : t.status === 'missed' ? 'MISSED' : t.status === 'inconclusive' ? 'INCONC' : 'N/A   '} ${t.target}: ${show(t.value)} (target ${t.threshold})${t.note ? `: ${t.note}` : ''}`),
    ...(notMeasured(r).length ? [`  not measured: ${notMeasured(r).join('; ')}`] : []),
  ];
}

type PhantomLabel = ReturnType<typeof parseLabels>[number];

function unchangedWithin(mask: Uint8Array, original: Int32Array, released: Int32Array): Uint8Array {
  const out = Uint8Array.from(mask);
  for (let i = 0; i < out.length; i++) if (out[i] && original[i] !== released[i]) out[i] = 0;
  return out;
}

function changedWithin(mask: Uint8Array, original: Int32Array, released: Int32Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] && original[i] !== released[i]) n++;
  return n;
}

interface AnonymizedSplit {
  images: EvalImage[];
  records: { kept: number[][]; text: number[][] }[];
  quarantined: { image: string; reason: string }[];
}

/** Releases each image of a split exactly as the gateway releases it (pixels, then the header profile). */
async function anonymizeSplit(pool: ReleasePool, data: string, chosen: readonly PhantomLabel[], label: string): Promise<AnonymizedSplit> {
  const out: AnonymizedSplit = { images: [], records: [], quarantined: [] };
  const progress = createProgress(chosen.length, label);
  try {
    const results: { label: PhantomLabel; original: ReturnType<typeof readGreyPixels>; outcome: Awaited<ReturnType<ReleasePool['release']>> }[] = [];
    await pool.forEachInWindow([...chosen], async (l, k) => {
      const bytes = new Uint8Array(readFileSync(join(data, l.file)));
      const original = readGreyPixels(readPart10(bytes).dataset);
      results[k] = { label: l, original, outcome: await pool.release(bytes, { options: [], pixels: 'cxr-anofair', rule: 'eval' }) };
      progress.tick();
    });
    for (const { label: l, original, outcome } of results) {
      if (outcome.status !== 'released' || !outcome.record.pixelAnonymization) {
        out.quarantined.push({ image: l.image_id, reason: outcome.status === 'released' ? 'released without pixel anonymization' : outcome.reason });
        continue;
      }
      const pixels = outcome.record.pixelAnonymization;
      const released = readGreyPixels(readPart10(outcome.bytes).dataset);
      const regenerated = [...pixels.textRegions.map((t) => [...t]), ...(pixels.identifyingRegions ?? []).map((o) => [...o.box])];
      out.records.push({ kept: pixels.kept.map((k) => [...k.box]), text: regenerated });
      // a region kept by its lesion mask keeps only part of its box: a pixel counts as kept where the record's
      // boxes allow it and the released value is the original's; a box kept whole must be exact, and any
      // difference there is a fault of the release
      const boxes = keptMaskOf(pixels.kept, regenerated, original.columns, original.rows);
      const whole = keptMaskOf(pixels.kept.filter((k) => k.shape !== 'mask'), regenerated, original.columns, original.rows);
      out.images.push(labelledEvalImage(l, toDisplay(original), toDisplay(released), unchangedWithin(boxes, original.stored, released.stored), changedWithin(whole, original.stored, released.stored), pixels.kept.map((k) => k.finding)));
    }
  } finally {
    progress.stop();
  }
  return out;
}

/** Progress of the trainer's steps: a bar per attack on a terminal, a line per attack elsewhere. */
function trainerProgress(): { onEvent: NonNullable<Parameters<typeof runTrainedAttacks>[3]['onEvent']>; stop(): void } {
  let bar: ReturnType<typeof createProgress> | undefined;
  let current = '';
  let done = 0;
  return {
    onEvent: (e) => {
      if (e.event === 'start' && e.attack) process.stderr.write(`training attack: ${e.attack}\n`);
      if (e.event === 'start-auc' && e.attack) process.stderr.write(`  ${e.attack} before training on released images: AUC ${e.auc_originals} on pairs of originals\n`);
      if (e.event !== 'step' || !e.attack || !e.steps || !e.step) return;
      if (e.attack !== current) {
        bar?.stop();
        current = e.attack;
        done = 0;
        bar = createProgress(e.steps, `  ${e.attack}`);
      }
      while (done < e.step) {
        bar?.tick();
        done++;
      }
    },
    stop: () => bar?.stop(),
  };
}

export async function runEval(flags: EvalFlags): Promise<number> {
  const data = resolve(flags.data);
  if (!existsSync(join(data, 'labels.jsonl'))) throw new AnofairError('IO', `no labels.jsonl in ${data}: evaluate on a phantom folder (anofair phantoms --out DIR)`);
  const all = parseLabels(readFileSync(join(data, 'labels.jsonl'), 'utf8'));
  const labels = all.filter((l) => l.split === flags.split);
  if (labels.length === 0) throw new AnofairError('IO', `no images of split "${flags.split}" in ${data}`);
  const chosen = flags.limit ? labels.slice(0, flags.limit) : labels;
  const trainAttacks = flags.trainedAttacks !== false;
  if (trainAttacks && flags.attackSplit === flags.split) throw new AnofairError('CONFIG_INVALID', `--attack-split ${flags.attackSplit} is the evaluated split: the attacks must be trained on other patients`);
  const attackLabels = trainAttacks ? all.filter((l) => l.split === flags.attackSplit) : [];
  if (trainAttacks && attackLabels.length === 0) throw new AnofairError('IO', `no images of split "${flags.attackSplit}" in ${data} to train the attacks on (or pass --no-trained-attacks)`);
  const attackChosen = flags.attackLimit ? attackLabels.slice(0, flags.attackLimit) : attackLabels;
  const models = resolve(flags.models ?? DEMO_MODELS);
  const judges = resolve(flags.evalModels ?? models);
  // the images are released exactly as the gateway releases them (pixels, then the header profile), under a
  // fixed evaluation key so that a rerun draws the same noise
  const pool = await ReleasePool.start({
    threads: flags.workers ?? defaultThreads(),
    data: releaseWorkerData(
      { key: { id: 'eval', secret: createHash('sha256').update(EVAL_KEY_LABEL).digest() } },
      {
        models,
        steps: flags.steps,
        ...(flags.keepConfidence !== undefined ? { keepConfidence: flags.keepConfidence } : {}),
        ...(flags.maxKeptBoxFraction !== undefined ? { maxKeptBoxFraction: flags.maxKeptBoxFraction } : {}),
        ...(flags.maxKeptFraction !== undefined ? { maxKeptFraction: flags.maxKeptFraction } : {}),
        ...(flags.keepMargin !== undefined ? { keepMargin: flags.keepMargin } : {}),
        ...(flags.keepFindings !== undefined ? { keepFindings: flags.keepFindings } : {}),
      },
    ),
  });
  process.stderr.write(`${describePixelModels(pool.pixelModels!)}\n`);
  const evaluation = await EvaluationModels.load(judges);
  const started = Date.now();
  let split: AnonymizedSplit;
  let attackSplit: AnonymizedSplit | undefined;
  try {
    split = await anonymizeSplit(pool, data, chosen, `anonymizing ${flags.split}`);
    if (trainAttacks) attackSplit = await anonymizeSplit(pool, data, attackChosen, `anonymizing ${flags.attackSplit} (attack training)`);
  } finally {
    await pool.close();
  }
  const { images, records, quarantined } = split;
  if (images.length === 0) throw new AnofairError('PIXEL_FAILED', `no image could be anonymized (${quarantined.length} quarantined; first: ${quarantined[0]?.reason})`);
  let trained: TrainedAttackScores | undefined;
  if (attackSplit) {
    const t0 = Date.now();
    const view = trainerProgress();
    try {
      trained = await runTrainedAttacks(attackSplit.images, images, reidPairs(images, DEFAULT_PAIR_SEED).pairs, {
        python: flags.python,
        steps: flags.attackSteps,
        attributeSteps: flags.attributeSteps,
        seed: flags.attackSeed,
        evalModels: judges,
        inpaint: join(models, 'inpaint'),
        onEvent: view.onEvent,
      });
    } finally {
      view.stop();
    }
    process.stderr.write(`trained attacks: ${((Date.now() - t0) / 1000).toFixed(0)} s on ${attackSplit.images.length} released images of split ${flags.attackSplit}\n`);
  }
  const anonymizedIn = (Date.now() - started) / 1000;
  const detection = await findingDetector(models);
  let report: AnonymizationReport;
  try {
    report = await evaluateAnonymization(images, evaluation, {
      pairSeed: DEFAULT_PAIR_SEED,
      bootstrap: { resamples: flags.resamples, seed: flags.bootstrapSeed },
      detector: detection.detector,
      progress: (total, label) => createProgress(total, label),
      ...(trained ? { trained } : {}),
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
    'keep policy': `keep confidence ${flags.keepConfidence ?? 'from the detector manifest, else 0.5'}, each box at most ${flags.maxKeptBoxFraction ?? 0.12} of the image, all at most ${flags.maxKeptFraction ?? 0.2}, margin ${flags.keepMargin ?? '1/32'} of the image, findings kept: ${flags.keepFindings?.join(', ') ?? 'every finding'}`,
    time: `${seconds.toFixed(0)} s for ${images.length} images (anonymizing ${anonymizedIn.toFixed(0)} s, measuring ${(seconds - anonymizedIn).toFixed(0)} s)`,
    seeds: `release noise from the fixed evaluation key sha256("${EVAL_KEY_LABEL}"); re-identification pairs ${DEFAULT_PAIR_SEED}; bootstrap ${flags.bootstrapSeed} (${flags.resamples} resamples over patients)${trained ? `; trained attacks ${flags.attackSeed}` : ''}`,
    ...(attackSplit ? { 'trained attacks': `trained on split ${flags.attackSplit} (${attackSplit.images.length} released images${attackSplit.quarantined.length ? `, ${attackSplit.quarantined.length} held back` : ''}), ${flags.attackSteps} steps per verifier and discriminator, ${flags.attributeSteps} for the attribute judge` } : { 'trained attacks': 'not run (--no-trained-attacks)' }),
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
    .option('--attack-split <name>', 'split of other patients the trained attacks learn from', 'val')
    .option('--attack-limit <n>', 'use the first n images of the attack split', wholeNumber(1, 1000000))
    .option('--attack-steps <n>', 'training steps of each trained verifier and discriminator', wholeNumber(1, 1000000), 300)
    .option('--attribute-steps <n>', 'training steps of the retrained attribute judge', wholeNumber(1, 1000000), 150)
    .option('--attack-seed <n>', 'seed of the trained attacks', wholeNumber(0, 4294967295), 20262)
    .option('--python <path>', 'python with PyTorch, for the trained attacks', process.env.ANOFAIR_PYTHON ?? DEFAULT_PYTHON)
    .option('--keep-confidence <score>', 'lowest score of a kept finding (the release\'s keepConfidence; default: the detector manifest\'s, else 0.5)', share(0.001, 0.999, 'score'))
    .option('--max-kept-box-fraction <share>', 'largest share of the image one kept box may cover (default 0.12)', share(0.001, 1, 'share'))
    .option('--max-kept-fraction <share>', 'largest share of the image kept in all (default 0.2; 0: keep nothing)', share(0, 1, 'share'))
    .option('--keep-margin <share>', 'margin around each kept box, as a share of the image\'s width and height (default 1/32, the method\'s; 0: the detector\'s box)', share(0, 0.25, 'share'))
    .option('--keep-findings <list>', 'comma-separated findings whose pixels may be kept (default: every finding); the others are drawn, never copied', (v: string) => v.split(',').map((f) => f.trim()).filter(Boolean))
    .option('--no-trained-attacks', 'skip the attacks trained on another split (faster; the report says they were not measured)')
    .action(async (flags: EvalFlags) => {
      process.exitCode = await runEval(flags);
    });
}
