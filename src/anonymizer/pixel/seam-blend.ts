/**
 * Seams between kept and regenerated pixels, harmonised without touching a kept pixel. The generated image
 * near a kept region is shifted by a smooth offset: the local average of (kept original - generated) over the
 * kept pixels within the band, fading to nothing at the band's outer edge. The offset is made only from kept
 * pixels (released anyway) and generated ones, so no pixel of the original outside the kept regions enters the
 * output, and it is low-frequency, so it matches brightness at the border without copying texture across it.
 */

/** Box blur of radius r (2r + 1 wide) along rows then columns, with the edges clamped; O(pixels) whatever r. */
function boxBlur(src: Float32Array, width: number, height: number, r: number): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const span = 2 * r + 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let i = -r; i <= r; i++) sum += src[row + Math.min(width - 1, Math.max(0, i))]!;
    for (let x = 0; x < width; x++) {
      tmp[row + x] = sum / span;
      sum += src[row + Math.min(width - 1, x + r + 1)]! - src[row + Math.max(0, x - r)]!;
    }
  }
  for (let x = 0; x < width; x++) {
    let sum = 0;
    for (let i = -r; i <= r; i++) sum += tmp[Math.min(height - 1, Math.max(0, i)) * width + x]!;
    for (let y = 0; y < height; y++) {
      out[y * width + x] = sum / span;
      sum += tmp[Math.min(height - 1, y + r + 1) * width + x]! - tmp[Math.max(0, y - r) * width + x]!;
    }
  }
  return out;
}

/** Two box blurs of radius r/2: close to a Gaussian, reaching about r pixels. */
function smooth(src: Float32Array, width: number, height: number, r: number): Float32Array {
  const half = Math.max(1, Math.round(r / 2));
  return boxBlur(boxBlur(src, width, height, half), width, height, half);
}

/**
 * The output stored values: kept pixels (keep[i] = 1) exactly the original's, the others the generated value
 * plus the fading seam offset, clamped to [lo, hi]. `band` is the offset's reach in pixels (0: no blending).
 */
export function harmoniseSeams(original: Int32Array, generated: Int32Array, keep: Uint8Array, width: number, height: number, band: number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(original.length);
  let anyKept = false;
  for (let i = 0; i < keep.length; i++) if (keep[i]) anyKept = true;
  if (!anyKept || band < 1) {
    for (let i = 0; i < out.length; i++) out[i] = keep[i] ? original[i]! : generated[i]!;
    return out;
  }
  const weight = new Float32Array(keep.length);
  const diff = new Float32Array(keep.length);
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) {
      weight[i] = 1;
      diff[i] = original[i]! - generated[i]!;
    }
  }
  const w = smooth(weight, width, height, band);
  const d = smooth(diff, width, height, band);
  for (let i = 0; i < out.length; i++) {
    if (keep[i]) {
      out[i] = original[i]!;
      continue;
    }
    const near = w[i]!;
    if (near < 1e-4) {
      out[i] = generated[i]!;
      continue;
    }
    // full offset at the border (where about half the neighbourhood is kept), none at the band's edge
    const alpha = Math.min(1, 2 * near);
    const v = Math.round(generated[i]! + (alpha * d[i]!) / near);
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}
