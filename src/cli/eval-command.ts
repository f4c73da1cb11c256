import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { createHash } from 'node:crypto';
import { readGreyPixels, toDisplay } from '../anonymizer/pixel/grey-pixels.js';
import { greyBytes, type GreyImage } from '../anonymizer/pixel/image-resize.js';
import { DEMO_MODELS } from '../anonymizer/pixel/pixel-cleaner.js';
import { describePixelModels } from '../anonymizer/pixel/pixel-models-notice.js';
import { readPart10 } from '../dicom/part10.js';
import { defaultThreads, ReleasePool, releaseWorkerData } from '../workers/release-pool.js';
import { AnofairError } from '../errors/anofair-error.js';
import { evaluateAnonymization, type EvalImage } from '../evaluation/anonymization-eval.js';
import { renderEvalReport, type ReportExample } from '../evaluation/eval-report-html.js';
import { EvaluationModels } from '../evaluation/evaluation-models.js';
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
}

async function pngDataUri(img: GreyImage): Promise<string> {
  const png = await sharp(greyBytes(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).resize(220, 220).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
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
    data: releaseWorkerData({ key: { id: 'eval', secret: createHash('sha256').update('anofair-eval-key').digest() } }, { models, steps: flags.steps }),
  });
  process.stderr.write(`${describePixelModels(pool.pixelModels!)}\n`);
  const evaluation = await EvaluationModels.load(judges);
  const images: EvalImage[] = [];
  const imageIds: string[] = [];
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
      imageIds.push(label.image_id);
      images.push({
        patient: label.patient_id,
        male: label.sex === 'M',
        old: label.age_group === '>=60',
        findings: label.findings.map((f) => f.label),
        original: toDisplay(original),
        anonymized: toDisplay(readGreyPixels(readPart10(outcome.bytes).dataset)),
        regeneratedFraction: outcome.record.pixelAnonymization.regeneratedFraction,
      });
    }
  } finally {
    progress.stop();
    await pool.close();
  }
  if (images.length === 0) throw new AnofairError('PIXEL_FAILED', `no image could be anonymized (${quarantined.length} quarantined; first: ${quarantined[0]?.reason})`);
  const report = await evaluateAnonymization(images, evaluation);
  await evaluation.release();
  const seconds = (Date.now() - started) / 1000;
  mkdirSync(flags.out, { recursive: true });
  const meta = {
    data: `${data} (split ${flags.split})`,
    'pixel models': models,
    'evaluation models': judges,
    sampler: `DPM-Solver++(2M), ${flags.steps} steps, guidance 7.5`,
    time: `${seconds.toFixed(0)} s for ${images.length} images`,
    ...(quarantined.length ? { quarantined: `${quarantined.length} image(s) held back by the release: ${quarantined.map((q) => `${q.image}: ${q.reason}`).join('; ')}` } : {}),
  };
  const examples: ReportExample[] = [];
  for (const [i, img] of images.slice(0, 6).entries()) {
    examples.push({ title: imageIds[i]!, original: await pngDataUri(img.original), anonymized: await pngDataUri(img.anonymized), caption: `${img.findings.join(', ') || 'normal'}, regenerated ${Math.round(img.regeneratedFraction * 100)}%` });
  }
  writeFileSync(join(flags.out, 'report.json'), `${JSON.stringify({ meta, report }, null, 2)}\n`);
  writeFileSync(join(flags.out, 'report.html'), renderEvalReport(report, meta, examples));
  const r = report;
  process.stderr.write(
    [
      `evaluated ${r.images} images of ${r.patients} patients in ${seconds.toFixed(0)} s -> ${join(flags.out, 'report.html')}${quarantined.length ? ` (${quarantined.length} held back by the release)` : ''}`,
      `  re-identification AUC: originals ${r.reidentification.aucOriginals}, anonymized ${r.reidentification.aucAnonymized} (0.5 = unlinkable)`,
      `  judged male: originals ${r.attributes.judgedMale.originals}, anonymized ${r.attributes.judgedMale.anonymized}; aged >= 60: ${r.attributes.judgedOld.originals}, ${r.attributes.judgedOld.anonymized}`,
      `  diagnostic AUC (originals -> anonymized): ${r.diagnostic.map((d) => `${d.finding} ${d.aucOriginals} -> ${d.aucAnonymized}`).join(', ')}`,
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
        '(re-identification AUC), fairness (attributes judged on the anonymized images) and utility (diagnostic AUC ' +
        'per finding), originals against anonymized. Writes report.json and report.html.',
    )
    .requiredOption('--data <dir>', 'phantom folder (labels.jsonl, dicom/), e.g. from anofair phantoms')
    .option('--split <name>', 'split to evaluate: train, val or test', 'test')
    .option('--models <dir>', 'pixel models (detector/, inpaint/); default: the shipped demo models')
    .option('--eval-models <dir>', 'evaluation models (reid/, attributes/, diagnostic/); default: --models')
    .option('--limit <n>', 'evaluate the first n images of the split', (v) => Number.parseInt(v, 10))
    .option('--steps <n>', 'sampler steps', (v) => Number.parseInt(v, 10), 20)
    .option('--out <dir>', 'report folder', 'eval-report')
    .option('--workers <n>', 'release worker threads (default: cores - 1)', (v) => Number.parseInt(v, 10))
    .action(async (flags: EvalFlags) => {
      process.exitCode = await runEval(flags);
    });
}
