import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { anonymizeRadiograph } from '../src/anonymizer/pixel/cxr-anofair.js';
import { readGreyPixels } from '../src/anonymizer/pixel/grey-pixels.js';
import { SdInpaintPipeline } from '../src/anonymizer/pixel/sd-inpaint-pipeline.js';
import { gaussianNoise } from '../src/anonymizer/pixel/seeded-noise.js';
import { YoloDetector } from '../src/anonymizer/pixel/yolo-detector.js';
import { readPart10 } from '../src/dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../src/phantoms/generate.js';
import { parseLabels } from '../src/phantoms/labels.js';

const USAGE = `npm run bench:inpaint -- [options]

Seconds per 256x256 image of the CXR-AnoFAIR regeneration step (Stable Diffusion inpainting, DPM-Solver++(2M),
classifier-free guidance) on onnxruntime-node, against the anchor side by side in the same run: the same model's
PyTorch pipeline (src/train/python/anofair_models/inpaint.py, Debian's torch), on the same images, masks, prompts
and starting noise, one image at a time. Also reports how far the two outputs are apart.

  --model DIR     inpainting export (default models/demo/inpaint)
  --images N      images per side (default 12)
  --steps S       sampler steps (default 20)
  --threads T     intra-op threads for both sides (default 1; the gateway's workers are single-threaded)
  --sizes A,B     also time the whole CXR-AnoFAIR step per instance (detector, regeneration, pixels back into
                  stored values) on phantom radiographs of these sizes (default 256,2048)
`;

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SIZE = 256;
const PROMPTS = ['A chest X-ray showing No Finding.', 'A chest X-ray showing Effusion.', 'A chest X-ray showing Nodule, Cardiomegaly.'];

/** Synthetic chest-like pictures and CXR-AnoFAIR masks (repaint all but one or two boxes); compute does not depend on content. */
function workload(n: number): { images: Float32Array[]; masks: Float32Array[]; prompts: string[]; latents: Float32Array[] } {
  const images: Float32Array[] = [];
  const masks: Float32Array[] = [];
  const prompts: string[] = [];
  const latents: Float32Array[] = [];
  for (let k = 0; k < n; k++) {
    const img = new Float32Array(SIZE * SIZE);
    const mask = new Float32Array(SIZE * SIZE).fill(1);
    const shift = (k % 5) * 4;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const lung = (cx: number): number => Math.exp(-((((x - cx - shift) / 45) ** 2 + ((y - 120) / 75) ** 2) ** 2));
        img[y * SIZE + x] = 0.75 - 0.5 * (lung(80) + lung(176)) + 0.2 * Math.exp(-(((x - 128) / 8) ** 2));
      }
    }
    const boxes = k % 2 ? [[40 + shift, 60, 100, 120]] : [[40, 60, 100, 120], [150, 140 + shift, 200, 190]];
    for (const [x0, y0, x1, y1] of boxes) for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) mask[y * SIZE + x] = 0;
    images.push(img);
    masks.push(mask);
    prompts.push(PROMPTS[k % PROMPTS.length]!);
    latents.push(gaussianNoise(`bench-${k}`, 4 * (SIZE / 8) ** 2));
  }
  return { images, masks, prompts, latents };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: join(ROOT, 'models', 'demo', 'inpaint') },
      images: { type: 'string', default: '12' },
      steps: { type: 'string', default: '20' },
      threads: { type: 'string', default: '1' },
      sizes: { type: 'string', default: '256,2048' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const n = Number(values.images);
  const steps = Number(values.steps);
  const threads = Number(values.threads);
  const model = resolve(values.model!);
  const work = workload(n);
  process.stdout.write(`inpainting benchmark: ${n} images ${SIZE}x${SIZE}, ${steps} steps, guidance 7.5, ${threads} thread(s); ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}\n`);

  // ours: onnxruntime-node (a warm-up image first: session initialisation is not per-image cost)
  const pipeline = await SdInpaintPipeline.load(model, { runtime: { intraOpNumThreads: threads } });
  await pipeline.inpaint({ image: work.images[0]!, width: SIZE, height: SIZE, mask: work.masks[0]!, prompt: work.prompts[0]!, initialLatents: work.latents[0]!, steps });
  const ours: Float32Array[] = [];
  const stages = { text: 0, encode: 0, denoise: 0, decode: 0 };
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const r = await pipeline.inpaint({ image: work.images[k]!, width: SIZE, height: SIZE, mask: work.masks[k]!, prompt: work.prompts[k]!, initialLatents: work.latents[k]!, steps });
    ours.push(r.image);
    for (const key of Object.keys(stages) as (keyof typeof stages)[]) stages[key] += r.milliseconds[key];
  }
  const oursSeconds = (performance.now() - t0) / 1000 / n;
  await pipeline.release();

  // the anchor: the PyTorch pipeline, one image at a time (as a gateway worker would call it)
  const dir = mkdtempSync(join(tmpdir(), 'anofair-inpaint-bench-'));
  let torchSeconds = Number.NaN;
  let worst = 0;
  let meanDiff = 0;
  try {
    // the reference runs its batch in chunks of 16; one image per request keeps the comparison per image
    let total = 0;
    const outs: Float32Array[] = [];
    for (let k = -1; k < n; k++) {
      const i = Math.max(0, k);
      writeFileSync(join(dir, 'one-image.f32'), Buffer.from(work.images[i]!.buffer));
      writeFileSync(join(dir, 'one-mask.f32'), Buffer.from(work.masks[i]!.buffer));
      writeFileSync(join(dir, 'one-latents.f32'), Buffer.from(work.latents[i]!.buffer));
      writeFileSync(join(dir, 'request.json'), JSON.stringify({ image: join(dir, 'one-image.f32'), mask: join(dir, 'one-mask.f32'), latents: join(dir, 'one-latents.f32'), prompts: [work.prompts[i]], steps, out: join(dir, 'out.f32') }));
      const r = spawnSync('/usr/bin/python3', ['-m', 'anofair_models.inpaint_reference', '--model', model, '--request', join(dir, 'request.json'), '--threads', String(threads)], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: join(ROOT, 'src', 'train', 'python'), PYTHONDONTWRITEBYTECODE: '1' },
      });
      if (r.status !== 0) throw new Error(`the PyTorch reference failed (needs python3-torch python3-onnx):\n${r.stderr}`);
      if (k < 0) continue; // warm-up (file cache)
      total += (JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds;
      const buf = readFileSync(join(dir, 'out.f32'));
      outs.push(new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length)));
    }
    torchSeconds = total / n;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < ours[k]!.length; i++) {
        const d = Math.abs(ours[k]![i]! - outs[k]![i]!);
        sum += d;
        worst = Math.max(worst, d);
      }
    }
    meanDiff = sum / (n * SIZE * SIZE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // the whole step per instance, at the radiograph's own size (no anchor: nothing else does this step)
  const whole: string[] = [];
  const detector = await YoloDetector.load(join(model, '..', 'detector'), { runtime: { intraOpNumThreads: threads } });
  const inpainter = await SdInpaintPipeline.load(model, { runtime: { intraOpNumThreads: threads } });
  for (const size of values.sizes!.split(',').map(Number).filter((v) => v > 0)) {
    const dir = mkdtempSync(join(tmpdir(), 'anofair-inpaint-bench-phantoms-'));
    try {
      await generatePhantoms({ ...DEFAULT_OPTIONS, out: dir, patients: 2, seed: `bench-${size}`, size, burnedInShare: 0.5, force: false });
      const pixels = parseLabels(readFileSync(join(dir, 'labels.jsonl'), 'utf8')).map((l) => readGreyPixels(readPart10(readFileSync(join(dir, l.file))).dataset));
      await anonymizeRadiograph(pixels[0]!, { detector, inpainter }, { seed: 'warm-up', modelSize: inpainter.imageSize, steps });
      const t = performance.now();
      for (const [k, px] of pixels.entries()) await anonymizeRadiograph(px, { detector, inpainter }, { seed: `bench-${k}`, modelSize: inpainter.imageSize, steps });
      whole.push(`| ${size} x ${size} | ${((performance.now() - t) / 1000 / pixels.length).toFixed(3)} |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  await detector.release();
  await inpainter.release();
  const per = (ms: number): string => `${(ms / n).toFixed(0)} ms`;
  process.stdout.write(
    [
      '',
      '| side | seconds per image | ratio |',
      '| --- | --- | --- |',
      `| AnoFAIR, onnxruntime-node | ${oursSeconds.toFixed(3)} | ${(torchSeconds / oursSeconds).toFixed(2)}x the anchor's speed |`,
      `| anchor: PyTorch pipeline (same model) | ${torchSeconds.toFixed(3)} | 1.00 |`,
      '',
      `onnxruntime-node stages per image: text ${per(stages.text)}, VAE encode ${per(stages.encode)}, ${steps} guided UNet steps ${per(stages.denoise)}, VAE decode ${per(stages.decode)}`,
      `outputs (same starting noise): mean |difference| ${meanDiff.toExponential(2)}, largest ${worst.toExponential(2)} (grey levels 0..1)`,
      '',
      'Whole CXR-AnoFAIR step per instance (render, detect, regenerate, resample, back to stored values), onnxruntime-node:',
      '',
      '| radiograph | seconds per instance |',
      '| --- | --- |',
      ...whole,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:inpaint: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
