import { gaussianNoise } from './seeded-noise.js';

/**
 * The acquisition noise of a radiograph, given to the regenerated pixels. A decoder draws smooth images: without
 * the grain of the detector, regenerated anatomy is told from a real image at a glance, and a kept region (which
 * has its grain) stands out from its surroundings. Quantum noise depends on the signal (fewer photons behind
 * denser tissue), so the level is estimated per intensity band, as a noise level function.
 *
 * The estimator is Immerkær's (1996): the response to the 3x3 mask [1 -2 1; -2 4 -2; 1 -2 1] cancels smooth
 * structure and has standard deviation 6 sigma for white noise; a median of its magnitude (not a mean) keeps
 * the edges of ribs and borders from counting as noise. Pixels whose response is exactly 0 (flat collimator
 * shutters, clipped values) are left out. The level is a property of the acquisition, not of the patient: it is
 * estimated from every pixel of the original and only this curve reaches the output.
 */

export interface NoiseLevel {
  /** centres of the intensity bands (stored values, ascending) */
  centres: number[];
  /** noise standard deviation in each band (stored values) */
  sigmas: number[];
}

const BANDS = 12;
const MIN_PIXELS_PER_BAND = 64;
const MAX_SAMPLES = 250_000;
/** median |N(0, 1)| */
const MEDIAN_ABS_NORMAL = 0.6744897501960817;

/**
 * Immerkær's mask [1 -2 1; -2 4 -2; 1 -2 1] at pixel i (not on the border): 0 on any locally linear image, standard
 * deviation 6 sigma on white noise of standard deviation sigma.
 */
export function noiseMaskResponse(data: ArrayLike<number>, width: number, i: number): number {
  return (
    data[i - width - 1]! - 2 * data[i - width]! + data[i - width + 1]! -
    2 * data[i - 1]! + 4 * data[i]! - 2 * data[i + 1]! +
    data[i + width - 1]! - 2 * data[i + width]! + data[i + width + 1]!
  );
}

/** The noise level function of an image of stored values; undefined when too few pixels carry noise. */
export function estimateNoiseLevel(stored: ArrayLike<number>, width: number, height: number): NoiseLevel | undefined {
  if (width < 3 || height < 3) return undefined;
  const means: number[] = [];
  const responses: number[] = [];
  // a regular sample of at most about MAX_SAMPLES pixels bounds the time and memory on large radiographs
  const step = Math.max(1, Math.ceil(Math.sqrt((width * height) / MAX_SAMPLES)));
  for (let y = 1; y < height - 1; y += step) {
    for (let x = 1; x < width - 1; x += step) {
      const i = y * width + x;
      const response = noiseMaskResponse(stored, width, i);
      if (response === 0) continue;
      let sum = 0;
      for (let dy = -width; dy <= width; dy += width) sum += stored[i + dy - 1]! + stored[i + dy]! + stored[i + dy + 1]!;
      means.push(sum / 9);
      responses.push(Math.abs(response));
    }
  }
  if (responses.length < MIN_PIXELS_PER_BAND) return undefined;
  // bands of equal pixel count over the local mean
  const order = Array.from(means.keys()).sort((p, q) => means[p]! - means[q]!);
  const bands = Math.max(1, Math.min(BANDS, Math.floor(order.length / MIN_PIXELS_PER_BAND)));
  const centres: number[] = [];
  const sigmas: number[] = [];
  for (let band = 0; band < bands; band++) {
    const members = order.slice(Math.floor((band * order.length) / bands), Math.floor(((band + 1) * order.length) / bands));
    const r = members.map((m) => responses[m]!).sort((p, q) => p - q);
    centres.push(members.reduce((s, m) => s + means[m]!, 0) / members.length);
    sigmas.push(r[r.length >> 1]! / MEDIAN_ABS_NORMAL / 6);
  }
  return { centres, sigmas };
}

/** The noise level at a stored value: linear between band centres, the end bands' level beyond them. */
export function noiseAt(level: NoiseLevel, value: number): number {
  const { centres, sigmas } = level;
  if (value <= centres[0]!) return sigmas[0]!;
  for (let k = 1; k < centres.length; k++) {
    if (value <= centres[k]!) {
      const t = (value - centres[k - 1]!) / Math.max(1e-9, centres[k]! - centres[k - 1]!);
      return sigmas[k - 1]! + t * (sigmas[k]! - sigmas[k - 1]!);
    }
  }
  return sigmas.at(-1)!;
}

/**
 * The generated stored values with seeded noise of the given level added where keep is 0 (kept pixels are the
 * original's and get none), rounded and clamped to [lo, hi].
 */
export function addImageNoise(generated: Int32Array, keep: Uint8Array, level: NoiseLevel, seed: string, lo: number, hi: number): Int32Array {
  const noise = gaussianNoise(`image-noise:${seed}`, generated.length);
  // the level of every stored value once (at most 65,536 of them), not a band search per pixel
  const sigmaOf = Float64Array.from({ length: hi - lo + 1 }, (_, k) => noiseAt(level, lo + k));
  const out = new Int32Array(generated.length);
  for (let i = 0; i < generated.length; i++) {
    const v = generated[i]!;
    const sigma = v >= lo && v <= hi ? sigmaOf[v - lo]! : noiseAt(level, v);
    out[i] = keep[i] ? v : Math.min(hi, Math.max(lo, Math.round(v + sigma * noise[i]!)));
  }
  return out;
}

/** One number for the record: the median band's level. */
export function typicalNoise(level: NoiseLevel): number {
  const s = [...level.sigmas].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
