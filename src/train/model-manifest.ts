import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AnofairError } from '../errors/anofair-error.js';

/**
 * manifest.json of a model folder under models/demo/ (written by src/train/python/anofair_models/manifest.py):
 * what the model is, its ONNX components with their declared inputs/outputs, recorded checks (a formula input and
 * the outputs PyTorch gave at export time), the sha256 of every file, training and held-out metrics.
 */

const Dim = z.union([z.number().int(), z.string()]);
const ValueInfo = z.object({ name: z.string(), dtype: z.string(), shape: z.array(Dim) });

const Fill = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sine'), a: z.number(), b: z.number(), freq: z.number(), phase: z.number() }),
  z.object({ kind: z.literal('values'), values: z.array(z.number()) }),
]);
const CheckInput = z.object({ name: z.string(), dtype: z.enum(['float32', 'int64']), shape: z.array(z.number().int()), fill: Fill });
const CheckOutput = z.object({
  shape: z.array(z.number().int()),
  samples: z.array(z.tuple([z.number().int(), z.number()])),
  mean: z.number(),
  mean_abs: z.number(),
});
const Check = z.object({
  inputs: z.array(CheckInput),
  outputs: z.record(z.string(), CheckOutput),
  atol: z.number(),
  rtol: z.number(),
});

const Component = z.object({
  file: z.string(),
  inputs: z.array(ValueInfo),
  outputs: z.array(ValueInfo),
  checks: z.array(Check),
});

export const ModelManifestSchema = z
  .object({
    manifest_version: z.literal(1),
    name: z.string(),
    format: z.string(),
    description: z.string(),
    classes: z.array(z.string()),
    normalisation: z.record(z.string(), z.unknown()),
    models: z.array(Component).min(1),
    training: z.record(z.string(), z.unknown()),
    data: z.record(z.string(), z.unknown()),
    metrics: z.record(z.string(), z.unknown()),
    files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int() })),
  })
  .loose();

export type ModelManifest = z.infer<typeof ModelManifestSchema>;
export type ModelComponent = z.infer<typeof Component>;
export type ModelCheck = z.infer<typeof Check>;
export type CheckInputSpec = z.infer<typeof CheckInput>;

export function readModelManifest(folder: string): ModelManifest {
  const path = join(folder, 'manifest.json');
  if (!existsSync(path)) throw new AnofairError('IO', `no manifest.json in model folder ${folder}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `${path} is not valid JSON`, undefined, { cause: err });
  }
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AnofairError('CONFIG_INVALID', `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files whose sha256 differs from the manifest, or that are missing: a model that was altered must not load. */
export async function verifyModelFiles(folder: string, manifest: ModelManifest): Promise<string[]> {
  const problems: string[] = [];
  for (const [file, { sha256 }] of Object.entries(manifest.files)) {
    const path = join(folder, file);
    if (!existsSync(path)) {
      problems.push(`${file}: missing`);
      continue;
    }
    const actual = await sha256File(path);
    if (actual !== sha256) problems.push(`${file}: sha256 ${actual} does not match the manifest's ${sha256}`);
  }
  return problems;
}

/** Rebuild a check's input exactly as the exporter did: value[i] = a + b * sin(freq * i + phase) in float64, then
 * float32 (or the listed values). */
export function checkInputData(spec: CheckInputSpec): Float32Array | BigInt64Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.fill.kind === 'values') {
    if (spec.fill.values.length !== n) throw new AnofairError('CONFIG_INVALID', `check input ${spec.name}: ${spec.fill.values.length} values for shape ${spec.shape.join('x')}`);
    return spec.dtype === 'int64' ? BigInt64Array.from(spec.fill.values.map((v) => BigInt(v))) : Float32Array.from(spec.fill.values);
  }
  const { a, b, freq, phase } = spec.fill;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a + b * Math.sin(freq * i + phase);
  return out;
}

/** Compare recorded samples with a flat output; returns the mismatches (empty when within atol + rtol * |expected|). */
export function compareSamples(actual: ArrayLike<number>, expected: z.infer<typeof CheckOutput>, atol: number, rtol: number): string[] {
  const bad: string[] = [];
  for (const [index, value] of expected.samples) {
    const got = actual[index];
    if (got === undefined || !(Math.abs(got - value) <= atol + rtol * Math.abs(value))) bad.push(`[${index}] expected ${value}, got ${got}`);
  }
  let sum = 0;
  let sumAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    sum += actual[i]!;
    sumAbs += Math.abs(actual[i]!);
  }
  const mean = sum / actual.length;
  const meanAbs = sumAbs / actual.length;
  if (!(Math.abs(mean - expected.mean) <= atol + rtol * Math.abs(expected.mean))) bad.push(`mean expected ${expected.mean}, got ${mean}`);
  if (!(Math.abs(meanAbs - expected.mean_abs) <= atol + rtol * Math.abs(expected.mean_abs))) bad.push(`mean |x| expected ${expected.mean_abs}, got ${meanAbs}`);
  return bad;
}
