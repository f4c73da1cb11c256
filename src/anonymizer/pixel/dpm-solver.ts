import { AnofairError } from '../../errors/anofair-error.js';

/**
 * DPM-Solver++(2M), the multistep sampler CXR-AnoFAIR uses, as diffusers' DPMSolverMultistepScheduler computes it
 * (midpoint solver type, lower-order final steps). It reads any diffusers scheduler_config.json: the noise schedule
 * fields (betas, prediction type, timestep spacing) are shared by PNDM/DDIM/DPM configs, so an export that ships
 * SD2's PNDM config is sampled with DPM-Solver++ as `DPMSolverMultistepScheduler.from_config(...)` would.
 */

export interface NoiseScheduleConfig {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: string;
  trained_betas?: number[] | null;
  prediction_type?: string;
  timestep_spacing?: string;
  steps_offset?: number;
  final_sigmas_type?: string;
  use_karras_sigmas?: boolean;
  algorithm_type?: string;
  solver_order?: number;
  solver_type?: string;
  lower_order_final?: boolean;
  thresholding?: boolean;
  _class_name?: string;
}

function unsupported(field: string, value: unknown, supported: string): AnofairError {
  return new AnofairError('CONFIG_INVALID', `scheduler_config.json: ${field} ${JSON.stringify(value)} is not supported (supported: ${supported})`);
}

/** Cumulative products of (1 - beta) in float64 (diffusers computes them in float32; the difference is < 1e-6). */
export function alphasCumprod(cfg: NoiseScheduleConfig): Float64Array {
  const n = cfg.num_train_timesteps ?? 1000;
  const start = cfg.beta_start ?? 0.0001;
  const end = cfg.beta_end ?? 0.02;
  const betas = new Float64Array(n);
  const schedule = cfg.trained_betas ? 'trained' : (cfg.beta_schedule ?? 'linear');
  for (let i = 0; i < n; i++) {
    const f = n === 1 ? 0 : i / (n - 1);
    if (schedule === 'trained') betas[i] = cfg.trained_betas![i] ?? Number.NaN;
    else if (schedule === 'linear') betas[i] = start + (end - start) * f;
    else if (schedule === 'scaled_linear') betas[i] = (Math.sqrt(start) + (Math.sqrt(end) - Math.sqrt(start)) * f) ** 2;
    else throw unsupported('beta_schedule', schedule, 'linear, scaled_linear, trained_betas');
  }
  const abar = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) abar[i] = prod *= 1 - betas[i]!;
  return abar;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (Math.abs(d - 0.5) > 1e-9) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** The sampling timesteps, high to low, for a number of inference steps. */
export function samplingTimesteps(cfg: NoiseScheduleConfig, steps: number): number[] {
  const n = cfg.num_train_timesteps ?? 1000;
  const spacing = cfg.timestep_spacing ?? 'linspace';
  const out: number[] = [];
  if (spacing === 'linspace') {
    // np.linspace(0, n - 1, steps + 1).round()[::-1][:-1]; numpy rounds halves to even
    for (let i = steps; i >= 1; i--) out.push(roundHalfEven(((n - 1) * i) / steps));
  } else if (spacing === 'leading') {
    const ratio = Math.floor(n / (steps + 1));
    for (let i = steps; i >= 1; i--) out.push(i * ratio + (cfg.steps_offset ?? 0));
  } else if (spacing === 'trailing') {
    const ratio = n / steps;
    for (let t = n; t > 0; t -= ratio) out.push(Math.round(t) - 1);
  } else throw unsupported('timestep_spacing', spacing, 'linspace, leading, trailing');
  return out;
}

/** The sampler's state over one image (or batch): call step() once per timestep, in order. */
export class DpmSolverMultistep {
  readonly timesteps: number[];
  readonly initNoiseSigma = 1;
  private readonly alphas: number[];
  private readonly sigmas: number[];
  private readonly prediction: 'epsilon' | 'v_prediction' | 'sample';
  private readonly lowerOrderFinal: boolean;
  private prevX0: Float32Array | undefined;
  private prevH: number | undefined;
  private index = 0;

  constructor(cfg: NoiseScheduleConfig, steps: number) {
    if (!Number.isInteger(steps) || steps < 1) throw new AnofairError('CONFIG_INVALID', `inference steps must be a positive integer, not ${steps}`);
    if (cfg.use_karras_sigmas) throw unsupported('use_karras_sigmas', true, 'false');
    if (cfg.thresholding) throw unsupported('thresholding', true, 'false');
    const pred = cfg.prediction_type ?? 'epsilon';
    if (pred !== 'epsilon' && pred !== 'v_prediction' && pred !== 'sample') throw unsupported('prediction_type', pred, 'epsilon, v_prediction, sample');
    this.prediction = pred;
    // a DPM-Solver config must ask for what this sampler is; other schedulers' configs lend only their noise schedule
    if (cfg._class_name === 'DPMSolverMultistepScheduler') {
      if ((cfg.algorithm_type ?? 'dpmsolver++') !== 'dpmsolver++') throw unsupported('algorithm_type', cfg.algorithm_type, 'dpmsolver++');
      if ((cfg.solver_order ?? 2) !== 2) throw unsupported('solver_order', cfg.solver_order, '2');
      if ((cfg.solver_type ?? 'midpoint') !== 'midpoint') throw unsupported('solver_type', cfg.solver_type, 'midpoint');
    }
    const abar = alphasCumprod(cfg);
    this.timesteps = samplingTimesteps(cfg, steps);
    const finalSigma = cfg.final_sigmas_type ?? 'zero';
    if (finalSigma !== 'zero' && finalSigma !== 'sigma_min') throw unsupported('final_sigmas_type', finalSigma, 'zero, sigma_min');
    const alphaOf = (a: number): number => Math.sqrt(a);
    const sigmaOf = (a: number): number => Math.sqrt(1 - a);
    this.alphas = this.timesteps.map((t) => alphaOf(abar[t]!));
    this.sigmas = this.timesteps.map((t) => sigmaOf(abar[t]!));
    if (finalSigma === 'zero') {
      this.alphas.push(1);
      this.sigmas.push(0);
    } else {
      // diffusers' sigma_min: the smallest sigma of the training schedule, as a VE sigma, converted back
      const s = Math.sqrt((1 - abar[0]!) / abar[0]!);
      this.alphas.push(1 / Math.sqrt(s * s + 1));
      this.sigmas.push(s / Math.sqrt(s * s + 1));
    }
    this.lowerOrderFinal = cfg.lower_order_final ?? true;
  }

  /** One update: x at timesteps[i] and the model's output there -> x at the next timestep (or the clean sample). */
  step(modelOutput: Float32Array, x: Float32Array): Float32Array {
    const i = this.index;
    if (i >= this.timesteps.length) throw new AnofairError('INTERNAL', 'the sampler was stepped past its last timestep');
    const alpha = this.alphas[i]!;
    const sigma = this.sigmas[i]!;
    const alphaNext = this.alphas[i + 1]!;
    const sigmaNext = this.sigmas[i + 1]!;
    const n = x.length;
    const x0 = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const m = modelOutput[k]!;
      x0[k] = this.prediction === 'epsilon' ? (x[k]! - sigma * m) / alpha : this.prediction === 'v_prediction' ? alpha * x[k]! - sigma * m : m;
    }
    const out = new Float32Array(n);
    if (sigmaNext === 0) {
      out.set(x0); // the final step to sigma 0 lands on the predicted clean sample
    } else {
      const lambda = Math.log(alpha) - Math.log(sigma);
      const lambdaNext = Math.log(alphaNext) - Math.log(sigmaNext);
      const h = lambdaNext - lambda;
      // diffusers: first order at the start, and over the last two steps of short schedules (lower_order_final)
      const firstOrder = this.prevX0 === undefined || (this.lowerOrderFinal && this.timesteps.length < 15 && i >= this.timesteps.length - 2);
      const ratio = sigmaNext / sigma;
      const coef = alphaNext * Math.expm1(-h); // alpha_t (e^-h - 1), subtracted
      if (firstOrder) {
        for (let k = 0; k < n; k++) out[k] = ratio * x[k]! - coef * x0[k]!;
      } else {
        const r = this.prevH! / h;
        const prev = this.prevX0!;
        for (let k = 0; k < n; k++) out[k] = ratio * x[k]! - coef * (x0[k]! + (0.5 * (x0[k]! - prev[k]!)) / r);
      }
      this.prevH = h;
    }
    this.prevX0 = x0;
    this.index++;
    return out;
  }
}
