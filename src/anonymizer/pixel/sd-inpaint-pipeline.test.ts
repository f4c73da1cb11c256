import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AnofairError } from '../../errors/anofair-error.js';
import { runTrainPython } from '../../../test/support/external-tools.js';
import { REPO_ROOT } from '../../../test/support/repo-paths.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { DpmSolverMultistep, samplingTimesteps } from './dpm-solver.js';
import { SdInpaintPipeline } from './sd-inpaint-pipeline.js';
import { gaussianNoise } from './seeded-noise.js';

const MODEL = join(REPO_ROOT, 'models', 'demo', 'inpaint');
const SIZE = 256;
const PROMPT = 'A chest X-ray showing Effusion, Cardiomegaly.';

/** Runs Python from src/train/python (Debian's torch): the reference implementation we compare with. */
const python = (args: string[], input?: string): string => runTrainPython(args, input).toString('utf8');

/** A synthetic chest-like test picture (no phantom needed): smooth background, two dark "lungs", a bright spine. */
function testImage(): Float32Array {
  const img = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const lung = (cx: number): number => Math.exp(-((((x - cx) / 45) ** 2 + ((y - 120) / 75) ** 2) ** 2));
      img[y * SIZE + x] = 0.75 - 0.5 * (lung(80) + lung(176)) + 0.2 * Math.exp(-(((x - 128) / 8) ** 2)) + 0.02 * Math.sin(x / 3 + y / 5);
    }
  }
  return img;
}

/** Repaint everything except two "finding" boxes: the CXR-AnoFAIR mask. */
function anofairMask(): Float32Array {
  const mask = new Float32Array(SIZE * SIZE).fill(1);
  for (const [x0, y0, x1, y1] of [[40, 60, 100, 120], [150, 140, 200, 190]] as const) {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * SIZE + x] = 0;
  }
  return mask;
}

describe('CLIP tokenizer (tokenizer/ of a Stable Diffusion export)', () => {
  const tokenizer = ClipTokenizer.load(join(MODEL, 'tokenizer'));
  const manifest = JSON.parse(readFileSync(join(MODEL, 'manifest.json'), 'utf8')) as { tokenizer_examples: Record<string, number[]> };

  it('gives the ids the exporter recorded for every example prompt (77 ids: start, words, end, "!" padding)', () => {
    assert.ok(Object.keys(manifest.tokenizer_examples).length >= 3);
    for (const [prompt, ids] of Object.entries(manifest.tokenizer_examples)) assert.deepEqual(tokenizer.encode(prompt), ids, prompt);
  });

  it('agrees with the Python tokenizer the model was trained with, on prompts outside the examples', () => {
    const prompts = ['a chest x-ray of a MALE patient', '  Effusion,\tMass  ', 'A chest X-ray showing Nodule!', 'pa &amp; ap view 60', 'ünïcode ±', ''];
    const expected = JSON.parse(
      python(['-c', 'import json,sys\nfrom pathlib import Path\nfrom anofair_models.tokenizer import Tokenizer\nt=Tokenizer.load(Path(sys.argv[1]))\nprint(json.dumps([t.encode(p) for p in json.loads(sys.stdin.read())]))', join(MODEL, 'tokenizer')], JSON.stringify(prompts)),
    ) as number[][];
    prompts.forEach((p, i) => assert.deepEqual(tokenizer.encode(p), expected[i], JSON.stringify(p)));
  });

  it('truncates long prompts to 77 ids and keeps the end token', () => {
    const ids = tokenizer.encode('effusion '.repeat(200));
    assert.equal(ids.length, 77);
    assert.equal(ids[0], 49406);
    assert.equal(ids[76], 49407);
  });

  it('refuses a folder without a vocabulary, naming the file', () => {
    const empty = mkdtempSync(join(tmpdir(), 'anofair-tok-'));
    try {
      assert.throws(() => ClipTokenizer.load(empty), (err: unknown) => err instanceof AnofairError && err.code === 'CONFIG_INVALID' && /vocab\.json/.test(err.message));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('DPM-Solver++(2M) sampler', () => {
  const config = JSON.parse(readFileSync(join(MODEL, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<string, unknown>;

  it('samples diffusers\' "linspace" timesteps (20 steps: 999, 949, ... 50) and the "leading" spacing of SD2\'s PNDM config', () => {
    assert.deepEqual(samplingTimesteps(config, 20), [999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50]);
    assert.deepEqual(samplingTimesteps({ ...config, timestep_spacing: 'leading', steps_offset: 1 }, 4), [801, 601, 401, 201]);
    assert.deepEqual(samplingTimesteps({ ...config, timestep_spacing: 'trailing' }, 4), [999, 749, 499, 249]);
  });

  it('takes the same path as the Python sampler the model is evaluated with, for 20 and for 8 steps', () => {
    // a model stand-in that depends on x and t, so that every coefficient of the update matters
    const x0 = gaussianNoise('dpm-check', 64);
    for (const steps of [20, 8]) {
      const sampler = new DpmSolverMultistep(config, steps);
      let x: Float32Array = Float32Array.from(x0);
      for (const t of sampler.timesteps) x = sampler.step(Float32Array.from(x, (v, i) => 0.3 * v + Math.sin(t / 100 + i)), x);
      const expected = JSON.parse(
        python(
          ['-c', 'import json,sys,math,torch\nfrom anofair_models.diffusion import alphas_cumprod, dpm_solver_2m\nx=torch.tensor(json.loads(sys.stdin.read()),dtype=torch.float32)\nidx=torch.arange(len(x),dtype=torch.float32)\nf=lambda xt,t: 0.3*xt+torch.sin(t/100+idx)\nprint(json.dumps(dpm_solver_2m(f,x,int(sys.argv[1]),alphas_cumprod()).tolist()))', String(steps)],
          JSON.stringify(Array.from(x0)),
        ),
      ) as number[];
      const worst = Math.max(...expected.map((v, i) => Math.abs(v - x[i]!)));
      assert.ok(worst < 1e-4, `${steps} steps: largest difference ${worst}`);
    }
  });

  it('refuses schedulers it does not implement, with the field named', () => {
    assert.throws(() => new DpmSolverMultistep({ ...config, use_karras_sigmas: true }, 20), /use_karras_sigmas/);
    assert.throws(() => new DpmSolverMultistep({ ...config, solver_order: 3 }, 20), /solver_order/);
    assert.throws(() => new DpmSolverMultistep({ ...config, beta_schedule: 'squaredcos_cap_v2' }, 20), /beta_schedule/);
    assert.throws(() => new DpmSolverMultistep(config, 0), /positive integer/);
  });
});

describe('Stable Diffusion inpainting on onnxruntime-node (the demo model, optimum export layout)', () => {
  let pipeline: SdInpaintPipeline;
  const image = testImage();
  const mask = anofairMask();

  before(async () => {
    pipeline = await SdInpaintPipeline.load(MODEL);
  });
  after(async () => {
    await pipeline?.release();
  });

  it('gives the image the PyTorch pipeline gives from the same starting noise', async () => {
    const latents = gaussianNoise('reference', 4 * (SIZE / 8) ** 2);
    const dir = mkdtempSync(join(tmpdir(), 'anofair-inpaint-ref-'));
    try {
      writeFileSync(join(dir, 'image.f32'), Buffer.from(image.buffer));
      writeFileSync(join(dir, 'mask.f32'), Buffer.from(mask.buffer));
      writeFileSync(join(dir, 'latents.f32'), Buffer.from(latents.buffer));
      const request = { image: join(dir, 'image.f32'), mask: join(dir, 'mask.f32'), latents: join(dir, 'latents.f32'), prompts: [PROMPT], steps: 20, guidance: 7.5, out: join(dir, 'out.f32') };
      writeFileSync(join(dir, 'request.json'), JSON.stringify(request));
      python(['-m', 'anofair_models.inpaint_reference', '--model', MODEL, '--request', join(dir, 'request.json')]);
      const buf = readFileSync(join(dir, 'out.f32'));
      const expected = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
      const ours = await pipeline.inpaint({ image, width: SIZE, height: SIZE, mask, prompt: PROMPT, initialLatents: latents });
      let sum = 0;
      let worst = 0;
      for (let i = 0; i < expected.length; i++) {
        const d = Math.abs(expected[i]! - ours.image[i]!);
        sum += d;
        worst = Math.max(worst, d);
      }
      // two float32 implementations through 20 guided steps: differences stay far below one grey level (1/255)
      assert.ok(sum / expected.length < 1e-3, `mean |difference| ${sum / expected.length}`);
      assert.ok(worst < 2e-2, `largest difference ${worst}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps every pixel outside the mask exactly and regenerates the rest', async () => {
    const out = await pipeline.inpaint({ image, width: SIZE, height: SIZE, mask, prompt: PROMPT, seed: 'keep', steps: 8 });
    let changed = 0;
    for (let i = 0; i < image.length; i++) {
      if (mask[i]! < 0.5) assert.equal(out.image[i], image[i], `kept pixel ${i}`);
      else if (Math.abs(out.image[i]! - image[i]!) > 1 / 255) changed++;
    }
    const repainted = mask.reduce((a, v) => a + (v >= 0.5 ? 1 : 0), 0);
    assert.ok(changed > repainted / 2, `${changed} of ${repainted} repainted pixels changed`);
    for (const v of out.image) assert.ok(v >= 0 && v <= 1);
  });

  it('is reproducible from its seed, and another seed gives another image', async () => {
    const a = await pipeline.inpaint({ image, width: SIZE, height: SIZE, mask, prompt: PROMPT, seed: 7, steps: 6 });
    const b = await pipeline.inpaint({ image, width: SIZE, height: SIZE, mask, prompt: PROMPT, seed: 7, steps: 6 });
    const c = await pipeline.inpaint({ image, width: SIZE, height: SIZE, mask, prompt: PROMPT, seed: 8, steps: 6 });
    assert.deepEqual(a.image, b.image);
    assert.notDeepEqual(a.image, c.image);
  });

  it('answers bad sizes with a reason instead of running', async () => {
    await assert.rejects(pipeline.inpaint({ image: new Float32Array(100 * 100), width: 100, height: 100, mask: new Float32Array(100 * 100), prompt: PROMPT }), (err: unknown) =>
      err instanceof AnofairError && err.code === 'BAD_REQUEST' && /divisible by 8/.test(err.message),
    );
    await assert.rejects(pipeline.inpaint({ image, width: SIZE, height: SIZE, mask: new Float32Array(10), prompt: PROMPT }), /must both hold/);
  });

  it('refuses a folder that is not an inpainting export, naming what is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anofair-sd-'));
    try {
      cpSync(MODEL, dir, { recursive: true });
      rmSync(join(dir, 'vae_encoder'), { recursive: true });
      await assert.rejects(SdInpaintPipeline.load(dir), (err: unknown) => err instanceof AnofairError && err.code === 'MODEL_INVALID' && /vae_encoder\/model\.onnx is missing/.test(err.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
