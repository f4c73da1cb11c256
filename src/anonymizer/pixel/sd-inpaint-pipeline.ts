import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AnofairError } from '../../errors/anofair-error.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { DpmSolverMultistep, type NoiseScheduleConfig } from './dpm-solver.js';
import { gaussianNoise } from './seeded-noise.js';

/**
 * Stable Diffusion inpainting on onnxruntime-node, for a folder in the layout optimum exports
 * (text_encoder/, unet/ with the 9-channel input, vae_encoder/, vae_decoder/, tokenizer/, scheduler/): the demo
 * model and a real stable-diffusion-2-inpainting export load the same way. What diffusers' inpainting pipeline
 * does, for one grey image: encode the prompt and the negative prompt, encode the masked image, run the UNet with
 * classifier-free guidance under DPM-Solver++(2M), decode, and put the kept pixels back exactly.
 */

export const DEFAULT_NEGATIVE_PROMPT = 'low resolution, low quality, blurry, noise, disfigured';
export const DEFAULT_GUIDANCE_SCALE = 7.5;
export const DEFAULT_STEPS = 20;
const DEFAULT_SCALING_FACTOR = 0.18215;

export interface InpaintInput {
  /** grey image, row-major, 0..1 */
  image: Float32Array;
  width: number;
  height: number;
  /** per pixel: >= 0.5 regenerate (diffusers' white), < 0.5 keep */
  mask: Float32Array | Uint8Array;
  prompt: string;
  negativePrompt?: string;
  steps?: number;
  guidanceScale?: number;
  /** seeds the starting noise (the same seed gives the same image) */
  seed?: string | number;
  /** the starting latents [1, 4, height/8, width/8] instead of seeded noise (to compare with another implementation) */
  initialLatents?: Float32Array;
}

export interface InpaintOutput {
  /** the result: generated pixels where the mask repaints, the input's pixels, exactly, where it keeps */
  image: Float32Array;
  /** the decoded image before the kept pixels were put back */
  generated: Float32Array;
  milliseconds: { text: number; encode: number; denoise: number; decode: number; total: number };
}

export interface PipelineOptions {
  /** onnxruntime execution providers, e.g. ['cuda', 'cpu']; default ['cpu'] */
  executionProviders?: string[];
  intraOpNumThreads?: number;
}

interface Component {
  session: ort.InferenceSession;
  inputs: Map<string, ort.InferenceSession.ValueMetadata>;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `${path} is not readable JSON`, undefined, { cause: err });
  }
}

function tensorType(meta: ort.InferenceSession.ValueMetadata | undefined): string | undefined {
  return meta && meta.isTensor ? meta.type : undefined;
}

export class SdInpaintPipeline {
  private readonly textCache = new Map<string, Float32Array>();

  private constructor(
    readonly folder: string,
    private readonly tokenizer: ClipTokenizer,
    private readonly scheduleConfig: NoiseScheduleConfig,
    private readonly scalingFactor: number,
    private readonly text: Component,
    private readonly unet: Component,
    private readonly vaeEncoder: Component,
    private readonly vaeDecoder: Component,
    /** the square image size the model was trained at: unet/config.json sample_size x 8 (SD2: 512) */
    readonly imageSize: number,
  ) {}

  static async load(folder: string, options: PipelineOptions = {}): Promise<SdInpaintPipeline> {
    for (const part of ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_encoder/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'scheduler/scheduler_config.json']) {
      if (!existsSync(join(folder, part))) throw new AnofairError('CONFIG_INVALID', `${folder} is not a Stable Diffusion inpainting export: ${part} is missing`);
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: options.executionProviders ?? ['cpu'],
      graphOptimizationLevel: 'all',
      ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    };
    const open = async (name: string): Promise<Component> => {
      const path = join(folder, name, 'model.onnx');
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(path, sessionOptions);
      } catch (err) {
        throw new AnofairError('CONFIG_INVALID', `${path} does not load in onnxruntime: ${(err as Error).message}`, undefined, { cause: err });
      }
      return { session, inputs: new Map(session.inputMetadata.map((m) => [m.name, m])) };
    };
    const [text, unet, vaeEncoder, vaeDecoder] = await Promise.all([open('text_encoder'), open('unet'), open('vae_encoder'), open('vae_decoder')]);
    const need = (c: Component, file: string, names: string[]): void => {
      for (const n of names) if (!c.inputs.has(n)) throw new AnofairError('CONFIG_INVALID', `${join(folder, file)} has no input ${n} (inputs: ${[...c.inputs.keys()].join(', ')})`);
    };
    need(text, 'text_encoder/model.onnx', ['input_ids']);
    need(unet, 'unet/model.onnx', ['sample', 'timestep', 'encoder_hidden_states']);
    need(vaeEncoder, 'vae_encoder/model.onnx', ['sample']);
    need(vaeDecoder, 'vae_decoder/model.onnx', ['latent_sample']);
    const unetIn = unet.inputs.get('sample');
    const channels = unetIn?.isTensor ? unetIn.shape[1] : undefined;
    if (typeof channels === 'number' && channels !== 9) {
      throw new AnofairError('CONFIG_INVALID', `${join(folder, 'unet/model.onnx')} takes ${channels} input channels; an inpainting UNet takes 9 (latents, mask, masked-image latents)`);
    }
    const vaeConfigPath = join(folder, 'vae_decoder', 'config.json');
    const scaling = existsSync(vaeConfigPath) ? readJson(vaeConfigPath).scaling_factor : undefined;
    const unetConfigPath = join(folder, 'unet', 'config.json');
    const sampleSize = existsSync(unetConfigPath) ? readJson(unetConfigPath).sample_size : undefined;
    return new SdInpaintPipeline(
      folder,
      ClipTokenizer.load(join(folder, 'tokenizer')),
      readJson(join(folder, 'scheduler', 'scheduler_config.json')) as NoiseScheduleConfig,
      typeof scaling === 'number' ? scaling : DEFAULT_SCALING_FACTOR,
      text,
      unet,
      vaeEncoder,
      vaeDecoder,
      typeof sampleSize === 'number' ? sampleSize * 8 : 512,
    );
  }

  async release(): Promise<void> {
    await Promise.all([this.text, this.unet, this.vaeEncoder, this.vaeDecoder].map((c) => c.session.release()));
  }

  /** The text encoder's last_hidden_state for one prompt [77 x D], cached: prompts repeat across images. */
  async encodePrompt(prompt: string): Promise<Float32Array> {
    const cached = this.textCache.get(prompt);
    if (cached) return cached;
    const ids = this.tokenizer.encode(prompt);
    const type = tensorType(this.text.inputs.get('input_ids'));
    const input = type === 'int32' ? new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]) : new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
    const out = await this.text.session.run({ input_ids: input });
    const hidden = (out.last_hidden_state ?? out[this.text.session.outputNames[0]!])!;
    const data = Float32Array.from(hidden.data as Float32Array);
    if (this.textCache.size > 256) this.textCache.clear();
    this.textCache.set(prompt, data);
    return data;
  }

  async inpaint(input: InpaintInput): Promise<InpaintOutput> {
    const t0 = performance.now();
    const { width: w, height: h } = input;
    if (w % 8 !== 0 || h % 8 !== 0) throw new AnofairError('BAD_REQUEST', `inpainting needs a width and height divisible by 8, not ${w}x${h}`);
    if (input.image.length !== w * h || input.mask.length !== w * h) throw new AnofairError('BAD_REQUEST', `image and mask must both hold ${w}x${h} values`);
    const lw = w / 8;
    const lh = h / 8;
    const plane = lw * lh;
    const guidance = input.guidanceScale ?? DEFAULT_GUIDANCE_SCALE;
    const steps = input.steps ?? DEFAULT_STEPS;

    const [negative, positive] = await Promise.all([this.encodePrompt(input.negativePrompt ?? DEFAULT_NEGATIVE_PROMPT), this.encodePrompt(input.prompt)]);
    const seqLen = this.tokenizer.maxLength;
    const context = new Float32Array(negative.length + positive.length);
    context.set(negative, 0); // unconditional first, as diffusers concatenates them
    context.set(positive, negative.length);
    const contextTensor = new ort.Tensor('float32', context, [2, seqLen, positive.length / seqLen]);
    const t1 = performance.now();

    // masked image: [-1, 1] grey on three channels, zero (mid-grey) where the mask repaints
    const masked = new Float32Array(3 * w * h);
    for (let i = 0; i < w * h; i++) {
      const v = input.mask[i]! >= 0.5 ? 0 : input.image[i]! * 2 - 1;
      masked[i] = v;
      masked[w * h + i] = v;
      masked[2 * w * h + i] = v;
    }
    const enc = await this.vaeEncoder.session.run({ sample: new ort.Tensor('float32', masked, [1, 3, h, w]) });
    const params = enc[this.vaeEncoder.session.outputNames[0]!]!;
    // optimum's latent_parameters hold mean then log-variance (8 channels): the pipeline uses the mean
    const maskedLatents = Float32Array.from((params.data as Float32Array).subarray(0, 4 * plane), (v) => v * this.scalingFactor);
    // the mask at latent resolution, nearest (as torch.nn.functional.interpolate does)
    const latentMask = new Float32Array(plane);
    for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) latentMask[y * lw + x] = input.mask[y * 8 * w + x * 8]! >= 0.5 ? 1 : 0;
    const t2 = performance.now();

    const sampler = new DpmSolverMultistep(this.scheduleConfig, steps);
    let latents = input.initialLatents ? Float32Array.from(input.initialLatents) : gaussianNoise(input.seed ?? 0, 4 * plane);
    if (latents.length !== 4 * plane) throw new AnofairError('BAD_REQUEST', `initial latents must hold 4x${lh}x${lw} values`);
    if (sampler.initNoiseSigma !== 1) for (let i = 0; i < latents.length; i++) latents[i]! *= sampler.initNoiseSigma;
    const timestepType = tensorType(this.unet.inputs.get('timestep')) ?? 'float32';
    const sample = new Float32Array(2 * 9 * plane);
    for (const t of sampler.timesteps) {
      for (let b = 0; b < 2; b++) {
        const base = b * 9 * plane;
        sample.set(latents, base);
        sample.set(latentMask, base + 4 * plane);
        sample.set(maskedLatents, base + 5 * plane);
      }
      const timestep = timestepType === 'int64' ? new ort.Tensor('int64', BigInt64Array.from([BigInt(t)]), [1]) : new ort.Tensor('float32', Float32Array.from([t]), [1]);
      const out = await this.unet.session.run({ sample: new ort.Tensor('float32', sample, [2, 9, lh, lw]), timestep, encoder_hidden_states: contextTensor });
      const eps = out[this.unet.session.outputNames[0]!]!.data as Float32Array;
      const guided = new Float32Array(4 * plane);
      for (let i = 0; i < guided.length; i++) {
        const u = eps[i]!;
        guided[i] = u + guidance * (eps[4 * plane + i]! - u);
      }
      latents = sampler.step(guided, latents);
    }
    const t3 = performance.now();

    for (let i = 0; i < latents.length; i++) latents[i]! /= this.scalingFactor;
    const dec = await this.vaeDecoder.session.run({ latent_sample: new ort.Tensor('float32', latents, [1, 4, lh, lw]) });
    const rgb = dec[this.vaeDecoder.session.outputNames[0]!]!.data as Float32Array;
    const generated = new Float32Array(w * h);
    const image = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) {
      const grey = (rgb[i]! + rgb[w * h + i]! + rgb[2 * w * h + i]!) / 3;
      generated[i] = (Math.min(1, Math.max(-1, grey)) + 1) / 2;
      image[i] = input.mask[i]! >= 0.5 ? generated[i]! : input.image[i]!;
    }
    const t4 = performance.now();
    return { image, generated, milliseconds: { text: t1 - t0, encode: t2 - t1, denoise: t3 - t2, decode: t4 - t3, total: t4 - t0 } };
  }
}
