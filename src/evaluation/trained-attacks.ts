import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { resizeGrey, type GreyImage } from '../anonymizer/pixel/image-resize.js';
import { AnofairError } from '../errors/anofair-error.js';

/**
 * The evaluation's trained attacks: networks an attacker trains on released images of one split of patients and
 * uses on another (src/train/python/anofair_models/eval_attacks.py, with Debian's PyTorch). This side writes the
 * two splits at the networks' 256x256, runs the trainer, and reads back the held-out scores; the AUCs and their
 * intervals are computed by the evaluation, with the same bootstrap as every other number.
 */

export const DEFAULT_PYTHON = '/usr/bin/python3';
const PYTHON_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../src/train/python');
const SIZE = 256;

export interface AttackSplitImage {
  patient: string;
  male: boolean;
  old: boolean;
  original: GreyImage;
  anonymized: GreyImage;
  /** 1 where the released pixel is the original's */
  kept: Uint8Array;
}

export interface TrainedAttackOptions {
  python?: string;
  /** training steps of each verifier and discriminator */
  steps: number;
  attributeSteps: number;
  batch?: number;
  seed: number;
  frechetResamples?: number;
  /** the model folder of the evaluation networks (attributes/pytorch, diagnostic/pytorch) */
  evalModels: string;
  /** the inpainting model folder (its VAE is the realism floor) */
  inpaint?: string;
  threads?: number;
  onEvent?: (event: { event: string; attack?: string; step?: number; steps?: number; loss?: number; auc_originals?: number }) => void;
}

interface TrainingInfo {
  steps: number;
  lr: number;
  final_loss: number;
  seconds: number;
  seed: number;
}

interface VerifierInfo extends TrainingInfo {
  /** what the network started from: 'shipped verifier' (trained on originals) or 'attribute judge backbone' */
  init: string;
  /** its AUC on the test pairs of originals before any training on released images */
  start_auc_originals: number;
  scores: number[];
  scores_originals: number[];
}

export interface TrainedAttackScores {
  seed: number;
  attack_images: number;
  attack_patients: number;
  pretrained_backbone: boolean;
  /** p(same patient) of each test pair, image 1 released, image 2 original */
  verifier: VerifierInfo;
  kept_verifier: VerifierInfo;
  /** [p(male), p(age >= 60)] of each released test image */
  attributes: TrainingInfo & { scores: [number, number][] };
  /** p(regenerated) of each test original and released image */
  realism: TrainingInfo & { real: number[]; regenerated: number[] };
  realism_floor?: TrainingInfo & { real: number[]; regenerated: number[] };
  frechet?: { features: number; resamples: number; seed: number; released: FrechetInterval; vae_round_trip?: FrechetInterval };
}

export interface FrechetInterval {
  estimate: number;
  lo: number;
  hi: number;
}

function at256(img: GreyImage): Float32Array {
  return img.width === SIZE && img.height === SIZE ? img.data : resizeGrey(img, SIZE, SIZE, 'bilinear').data;
}

/** A 256x256 pixel counts as kept only when every source pixel it covers is: no regenerated pixel leaks in. */
function kept256(img: AttackSplitImage): Uint8Array {
  const w = img.original.width;
  const h = img.original.height;
  const m = resizeGrey({ data: Float32Array.from(img.kept), width: w, height: h }, SIZE, SIZE, 'area').data;
  return Uint8Array.from(m, (v) => (v >= 0.999 ? 1 : 0));
}

function writeSplit(dir: string, name: string, images: readonly AttackSplitImage[]): { count: number; patients: string[]; male: number[]; old: number[] } {
  const n = images.length;
  const original = new Float32Array(n * SIZE * SIZE);
  const released = new Float32Array(n * SIZE * SIZE);
  const kept = new Uint8Array(n * SIZE * SIZE);
  images.forEach((img, k) => {
    original.set(at256(img.original), k * SIZE * SIZE);
    released.set(at256(img.anonymized), k * SIZE * SIZE);
    kept.set(kept256(img), k * SIZE * SIZE);
  });
  writeFileSync(join(dir, `${name}-original.bin`), Buffer.from(original.buffer));
  writeFileSync(join(dir, `${name}-released.bin`), Buffer.from(released.buffer));
  writeFileSync(join(dir, `${name}-kept.bin`), kept);
  return { count: n, patients: images.map((i) => i.patient), male: images.map((i) => (i.male ? 1 : 0)), old: images.map((i) => (i.old ? 1 : 0)) };
}

function optional(path: string): string | undefined {
  return existsSync(path) ? path : undefined;
}

/** Trains the attacks on `attack`, scores `test` (and its `testPairs`); refuses splits that share a patient. */
export async function runTrainedAttacks(attack: readonly AttackSplitImage[], test: readonly AttackSplitImage[], testPairs: readonly (readonly [number, number])[], options: TrainedAttackOptions): Promise<TrainedAttackScores> {
  const shared = new Set(attack.map((i) => i.patient));
  const overlap = test.find((i) => shared.has(i.patient));
  if (overlap) throw new AnofairError('CONFIG_INVALID', 'the attack split and the test split share a patient: the trained attacks would be tested on their training data');
  if (new Set(attack.map((i) => i.patient)).size < 2) throw new AnofairError('CONFIG_INVALID', `the attack split has ${shared.size} patient(s); the trained attacks need at least two`);
  const python = options.python ?? DEFAULT_PYTHON;
  if (!existsSync(python)) throw new AnofairError('CONFIG_INVALID', `python ${python} not found: the trained attacks need Debian's python3-torch (or set ANOFAIR_PYTHON)`);
  const dir = mkdtempSync(join(tmpdir(), 'anofair-attacks-'));
  try {
    const meta = { size: SIZE, attack: writeSplit(dir, 'attack', attack), test: writeSplit(dir, 'test', test), test_pairs: testPairs.map(([a, b]) => [a, b]) };
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const out = join(dir, 'result.json');
    const args = [
      '-m', 'anofair_models.eval_attacks',
      '--input', dir, '--out', out,
      '--steps', String(options.steps), '--attribute-steps', String(options.attributeSteps),
      '--batch', String(options.batch ?? 24), '--seed', String(options.seed),
      '--frechet-resamples', String(options.frechetResamples ?? 200),
      '--threads', String(options.threads ?? 0),
    ];
    const attributesPt = optional(join(options.evalModels, 'attributes', 'pytorch', 'attributes.pt'));
    const diagnosticPt = optional(join(options.evalModels, 'diagnostic', 'pytorch', 'diagnostic.pt'));
    if (attributesPt) args.push('--attributes-pt', attributesPt);
    if (diagnosticPt) args.push('--diagnostic-pt', diagnosticPt);
    if (existsSync(join(options.evalModels, 'reid', 'embedding.onnx'))) args.push('--reid', join(options.evalModels, 'reid'));
    if (options.inpaint && existsSync(join(options.inpaint, 'vae_encoder', 'model.onnx'))) args.push('--inpaint', options.inpaint);
    const stderr: string[] = [];
    const code = await new Promise<number>((resolveCode, reject) => {
      const child = spawn(python, args, { env: { ...process.env, PYTHONPATH: PYTHON_ROOT }, stdio: ['ignore', 'ignore', 'pipe'] });
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (line.startsWith('{')) {
          try {
            options.onEvent?.(JSON.parse(line) as Parameters<NonNullable<TrainedAttackOptions['onEvent']>>[0]);
            return;
          } catch {
            // not an event line: kept with the rest
          }
        }
        stderr.push(line);
        if (stderr.length > 40) stderr.shift();
      });
      child.on('error', reject);
      child.on('close', (c, signal) => resolveCode(c ?? (signal ? 128 : 1)));
    });
    if (code !== 0 || !existsSync(out)) {
      const last = stderr.filter((l) => l.trim()).at(-1) ?? `exit ${code}`;
      throw new AnofairError('MODEL_INVALID', `the trained attacks failed (${python}): ${last}`);
    }
    const result = JSON.parse(readFileSync(out, 'utf8')) as TrainedAttackScores;
    if (result.verifier.scores.length !== testPairs.length || result.attributes.scores.length !== test.length || result.realism.real.length !== test.length) {
      throw new AnofairError('MODEL_INVALID', 'the trained attacks returned scores that do not match the test split');
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
