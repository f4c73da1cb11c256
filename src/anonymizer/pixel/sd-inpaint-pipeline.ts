import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnofairError } from '../../errors/anofair-error.js';
import { openModelFolder, type ExecutionProvider, type ModelDescription, type ModelRuntimeSettings, type OnnxModel } from '../../models/index.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { DpmSolverMultistep, type NoiseScheduleConfig } from './dpm-solver.js';
import { gaussianNoise } from './seeded-noise.js';

/**
 * Stable Diffusion inpainting on onnxruntime-node, for a folder in the layout optimum exports
 * (text_encoder/, unet/ with the 9-channel input, vae_encoder/, vae_decoder/, tokenizer/, scheduler/): the demo
 * model and a real stable-diffusion-2-inpainting export load the same way. What diffusers' inpainting pipeline
 * does, for one grey image: encode the prompt and the negative prompt, encode the masked image, run the UNet with
 * classifier-free guidance under DPM-Solver++(2M), decode, and put the kept pixels back exactly. fp32 and fp16
 * exports load the same way: every input is built in the type its component declares (int32/int64 ids, a float,
 * float16 or integer timestep, float16 latents) and every output is read back as float32 (src/models).
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
  /** checked before each denoising step: an aborted regeneration throws PIXEL_FAILED */
  signal?: AbortSignal;
}

export interface InpaintOutput {
  /** the result: generated pixels where the mask repaints, the input's pixels, exactly, where it keeps */
  image: Float32Array;
  /** the decoded image before the kept pixels were put back */
  generated: Float32Array;
  milliseconds: { text: number; encode: number; denoise: number; decode: number; total: number };
}

export interface PipelineOptions {
  /** execution providers, threads, warm-up (src/models) */
  runtime?: ModelRuntimeSettings;
}

/** The four components as loaded: for start-up logs and /status. */
export interface PipelineDescription {
  folder: string;
  imageSize: number;
  components: Record<'text_encoder' | 'unet' | 'vae_encoder' | 'vae_decoder', ModelDescription>;
}

/** The parts of an optimum stable-diffusion-2-inpainting export the pipeline needs. */
export const PIPELINE_PARTS = ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_encoder/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'scheduler/scheduler_config.json'];

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new AnofairError('MODEL_INVALID', `${path} is not readable JSON`, { path }, { cause: err });
  }
}

export class SdInpaintPipeline {
  private readonly textCache = new Map<string, Float32Array>();

  private constructor(
    readonly folder: string,
    private readonly tokenizer: ClipTokenizer,
    private readonly scheduleConfig: NoiseScheduleConfig,
    private readonly scalingFactor: number,
    private readonly text: OnnxModel,
    private readonly unet: OnnxModel,
    private readonly vaeEncoder: OnnxModel,
    private readonly vaeDecoder: OnnxModel,
    /** the square image size the model was trained at: unet/config.json sample_size x 8 (SD2: 512) */
    readonly imageSize: number,
  ) {}

  /**
   * MODEL_INVALID naming the file when a part is missing, does not load or lacks the inputs of an inpainting
   * export; MODEL_PROVIDER when the runtime requires a GPU that cannot be used.
   */
  static async load(folder: string, options: PipelineOptions = {}): Promise<SdInpaintPipeline> {
    const models = openModelFolder(folder);
    for (const part of PIPELINE_PARTS) {
      if (!existsSync(join(folder, part))) throw new AnofairError('MODEL_INVALID', `${folder} is not a Stable Diffusion inpainting export: ${part} is missing`, { path: join(folder, part) });
    }
    const vaeConfigPath = join(folder, 'vae_decoder', 'config.json');
    const scaling = existsSync(vaeConfigPath) ? readJson(vaeConfigPath).scaling_factor : undefined;
    const unetConfigPath = join(folder, 'unet', 'config.json');
    const sampleSize = existsSync(unetConfigPath) ? readJson(unetConfigPath).sample_size : undefined;
    const latent = typeof sampleSize === 'number' ? sampleSize : 64;
    const image = latent * 8;
    const tokenizer = ClipTokenizer.load(join(folder, 'tokenizer'));
    const seq = tokenizer.maxLength;
    // the shapes inpaint() feeds, for the warm-up run (when the runtime asks for one)
    const shapes: Record<string, Record<string, number[]>> = {
      text_encoder: { input_ids: [1, seq] },
      unet: { sample: [2, 9, latent, latent], timestep: [1] },
      vae_encoder: { sample: [1, 3, image, image] },
      vae_decoder: { latent_sample: [1, 4, latent, latent] },
    };
    const dims = { batch_size: 1, sequence_length: seq, steps: 1 };
    const opened: OnnxModel[] = [];
    try {
      // one after the other: a failed provider is then tried once, and a failure releases what was opened
      for (const name of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
        opened.push(await models.open(`${name}/model.onnx`, options.runtime, { warmUpShapes: shapes[name], warmUpDims: { ...dims, ...(name === 'unet' ? { batch_size: 2 } : {}) } }));
      }
      const [text, unet, vaeEncoder, vaeDecoder] = opened as [OnnxModel, OnnxModel, OnnxModel, OnnxModel];
      text.requireInputs(['input_ids'], 'a CLIP text encoder export');
      unet.requireInputs(['sample', 'timestep', 'encoder_hidden_states'], 'an inpainting UNet export');
      vaeEncoder.requireInputs(['sample'], 'a VAE encoder export');
      vaeDecoder.requireInputs(['latent_sample'], 'a VAE decoder export');
      const channels = unet.input('sample')?.shape[1];
      if (typeof channels === 'number' && channels !== 9) {
        throw new AnofairError('MODEL_INVALID', `${join(folder, 'unet/model.onnx')} takes ${channels} input channels; an inpainting UNet takes 9 (latents, mask, masked-image latents)`);
      }
      return new SdInpaintPipeline(
        folder,
        tokenizer,
        readJson(join(folder, 'scheduler', 'scheduler_config.json')) as NoiseScheduleConfig,
        typeof scaling === 'number' ? scaling : DEFAULT_SCALING_FACTOR,
        text,
        unet,
        vaeEncoder,
        vaeDecoder,
        image,
      );
    } catch (err) {
      await Promise.all(opened.map((m) => m.release()));
      throw err;
    }
  }

  describe(): PipelineDescription {
    return {
      folder: this.folder,
      imageSize: this.imageSize,
      components: { text_encoder: this.text.describe(), unet: this.unet.describe(), vae_encoder: this.vaeEncoder.describe(), vae_decoder: this.vaeDecoder.describe() },
    };
  }

  /** the execution provider of the UNet, where the time goes (describe() has each component's) */
  get provider(): ExecutionProvider {
    return this.unet.provider;
  }

  /** The element type the UNet declares for its timestep (exporters differ: float32, float16, int64). */
  get timestepType(): string {
    return this.unet.input('timestep')?.type ?? 'float32';
  }

  async release(): Promise<void> {
    await Promise.all([this.text, this.unet, this.vaeEncoder, this.vaeDecoder].map((c) => c.release()));
  }

  /** The text encoder's last_hidden_state for one prompt [77 x D], cached: prompts repeat across images. */
  async encodePrompt(prompt: string): Promise<Float32Array> {
    const cached = this.textCache.get(prompt);
    if (cached) return cached;
    const ids = this.tokenizer.encode(prompt);
    const out = await this.text.run({ input_ids: { data: ids, dims: [1, ids.length] } });
    const hidden = (out.last_hidden_state ?? out[this.text.outputNames[0]!])!;
    const data = Float32Array.from(hidden.data);
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
    const contextTensor = this.unet.tensor('encoder_hidden_states', context, [2, seqLen, positive.length / seqLen]);
    const t1 = performance.now();

    // masked image: [-1, 1] grey on three channels, zero (mid-grey) where the mask repaints
    const masked = new Float32Array(3 * w * h);
    for (let i = 0; i < w * h; i++) {
      const v = input.mask[i]! >= 0.5 ? 0 : input.image[i]! * 2 - 1;
      masked[i] = v;
      masked[w * h + i] = v;
      masked[2 * w * h + i] = v;
    }
    const enc = await this.vaeEncoder.run({ sample: { data: masked, dims: [1, 3, h, w] } });
    const params = enc[this.vaeEncoder.outputNames[0]!]!;
    // optimum's latent_parameters hold mean then log-variance (8 channels): the pipeline uses the mean
    const maskedLatents = Float32Array.from(params.data.subarray(0, 4 * plane), (v) => v * this.scalingFactor);
    // the mask at latent resolution, nearest (as torch.nn.functional.interpolate does)
    const latentMask = new Float32Array(plane);
    for (let y = 0; y < lh; y++) for (let x = 0; x < lw; x++) latentMask[y * lw + x] = input.mask[y * 8 * w + x * 8]! >= 0.5 ? 1 : 0;
    const t2 = performance.now();

    const sampler = new DpmSolverMultistep(this.scheduleConfig, steps);
    let latents = input.initialLatents ? Float32Array.from(input.initialLatents) : gaussianNoise(input.seed ?? 0, 4 * plane);
    if (latents.length !== 4 * plane) throw new AnofairError('BAD_REQUEST', `initial latents must hold 4x${lh}x${lw} values`);
    if (sampler.initNoiseSigma !== 1) for (let i = 0; i < latents.length; i++) latents[i]! *= sampler.initNoiseSigma;
    const sample = new Float32Array(2 * 9 * plane);
    for (const t of sampler.timesteps) {
      if (input.signal?.aborted) throw new AnofairError('PIXEL_FAILED', 'the regeneration was stopped before it finished');
      for (let b = 0; b < 2; b++) {
        const base = b * 9 * plane;
        sample.set(latents, base);
        sample.set(latentMask, base + 4 * plane);
        sample.set(maskedLatents, base + 5 * plane);
      }
      // the timestep in the UNet's declared type; sample (and the context) float16 for an fp16 export
      const out = await this.unet.run({ sample: { data: sample, dims: [2, 9, lh, lw] }, timestep: { data: [t], dims: [1] }, encoder_hidden_states: contextTensor });
      const eps = out[this.unet.outputNames[0]!]!.data;
      const guided = new Float32Array(4 * plane);
      for (let i = 0; i < guided.length; i++) {
        const u = eps[i]!;
        guided[i] = u + guidance * (eps[4 * plane + i]! - u);
      }
      latents = sampler.step(guided, latents);
    }
    const t3 = performance.now();

    for (let i = 0; i < latents.length; i++) latents[i]! /= this.scalingFactor;
    const dec = await this.vaeDecoder.run({ latent_sample: { data: latents, dims: [1, 4, lh, lw] } });
    const rgb = dec[this.vaeDecoder.outputNames[0]!]!.data;
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
