import { Rng } from './rng.js';

/**
 * A square raster over the patient frame: n x n pixels covering [-half, half] in x and y. All anatomy and
 * findings are drawn on one of these (the "canonical" grid, larger than the image's field of view so that a
 * shifted, rotated or zoomed image never runs off it), then resampled into each image.
 */
export class Grid {
  readonly step: number;
  constructor(
    readonly n: number,
    readonly half: number,
  ) {
    this.step = (2 * half) / n;
  }

  /** Patient coordinate of pixel centre i. */
  coord(i: number): number {
    return (i + 0.5) * this.step - this.half;
  }

  /** Continuous pixel index (centre = integer) of patient coordinate v. */
  pix(v: number): number {
    return (v + this.half) / this.step - 0.5;
  }

  /** Pixel index range [lo, hi] covering patient interval [a, b], clipped to the grid. */
  range(a: number, b: number): [number, number] {
    const lo = Math.max(0, Math.floor(this.pix(Math.min(a, b))));
    const hi = Math.min(this.n - 1, Math.ceil(this.pix(Math.max(a, b))));
    return [lo, hi];
  }

  alloc(): Float32Array {
    return new Float32Array(this.n * this.n);
  }
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/**
 * Fill a closed polygon (patient coordinates) with horizontal anti-aliasing: for each pixel row the crossings at
 * the row centre are found and the covered span written with fractional coverage at its ends. Combine with
 * `max` so that overlapping shapes do not add up.
 */
export function fillPolygon(grid: Grid, pts: ReadonlyArray<readonly [number, number]>, out: Float32Array, value = 1): void {
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [, y] of pts) {
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const [j0, j1] = grid.range(minY, maxY);
  const xs: number[] = [];
  for (let j = j0; j <= j1; j++) {
    const y = grid.coord(j);
    xs.length = 0;
    for (let k = 0; k < pts.length; k++) {
      const a = pts[k] as readonly [number, number];
      const b = pts[(k + 1) % pts.length] as readonly [number, number];
      if ((a[1] <= y && b[1] > y) || (b[1] <= y && a[1] > y)) {
        xs.push(a[0] + ((y - a[1]) / (b[1] - a[1])) * (b[0] - a[0]));
      }
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const pa = grid.pix(xs[k] as number) + 0.5;
      const pb = grid.pix(xs[k + 1] as number) + 0.5;
      const i0 = Math.max(0, Math.floor(pa));
      const i1 = Math.min(grid.n - 1, Math.floor(pb));
      for (let i = i0; i <= i1; i++) {
        const cover = Math.min(i + 1, pb) - Math.max(i, pa);
        if (cover <= 0) continue;
        const idx = j * grid.n + i;
        const v = value * Math.min(1, cover);
        if (v > (out[idx] as number)) out[idx] = v;
      }
    }
  }
}

/** Separable box blur of radius r (pixels), `passes` times (3 passes approximate a Gaussian). In place. */
export function boxBlur(data: Float32Array, n: number, r: number, passes = 1): void {
  if (r < 1) return;
  const tmp = new Float32Array(n);
  const w = 2 * r + 1;
  for (let p = 0; p < passes; p++) {
    for (let j = 0; j < n; j++) {
      const row = j * n;
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += data[row + Math.min(n - 1, Math.max(0, k))] as number;
      for (let i = 0; i < n; i++) {
        tmp[i] = acc / w;
        acc += (data[row + Math.min(n - 1, i + r + 1)] as number) - (data[row + Math.max(0, i - r)] as number);
      }
      data.set(tmp, row);
    }
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += data[Math.min(n - 1, Math.max(0, k)) * n + i] as number;
      for (let j = 0; j < n; j++) {
        tmp[j] = acc / w;
        acc += (data[Math.min(n - 1, j + r + 1) * n + i] as number) - (data[Math.max(0, j - r) * n + i] as number);
      }
      for (let j = 0; j < n; j++) data[j * n + i] = tmp[j] as number;
    }
  }
}

/** Fractal value noise in about [-1, 1], cell sizes in patient units, drawn from `rng`. */
export function valueNoise(grid: Grid, rng: Rng, cells: number[], weights: number[]): Float32Array {
  const out = grid.alloc();
  const n = grid.n;
  cells.forEach((cell, o) => {
    const m = Math.ceil((2 * grid.half) / cell) + 2;
    const lattice = new Float32Array(m * m);
    for (let k = 0; k < lattice.length; k++) lattice[k] = rng.next() * 2 - 1;
    const w = weights[o] ?? 1;
    const fx = new Int32Array(n);
    const tx = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const g = (grid.coord(i) + grid.half) / cell;
      fx[i] = Math.floor(g);
      const t = g - Math.floor(g);
      tx[i] = t * t * (3 - 2 * t);
    }
    for (let j = 0; j < n; j++) {
      const y0 = fx[j] as number;
      const ty = tx[j] as number;
      for (let i = 0; i < n; i++) {
        const x0 = fx[i] as number;
        const t = tx[i] as number;
        const a = lattice[y0 * m + x0] as number;
        const b = lattice[y0 * m + x0 + 1] as number;
        const c = lattice[(y0 + 1) * m + x0] as number;
        const d = lattice[(y0 + 1) * m + x0 + 1] as number;
        const top = a + (b - a) * t;
        const bot = c + (d - c) * t;
        out[j * n + i] = (out[j * n + i] as number) + w * (top + (bot - top) * ty);
      }
    }
  });
  return out;
}

/** Add a thick line segment (patient coords) with a cylinder profile: value * sqrt(1 - (d/r)^2). */
export function addSegment(
  grid: Grid,
  out: Float32Array,
  ax: number,
  ay: number,
  bx: number,
  by: number,
  radius: number,
  value: number,
  tube = false,
): void {
  const r = Math.max(radius, grid.step * 0.5);
  const [i0, i1] = grid.range(Math.min(ax, bx) - r, Math.max(ax, bx) + r);
  const [j0, j1] = grid.range(Math.min(ay, by) - r, Math.max(ay, by) + r);
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy || 1e-12;
  // Thin lines lose contrast in proportion to their width below a pixel, as a real detector would show them.
  const thin = Math.min(1, radius / (grid.step * 0.5));
  for (let j = j0; j <= j1; j++) {
    const y = grid.coord(j);
    for (let i = i0; i <= i1; i++) {
      const x = grid.coord(i);
      const t = Math.min(1, Math.max(0, ((x - ax) * dx + (y - ay) * dy) / len2));
      const ex = x - (ax + t * dx);
      const ey = y - (ay + t * dy);
      const d = Math.sqrt(ex * ex + ey * ey);
      if (d >= r + grid.step * 0.5) continue;
      const q = Math.min(1, d / r);
      let v = Math.sqrt(Math.max(0, 1 - q * q));
      if (tube) v = 0.35 + 0.65 * q * q * v + 0.3 * v; // a hollow tube: brighter walls
      // Anti-alias the outer half pixel.
      v *= clamp01((r + grid.step * 0.5 - d) / grid.step);
      const idx = j * grid.n + i;
      out[idx] = (out[idx] as number) + value * thin * Math.max(v, d < r ? 0.25 : 0);
    }
  }
}

/** Add an ellipse (rotated by `angle`) with a dome profile value * (1 - e^2)^power and an anti-aliased rim. */
export function addEllipse(
  grid: Grid,
  out: Float32Array,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  angle: number,
  value: number,
  power = 0.5,
): void {
  const rmax = Math.max(rx, ry);
  const [i0, i1] = grid.range(cx - rmax, cx + rmax);
  const [j0, j1] = grid.range(cy - rmax, cy + rmax);
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const edge = grid.step / Math.min(rx, ry);
  for (let j = j0; j <= j1; j++) {
    const y = grid.coord(j) - cy;
    for (let i = i0; i <= i1; i++) {
      const x = grid.coord(i) - cx;
      const u = (x * c + y * s) / rx;
      const v = (-x * s + y * c) / ry;
      const e2 = u * u + v * v;
      if (e2 >= (1 + edge) * (1 + edge)) continue;
      const e = Math.sqrt(e2);
      const rim = clamp01((1 + edge * 0.5 - e) / edge);
      const dome = Math.pow(Math.max(0, 1 - Math.min(1, e2)), power);
      const idx = j * grid.n + i;
      out[idx] = (out[idx] as number) + value * Math.max(dome, 0.15) * rim;
    }
  }
}
