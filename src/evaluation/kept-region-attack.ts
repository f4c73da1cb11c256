import type { GreyImage } from '../anonymizer/pixel/image-resize.js';

/**
 * A model-free linkage attack on what a release leaves unchanged. CXR-AnoFAIR copies its kept boxes pixel-exact
 * into the output, and a kept box carries more than its lesion (ribs, bone texture, implants, wires). The attacker
 * holds the originals of a cohort and is assumed to know which pixels were kept (the strongest assumption: the mask
 * is not published, but sharp seams and the method's boxes make it easy to estimate). For every released image,
 * the kept pixels are compared, by normalised cross-correlation over small shifts (positioning differs between
 * studies), with every other original at the same place; the best-scoring original names the patient.
 *
 * Studies also differ by a few degrees of rotation, so each original is also tried rotated (about its centre;
 * the shift search absorbs the rest). The search runs coarse to fine: every shift at half resolution, then the
 * best one refined at full resolution; on phantoms it finds the same rank-1 as searching every shift at full
 * resolution. Cost per pair and rotation is about shifts / 16 + 9 multiply-adds per kept pixel.
 */

export type Box = [number, number, number, number];

/** 'intensity': display values; 'high-pass': display values less their local mean, so that exposure and
 * processing differences between studies weigh less than edges and texture. */
export type AttackFeature = 'intensity' | 'high-pass';

export const ATTACK_FEATURES: readonly AttackFeature[] = ['intensity', 'high-pass'];

export interface KeptRegionAttackOptions {
  /** largest shift searched, in pixels of the image (default 8) */
  maxShift?: number;
  feature?: AttackFeature;
  /** rotations of the originals tried, in degrees (default [0]) */
  rotations?: readonly number[];
  /** called once per original compared with every released image */
  onOriginal?: () => void;
}

export interface AttackImage {
  patient: string;
  original: GreyImage;
  released: GreyImage;
  /** 1 where the released pixel is the original's, unchanged */
  kept: Uint8Array;
}

/** The pixels a CXR-AnoFAIR record says were released unchanged: the kept boxes less the burned-in text boxes. */
export function keptMaskOf(kept: readonly { box: readonly number[] }[], text: readonly (readonly number[])[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const fill = (b: readonly number[], value: number): void => {
    const [x0, y0, x1, y1] = [Math.max(0, b[0]!), Math.max(0, b[1]!), Math.min(width, b[2]!), Math.min(height, b[3]!)];
    for (let y = y0; y < y1; y++) if (x1 > x0) mask.fill(value, y * width + x0, y * width + x1);
  };
  for (const k of kept) fill(k.box, 1);
  for (const t of text) fill(t, 0);
  return mask;
}

/** The image rotated by `degrees` about its centre (bilinear, edges repeated). */
export function rotateGrey(img: GreyImage, degrees: number): GreyImage {
  if (degrees === 0) return img;
  const { width: w, height: h, data } = img;
  const out = new Float32Array(w * h);
  const c = Math.cos((degrees * Math.PI) / 180);
  const s = Math.sin((degrees * Math.PI) / 180);
  const cx = w / 2 - 0.5;
  const cy = h / 2 - 0.5;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = Math.min(w - 1, Math.max(0, c * (x - cx) + s * (y - cy) + cx));
      const v = Math.min(h - 1, Math.max(0, -s * (x - cx) + c * (y - cy) + cy));
      const x0 = Math.min(w - 2, Math.floor(u));
      const y0 = Math.min(h - 2, Math.floor(v));
      const fx = u - x0;
      const fy = v - y0;
      const top = data[y0 * w + x0]! * (1 - fx) + data[y0 * w + x0 + 1]! * fx;
      const bottom = data[(y0 + 1) * w + x0]! * (1 - fx) + data[(y0 + 1) * w + x0 + 1]! * fx;
      out[y * w + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { data: out, width: w, height: h };
}

/** Mean of each f x f block (the last partial row and column dropped). */
function downsample(data: Float32Array, w: number, h: number, f: number): { data: Float32Array; w: number; h: number } {
  const nw = Math.floor(w / f);
  const nh = Math.floor(h / f);
  const out = new Float32Array(nw * nh);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      let s = 0;
      for (let j = 0; j < f; j++) for (let i = 0; i < f; i++) s += data[(y * f + j) * w + x * f + i]!;
      out[y * nw + x] = s / (f * f);
    }
  }
  return { data: out, w: nw, h: nh };
}

/** A block is kept when all its pixels are: the coarse search uses no regenerated pixel. */
function downsampleMask(mask: Uint8Array, w: number, h: number, f: number): Uint8Array {
  const nw = Math.floor(w / f);
  const nh = Math.floor(h / f);
  const out = new Uint8Array(nw * nh);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      let all = 1;
      for (let j = 0; j < f && all; j++) for (let i = 0; i < f; i++) if (!mask[(y * f + j) * w + x * f + i]) all = 0;
      out[y * nw + x] = all;
    }
  }
  return out;
}

/** Box mean of radius r over the pixels where weight is 1 (normalised convolution); weight undefined: all pixels. */
function localMean(data: Float32Array, w: number, h: number, r: number, weight?: Uint8Array): Float32Array {
  const sum = new Float64Array((w + 1) * (h + 1));
  const cnt = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = weight ? weight[y * w + x]! : 1;
      const i = (y + 1) * (w + 1) + x + 1;
      sum[i] = (k ? data[y * w + x]! : 0) + sum[i - 1]! + sum[i - w - 1]! - sum[i - w - 2]!;
      cnt[i] = k + cnt[i - 1]! + cnt[i - w - 1]! - cnt[i - w - 2]!;
    }
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(h, y + r + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w, x + r + 1);
      const a = y1 * (w + 1) + x1;
      const b = y0 * (w + 1) + x1;
      const c = y1 * (w + 1) + x0;
      const d = y0 * (w + 1) + x0;
      const n = cnt[a]! - cnt[b]! - cnt[c]! + cnt[d]!;
      out[y * w + x] = n > 0 ? (sum[a]! - sum[b]! - sum[c]! + sum[d]!) / n : 0;
    }
  }
  return out;
}

/** The feature plane of an image; for a released image only its kept pixels enter (weight = kept mask). */
function feature(data: Float32Array, w: number, h: number, kind: AttackFeature, radius: number, weight?: Uint8Array): Float32Array {
  if (kind === 'intensity') return data;
  const m = localMean(data, w, h, radius, weight);
  return Float32Array.from(data, (v, i) => v - m[i]!);
}

/** A gallery original at one resolution: its feature plane padded by `pad` (edges repeated) and row prefix sums. */
interface GalleryPlane {
  w: number;
  pw: number;
  pad: number;
  plane: Float32Array;
  sum: Float64Array;
  sq: Float64Array;
}

function galleryPlane(f: Float32Array, w: number, h: number, pad: number): GalleryPlane {
  const pw = w + 2 * pad;
  const ph = h + 2 * pad;
  const plane = new Float32Array(pw * ph);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - pad));
    for (let x = 0; x < pw; x++) plane[y * pw + x] = f[sy * w + Math.min(w - 1, Math.max(0, x - pad))]!;
  }
  const sum = new Float64Array((pw + 1) * ph);
  const sq = new Float64Array((pw + 1) * ph);
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      const v = plane[y * pw + x]!;
      sum[y * (pw + 1) + x + 1] = sum[y * (pw + 1) + x]! + v;
      sq[y * (pw + 1) + x + 1] = sq[y * (pw + 1) + x]! + v * v;
    }
  }
  return { w, pw, pad, plane, sum, sq };
}

/** A released image's kept pixels at one resolution: horizontal runs and the zero-mean, unit-norm values on them. */
interface QueryRuns {
  runs: Int32Array; // y, x0, x1 per run
  values: Float32Array;
  n: number;
}

function queryRuns(f: Float32Array, mask: Uint8Array, w: number, h: number): QueryRuns | undefined {
  const runs: number[] = [];
  const vals: number[] = [];
  for (let y = 0; y < h; y++) {
    let x = 0;
    while (x < w) {
      if (!mask[y * w + x]) {
        x++;
        continue;
      }
      const x0 = x;
      while (x < w && mask[y * w + x]) vals.push(f[y * w + x++]!);
      runs.push(y, x0, x);
    }
  }
  const n = vals.length;
  if (n < 4) return undefined;
  const mean = vals.reduce((a, b) => a + b, 0) / n;
  let norm = 0;
  for (const v of vals) norm += (v - mean) ** 2;
  if (norm < 1e-12) return undefined;
  const s = 1 / Math.sqrt(norm);
  return { runs: Int32Array.from(runs), values: Float32Array.from(vals, (v) => (v - mean) * s), n };
}

/** Normalised cross-correlation of the query's kept pixels with the gallery plane shifted by (dx, dy). */
function ncc(q: QueryRuns, g: GalleryPlane, dx: number, dy: number): number {
  const { runs, values, n } = q;
  const { pw, pad, plane, sum, sq } = g;
  let num = 0;
  let s1 = 0;
  let s2 = 0;
  let k = 0;
  for (let r = 0; r < runs.length; r += 3) {
    const row = runs[r]! + dy + pad;
    const x0 = runs[r + 1]! + dx + pad;
    const x1 = runs[r + 2]! + dx + pad;
    const base = row * pw;
    for (let x = x0; x < x1; x++) num += values[k++]! * plane[base + x]!;
    const pb = row * (pw + 1);
    s1 += sum[pb + x1]! - sum[pb + x0]!;
    s2 += sq[pb + x1]! - sq[pb + x0]!;
  }
  const variance = s2 - (s1 * s1) / n;
  return variance > 1e-12 ? num / Math.sqrt(variance) : 0;
}

/** Local-mean radius of the high-pass feature at full resolution (half of it at the coarse level): a few
 * pixels, the scale of rib edges and trabecular texture, measured best of 1 to 8 on phantoms. */
const HIGH_PASS_RADIUS = 2;

interface PreparedQuery {
  w: number;
  h: number;
  fine?: QueryRuns;
  coarse?: QueryRuns;
}

function prepareQuery(img: AttackImage, kind: AttackFeature): PreparedQuery {
  const { width: w, height: h } = img.released;
  const fine = queryRuns(feature(img.released.data, w, h, kind, HIGH_PASS_RADIUS, img.kept), img.kept, w, h);
  const mask = downsampleMask(img.kept, w, h, 2);
  const d = downsample(img.released.data, w, h, 2);
  // thin kept regions may have no whole block at half resolution: then the fine search covers every shift
  const coarse = queryRuns(feature(d.data, d.w, d.h, kind, HIGH_PASS_RADIUS / 2, mask), mask, d.w, d.h);
  return { w, h, ...(fine ? { fine } : {}), ...(coarse ? { coarse } : {}) };
}

/** Best NCC of one query against one original's planes: every shift at half resolution, the best refined. */
function bestMatch(q: PreparedQuery, fine: GalleryPlane, coarse: GalleryPlane, maxShift: number): number {
  const coarseShift = Math.ceil(maxShift / 2);
  let cx = 0;
  let cy = 0;
  let radius = maxShift;
  if (q.coarse) {
    let best = -Infinity;
    for (let dy = -coarseShift; dy <= coarseShift; dy++) {
      for (let dx = -coarseShift; dx <= coarseShift; dx++) {
        const v = ncc(q.coarse, coarse, dx, dy);
        if (v > best) [best, cx, cy] = [v, 2 * dx, 2 * dy];
      }
    }
    radius = 1;
  }
  let best = -Infinity;
  for (let dy = Math.max(-maxShift, cy - radius); dy <= Math.min(maxShift, cy + radius); dy++) {
    for (let dx = Math.max(-maxShift, cx - radius); dx <= Math.min(maxShift, cx + radius); dx++) {
      const v = ncc(q.fine!, fine, dx, dy);
      if (v > best) best = v;
    }
  }
  return best;
}

/**
 * Similarity of every released image (rows) to every original (columns): the best NCC over shifts up to
 * maxShift and the rotations given, NaN on the diagonal (the image's own source is not in the gallery), 0 for
 * an image that kept (almost) nothing, which gives the attacker nothing to rank by. One original's planes are
 * built at a time, so memory does not grow with the rotations.
 */
export function keptRegionScores(images: readonly AttackImage[], options: KeptRegionAttackOptions = {}): Float32Array {
  const n = images.length;
  const maxShift = options.maxShift ?? 8;
  const kind = options.feature ?? 'intensity';
  const rotations = options.rotations ?? [0];
  const queries = images.map((img) => prepareQuery(img, kind));
  const scores = new Float32Array(n * n);
  for (let g = 0; g < n; g++) {
    scores[g * n + g] = Number.NaN;
    const original = images[g]!.original;
    const { width: w, height: h } = original;
    for (const degrees of rotations) {
      const rotated = rotateGrey(original, degrees);
      const fine = galleryPlane(feature(rotated.data, w, h, kind, HIGH_PASS_RADIUS), w, h, maxShift + 2);
      const d = downsample(rotated.data, w, h, 2);
      const coarse = galleryPlane(feature(d.data, d.w, d.h, kind, HIGH_PASS_RADIUS / 2), d.w, d.h, Math.ceil(maxShift / 2) + 1);
      for (let q = 0; q < n; q++) {
        const query = queries[q]!;
        if (q === g || !query.fine || query.w !== w || query.h !== h) continue;
        const v = bestMatch(query, fine, coarse, maxShift);
        const k = q * n + g;
        if (degrees === rotations[0] || v > scores[k]!) scores[k] = v;
      }
    }
    options.onOriginal?.();
  }
  return scores;
}

/** Each row standardised over its gallery (score-normalisation: thresholds then mean the same for every query). */
export function standardiseRows(scores: Float32Array, n: number): Float32Array {
  const out = new Float32Array(scores.length);
  for (let q = 0; q < n; q++) {
    let s = 0;
    let s2 = 0;
    let m = 0;
    for (let g = 0; g < n; g++) {
      const v = scores[q * n + g]!;
      if (Number.isNaN(v)) continue;
      s += v;
      s2 += v * v;
      m++;
    }
    const mean = m ? s / m : 0;
    const sd = m ? Math.sqrt(Math.max(0, s2 / m - mean * mean)) : 0;
    for (let g = 0; g < n; g++) {
      const v = scores[q * n + g]!;
      out[q * n + g] = Number.isNaN(v) ? Number.NaN : sd > 1e-9 ? (v - mean) / sd : 0;
    }
  }
  return out;
}

export interface QueryLinkage {
  /** probability that the attacker's first guess is another image of the patient (ties broken at random) */
  rank1: number;
  /** the same for a random ranking: same-patient images in the gallery / gallery size */
  chance: number;
}

/**
 * Rank-1 linkage of each released image from a score matrix (rows: released, columns: originals; NaN = not in
 * the gallery). Undefined for an image whose patient has no other image in the gallery: it cannot be linked.
 */
export function queryLinkage(scores: Float32Array, patients: readonly string[]): (QueryLinkage | undefined)[] {
  const n = patients.length;
  return patients.map((patient, q) => {
    let top = -Infinity;
    let tied = 0;
    let tiedSame = 0;
    let gallery = 0;
    let same = 0;
    for (let g = 0; g < n; g++) {
      const v = scores[q * n + g]!;
      if (Number.isNaN(v)) continue;
      gallery++;
      const isSame = patients[g] === patient;
      if (isSame) same++;
      if (v > top) [top, tied, tiedSame] = [v, 1, isSame ? 1 : 0];
      else if (v === top) {
        tied++;
        if (isSame) tiedSame++;
      }
    }
    if (same === 0 || gallery === 0) return undefined;
    return { rank1: tiedSame / tied, chance: same / gallery };
  });
}
