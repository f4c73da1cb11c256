import { boxBlur, type Grid } from './raster.js';
import { Rng } from './rng.js';

/**
 * How one image of a patient was taken and processed: position (shift, rotation, magnification), depth of
 * inspiration, exposure and processing (contrast, noise, sharpness), and how the detector stores it
 * (modality, photometric interpretation, bits stored, value range). This per-image variation is what a
 * re-identification network has to see through.
 */
/** Attenuation that maps to about 76% brightness (tanh 1) before the per-image gain. */
const TONE_SCALE = 2.2;

export type Photometric = 'MONOCHROME1' | 'MONOCHROME2';
export type PhotometricOption = Photometric | 'mixed';
export type Modality = 'CR' | 'DX';

export interface Acquisition {
  modality: Modality;
  photometric: Photometric;
  bitsStored: 12 | 14 | 16;
  /** Image-frame shift (field of view units, [-1, 1] spans the image), rotation (radians), magnification. */
  tx: number;
  ty: number;
  rotation: number;
  scale: number;
  /** Shift of the diaphragm (patient frame units); negative = deeper breath. */
  inspiration: number;
  /** Processing: attenuation gain, tone curve exponent, noise level, blur share. */
  gain: number;
  gamma: number;
  /** Unsharp-mask strength of the console's frequency processing. */
  enhance: number;
  noise: number;
  blur: number;
  /** Stored value range as fractions of the full scale. */
  low: number;
  high: number;
  /** Collimator shutters (image fraction covered on each side), or none. */
  shutters: { left: number; right: number; top: number; bottom: number } | null;
  kvp: number;
  mas: number;
}

export function drawAcquisition(rng: Rng, photometric: PhotometricOption): Acquisition {
  const modality: Modality = rng.chance(0.45) ? 'CR' : 'DX';
  const pm: Photometric =
    photometric === 'mixed' ? (rng.chance(modality === 'CR' ? 0.55 : 0.3) ? 'MONOCHROME1' : 'MONOCHROME2') : photometric;
  const bitsStored = rng.pick([12, 12, 14, 16] as const);
  return {
    modality,
    photometric: pm,
    bitsStored,
    tx: rng.clampedNormal(0, 0.025, -0.06, 0.06),
    ty: rng.clampedNormal(0, 0.025, -0.06, 0.06),
    rotation: (rng.clampedNormal(0, 1.4, -4, 4) * Math.PI) / 180,
    scale: rng.uniform(0.93, 1.05),
    inspiration: rng.clampedNormal(0, 0.02, -0.04, 0.04),
    gain: rng.uniform(0.9, 1.12),
    gamma: rng.uniform(0.9, 1.25),
    enhance: rng.uniform(0.15, 0.45),
    noise: rng.uniform(0.008, 0.022),
    blur: rng.uniform(0, 0.7),
    low: rng.uniform(0.02, 0.1),
    high: rng.uniform(0.82, 0.97),
    shutters: rng.chance(0.3)
      ? { left: rng.uniform(0, 0.04), right: rng.uniform(0, 0.04), top: rng.uniform(0, 0.03), bottom: rng.uniform(0, 0.05) }
      : null,
    kvp: rng.pick([100, 110, 115, 120, 125]),
    mas: Math.round(rng.uniform(1.2, 4) * 10) / 10,
  };
}

/** Where patient point (x, y) lands in the image, in pixel coordinates (pixel i spans [i, i + 1)). */
export function imagePoint(acq: Acquisition, size: number, x: number, y: number): [number, number] {
  const c = Math.cos(acq.rotation);
  const s = Math.sin(acq.rotation);
  const ix = acq.scale * (c * x - s * y) + acq.tx;
  const iy = acq.scale * (s * x + c * y) + acq.ty;
  return [((ix + 1) / 2) * size, ((iy + 1) / 2) * size];
}

/**
 * Resample the patient-frame attenuation into the image and process it into display brightness 0..1
 * (1 = white: bone, 0 = black: air), as a CR/DX system's processed "for presentation" image.
 */
export function exposeImage(atten: Float32Array, grid: Grid, acq: Acquisition, size: number, rng: Rng): Float32Array {
  const out = new Float32Array(size * size);
  const c = Math.cos(-acq.rotation);
  const s = Math.sin(-acq.rotation);
  const n = grid.n;
  for (let j = 0; j < size; j++) {
    const iy = ((j + 0.5) / size) * 2 - 1 - acq.ty;
    for (let i = 0; i < size; i++) {
      const ix = ((i + 0.5) / size) * 2 - 1 - acq.tx;
      const x = (c * ix - s * iy) / acq.scale;
      const y = (s * ix + c * iy) / acq.scale;
      const gx = Math.min(n - 1.001, Math.max(0, grid.pix(x)));
      const gy = Math.min(n - 1.001, Math.max(0, grid.pix(y)));
      const x0 = Math.floor(gx);
      const y0 = Math.floor(gy);
      const fx = gx - x0;
      const fy = gy - y0;
      const k = y0 * n + x0;
      const a = atten[k] as number;
      const b = atten[k + 1] as number;
      const cc = atten[k + n] as number;
      const d = atten[k + n + 1] as number;
      const v = (a + (b - a) * fx) * (1 - fy) + (cc + (d - cc) * fx) * fy;
      // Processed CR/DX output is close to linear in log exposure, i.e. in attenuation, with a soft shoulder.
      out[j * size + i] = Math.pow(Math.tanh(Math.max(0, acq.gain * v) / TONE_SCALE), acq.gamma);
    }
  }
  // Frequency processing as CR/DX consoles do it: boost detail against a large-scale background, which
  // compresses the range between lungs and mediastinum and sharpens edges.
  if (acq.enhance > 0) {
    const low = out.slice();
    boxBlur(low, size, Math.max(2, Math.round(size / 24)), 2);
    for (let k = 0; k < out.length; k++) {
      const v = out[k] as number;
      const l = low[k] as number;
      out[k] = v + acq.enhance * (v - l);
    }
  }
  if (acq.blur > 0) {
    const w = acq.blur * 0.5;
    const tmp = out.slice();
    for (let j = 1; j < size - 1; j++) {
      for (let i = 1; i < size - 1; i++) {
        const k = j * size + i;
        const mean = ((tmp[k - 1] as number) + (tmp[k + 1] as number) + (tmp[k - size] as number) + (tmp[k + size] as number)) / 4;
        out[k] = (tmp[k] as number) * (1 - w) + mean * w;
      }
    }
  }
  // Quantum noise: larger where fewer photons reach the detector (denser regions).
  for (let k = 0; k < out.length; k++) {
    const v = out[k] as number;
    out[k] = Math.min(1, Math.max(0, v + rng.normal(0, acq.noise * (0.6 + 0.8 * v))));
  }
  if (acq.shutters) {
    const sh = acq.shutters;
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < size; i++) {
        const fxp = (i + 0.5) / size;
        const fyp = (j + 0.5) / size;
        if (fxp < sh.left || fxp > 1 - sh.right || fyp < sh.top || fyp > 1 - sh.bottom) out[j * size + i] = 0.97;
      }
    }
  }
  return out;
}

/** Stored pixel values: display brightness mapped into [low, high] of the bit range, inverted for MONOCHROME1. */
export function storePixels(display: Float32Array, acq: Acquisition): Uint16Array {
  const max = 2 ** acq.bitsStored - 1;
  const lo = Math.round(acq.low * max);
  const hi = Math.round(acq.high * max);
  const out = new Uint16Array(display.length);
  const inv = acq.photometric === 'MONOCHROME1';
  for (let k = 0; k < display.length; k++) {
    const b = display[k] as number;
    out[k] = Math.round(lo + (inv ? 1 - b : b) * (hi - lo));
  }
  return out;
}

/** The VOI window a viewer should open the image with (the stored range). */
export function windowOf(acq: Acquisition): { center: number; width: number } {
  const max = 2 ** acq.bitsStored - 1;
  const lo = Math.round(acq.low * max);
  const hi = Math.round(acq.high * max);
  return { center: Math.round((lo + hi) / 2), width: hi - lo };
}
