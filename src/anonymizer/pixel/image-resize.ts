/**
 * Resampling of grey float images (row-major, one value per pixel) between a radiograph's own size and a model's.
 * Going down averages the source pixels each target pixel covers (no aliasing of fine texture into the model's
 * input); going up interpolates bilinearly, pixel centres aligned, as torch's align_corners=False.
 */

export interface GreyImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** Area average along one axis from n to m samples (m <= n), as weights per target sample. */
function areaWeights(n: number, m: number): { start: number; weights: number[] }[] {
  const scale = n / m;
  const out: { start: number; weights: number[] }[] = [];
  for (let j = 0; j < m; j++) {
    const a = j * scale;
    const b = (j + 1) * scale;
    const start = Math.floor(a);
    const weights: number[] = [];
    for (let i = start; i < Math.min(n, Math.ceil(b)); i++) weights.push((Math.min(b, i + 1) - Math.max(a, i)) / scale);
    out.push({ start, weights });
  }
  return out;
}

/** Bilinear taps along one axis from n to m samples. */
function linearTaps(n: number, m: number): { i0: number; i1: number; f: number }[] {
  const scale = n / m;
  const out: { i0: number; i1: number; f: number }[] = [];
  for (let j = 0; j < m; j++) {
    const x = Math.min(n - 1, Math.max(0, (j + 0.5) * scale - 0.5));
    const i0 = Math.floor(x);
    out.push({ i0, i1: Math.min(n - 1, i0 + 1), f: x - i0 });
  }
  return out;
}

function resampleRows(src: Float32Array, w: number, h: number, nw: number, mode: ResizeMode): Float32Array {
  const out = new Float32Array(nw * h);
  if (nw <= w && mode === 'area') {
    const taps = areaWeights(w, nw);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < nw; x++) {
        const { start, weights } = taps[x]!;
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * src[row + start + k]!;
        out[y * nw + x] = s;
      }
    }
  } else {
    const taps = linearTaps(w, nw);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < nw; x++) {
        const { i0, i1, f } = taps[x]!;
        out[y * nw + x] = src[row + i0]! * (1 - f) + src[row + i1]! * f;
      }
    }
  }
  return out;
}

function transpose(src: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + y] = src[y * w + x]!;
  return out;
}

/** 'area' averages when shrinking (default); 'bilinear' always interpolates, as a model's own preprocessing may. */
export type ResizeMode = 'area' | 'bilinear';

/** Resize to width x height (separable: rows, then columns). */
export function resizeGrey(img: GreyImage, width: number, height: number, mode: ResizeMode = 'area'): GreyImage {
  if (img.width === width && img.height === height) return { data: Float32Array.from(img.data), width, height };
  const rows = resampleRows(img.data, img.width, img.height, width, mode);
  const cols = resampleRows(transpose(rows, width, img.height), img.height, width, height, mode);
  return { data: transpose(cols, height, width), width, height };
}

/** 8-bit grey bytes of a 0..1 image (clamped), for pictures and reports. */
export function greyBytes(data: Float32Array): Buffer {
  return Buffer.from(Uint8Array.from(data, (v) => Math.round(255 * Math.min(1, Math.max(0, v)))));
}
