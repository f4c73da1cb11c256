import type { ChestState, FindingEffects } from './anatomy.js';
import type { Acquisition } from './acquisition.js';
import { imagePoint } from './acquisition.js';
import { addEllipse, clamp01, smoothstep, valueNoise } from './raster.js';
import type { Rng } from './rng.js';

/**
 * Findings drawn into the chest with exact ground truth. Each finding changes the attenuation through the
 * effect layers (extra density, fluid replacing air, pneumothorax) and records its support on the canonical
 * grid; the box in image pixels is the bounding box of that support after the image's own shift, rotation and
 * zoom, so it is tight whatever the position.
 */
export const FINDING_CLASSES = ['nodule', 'mass', 'effusion', 'cardiomegaly', 'consolidation', 'pneumothorax'] as const;
export type FindingLabel = (typeof FINDING_CLASSES)[number];

/** Relative frequency of each finding among abnormal images. */
const WEIGHTS: Record<FindingLabel, number> = {
  nodule: 1,
  mass: 0.75,
  effusion: 0.9,
  cardiomegaly: 0.8,
  consolidation: 0.9,
  pneumothorax: 0.7,
};

export interface FindingPlan {
  labels: FindingLabel[];
  /** Cardiothoracic ratio of an enlarged heart (cardiomegaly), or null for the patient's own normal heart (0.37-0.5). */
  cardiothoracicRatio: number | null;
}

export interface DrawnFinding {
  label: FindingLabel;
  /** Canonical-grid pixels (index j * n + i) that belong to the finding. */
  support: Uint32Array;
}

/** Which findings an image has: about 40% are normal; the others have one to three different findings. */
export function planFindings(rng: Rng, normalShare: number): FindingPlan {
  const labels: FindingLabel[] = [];
  if (!rng.chance(normalShare)) {
    const r = rng.next();
    const count = r < 0.65 ? 1 : r < 0.92 ? 2 : 3;
    const pool = [...FINDING_CLASSES];
    while (labels.length < count) {
      const total = pool.reduce((s, l) => s + WEIGHTS[l], 0);
      let x = rng.next() * total;
      const k = pool.findIndex((l) => (x -= WEIGHTS[l]) < 0);
      const [label] = pool.splice(k < 0 ? pool.length - 1 : k, 1);
      if (label) labels.push(label);
    }
    // Extra nodules: nodules are often multiple.
    if (labels.includes('nodule') && rng.chance(0.2)) labels.push('nodule');
  }
  labels.sort((a, b) => FINDING_CLASSES.indexOf(a) - FINDING_CLASSES.indexOf(b));
  return { labels, cardiothoracicRatio: labels.includes('cardiomegaly') ? rng.uniform(0.56, 0.66) : null };
}

interface Occupied {
  x: number;
  y: number;
  r: number;
}

export function drawFindings(rng: Rng, plan: FindingPlan, chest: ChestState, fx: FindingEffects): DrawnFinding[] {
  const out: DrawnFinding[] = [];
  const taken: Occupied[] = [];
  // Diffuse findings first, so that focal ones are placed in lung that is still aerated.
  const order: FindingLabel[] = ['effusion', 'pneumothorax', 'cardiomegaly', 'consolidation', 'mass', 'nodule'];
  const labels = [...plan.labels].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  for (const label of labels) {
    switch (label) {
      case 'nodule':
        out.push(drawRound(rng, chest, fx, taken, label, rng.uniform(0.042, 0.06), rng.uniform(0.5, 0.65), 0.08));
        break;
      case 'mass':
        out.push(drawRound(rng, chest, fx, taken, label, rng.uniform(0.085, 0.13), rng.uniform(0.5, 0.62), 0.18));
        break;
      case 'consolidation':
        out.push(drawConsolidation(rng, chest, fx, taken));
        break;
      case 'effusion':
        out.push(drawEffusion(rng, chest, fx, taken));
        break;
      case 'pneumothorax':
        out.push(drawPneumothorax(rng, chest, fx, taken));
        break;
      case 'cardiomegaly':
        out.push(heartSupport(chest));
        break;
    }
  }
  return out;
}

/** A point well inside a lung, clear of the heart and of earlier findings. */
function pickLungPoint(
  rng: Rng,
  chest: ChestState,
  fx: FindingEffects,
  r: number, taken: Occupied[], side?: -1 | 1, yBand?: [number, number]): [number, number] {
  const g = chest.grid;
  const at = (x: number, y: number): number => {
    const i = Math.round(g.pix(x));
    const j = Math.round(g.pix(y));
    if (i < 0 || j < 0 || i >= g.n || j >= g.n) return 0;
    return chest.lungMask[j * g.n + i] as number;
  };
  const heartAt = (x: number, y: number): number => {
    const i = Math.round(g.pix(x));
    const j = Math.round(g.pix(y));
    return chest.heart[j * g.n + i] ?? 1;
  };
  const clear = (x: number, y: number): boolean => {
    const i = Math.round(g.pix(x));
    const j = Math.round(g.pix(y));
    const k = j * g.n + i;
    return (fx.fill[k] ?? 1) < 0.05 && (fx.ptx[k] ?? 1) < 0.05;
  };
  for (let attempt = 0; attempt < 400; attempt++) {
    const s = side ?? (rng.chance(0.5) ? -1 : 1);
    const x = chest.geometry.centre + s * rng.uniform(0.1, 0.85);
    const y = yBand ? rng.uniform(yBand[0], yBand[1]) : rng.uniform(-0.7, 0.5);
    const rr = attempt > 300 ? r * 0.6 : r;
    if (at(x, y) < 0.95 || heartAt(x, y) > 0.1 || !clear(x, y)) continue;
    let inside = true;
    for (let t = 0; t < 12 && inside; t++) {
      const a = (t / 12) * Math.PI * 2;
      const px = x + rr * 1.1 * Math.cos(a);
      const py = y + rr * 1.1 * Math.sin(a);
      if (at(px, py) < 0.9 || heartAt(px, py) > 0.2 || !clear(px, py)) inside = false;
    }
    if (!inside) continue;
    if (taken.some((o) => Math.hypot(o.x - x, o.y - y) < o.r + rr + 0.03)) continue;
    return [x, y];
  }
  // The lungs always have room for one finding of these sizes; this is the fallback for crowded images.
  return [chest.geometry.centre + (side ?? -1) * 0.45, -0.25];
}

function drawRound(
  rng: Rng,
  chest: ChestState,
  fx: FindingEffects,
  taken: Occupied[],
  label: FindingLabel,
  radius: number,
  amp: number,
  lobulation: number,
): DrawnFinding {
  const g = chest.grid;
  const [cx, cy] = pickLungPoint(rng, chest, fx, radius * (1 + lobulation), taken);
  taken.push({ x: cx, y: cy, r: radius * (1 + lobulation) });
  const ph1 = rng.uniform(0, 6.3);
  const ph2 = rng.uniform(0, 6.3);
  const l1 = rng.uniform(0.3, 1) * lobulation;
  const l2 = rng.uniform(0.2, 0.8) * lobulation;
  const rmax = radius * (1 + l1 + l2) + g.step;
  const [i0, i1] = g.range(cx - rmax, cx + rmax);
  const [j0, j1] = g.range(cy - rmax, cy + rmax);
  const support: number[] = [];
  for (let j = j0; j <= j1; j++) {
    const y = g.coord(j) - cy;
    for (let i = i0; i <= i1; i++) {
      const x = g.coord(i) - cx;
      const th = Math.atan2(y, x);
      const r = radius * (1 + l1 * Math.sin(3 * th + ph1) + l2 * Math.sin(5 * th + ph2));
      const d = Math.hypot(x, y) / r;
      if (d >= 1 + g.step / r) continue;
      const rim = clamp01((1 - d) / (g.step / r) + 0.5);
      const v = amp * (0.35 + 0.65 * Math.sqrt(Math.max(0, 1 - d * d))) * rim;
      const k = j * g.n + i;
      fx.add[k] = (fx.add[k] as number) + v;
      if (rim >= 0.5) support.push(k);
    }
  }
  return { label, support: Uint32Array.from(support) };
}

function drawConsolidation(rng: Rng, chest: ChestState, fx: FindingEffects, taken: Occupied[]): DrawnFinding {
  const g = chest.grid;
  const sx = rng.uniform(0.1, 0.17);
  const sy = rng.uniform(0.1, 0.18);
  const [cx, cy] = pickLungPoint(rng, chest, fx, Math.min(sx, sy) * 0.8, taken, undefined, [-0.45, 0.35]);
  taken.push({ x: cx, y: cy, r: Math.max(sx, sy) });
  const blobs: Array<[number, number, number]> = [];
  // Airspace disease spreads along a segment: several overlapping acinar clusters, not one round lump.
  const axis = rng.uniform(0, Math.PI);
  for (let b = 0; b < 8; b++) {
    const t = rng.normal(0, 0.55);
    blobs.push([cx + Math.cos(axis) * t * sx + rng.normal(0, sx * 0.25), cy + Math.sin(axis) * t * sy + rng.normal(0, sy * 0.25), rng.uniform(0.35, 0.75)]);
  }
  const noise = valueNoise(g, rng, [0.03, 0.06], [0.6, 0.4]);
  // Air bronchograms: lucent branching tubes inside the opacity.
  const bronchi = g.alloc();
  for (let t = 0; t < 3; t++) {
    let x = cx + rng.normal(0, sx * 0.2);
    let y = cy + rng.normal(0, sy * 0.2);
    let dir = rng.uniform(0, Math.PI * 2);
    for (let s = 0; s < 6; s++) {
      const nx = x + Math.cos(dir) * 0.025;
      const ny = y + Math.sin(dir) * 0.025;
      addEllipse(g, bronchi, (x + nx) / 2, (y + ny) / 2, 0.016, 0.006, dir, 1, 0.3);
      x = nx;
      y = ny;
      dir += rng.normal(0, 0.25);
    }
  }
  const [i0, i1] = g.range(cx - sx * 2, cx + sx * 2);
  const [j0, j1] = g.range(cy - sy * 2, cy + sy * 2);
  const support: number[] = [];
  for (let j = j0; j <= j1; j++) {
    const y = g.coord(j);
    for (let i = i0; i <= i1; i++) {
      const x = g.coord(i);
      let field = 0;
      for (const [bx, by, w] of blobs) field += w * Math.exp(-(((x - bx) / sx) ** 2 + ((y - by) / sy) ** 2) * 3.5);
      const k = j * g.n + i;
      const m = smoothstep(0.2, 0.7, field + 0.4 * (noise[k] as number));
      if (m <= 0) continue;
      const lung = chest.lungMask[k] as number;
      const v = 0.72 * m * (0.8 + 0.2 * (noise[k] as number)) * (1 - 0.5 * Math.min(1, bronchi[k] as number));
      fx.fill[k] = Math.max(fx.fill[k] as number, v);
      if (m * lung >= 0.35) support.push(k);
    }
  }
  return { label: 'consolidation', support: Uint32Array.from(support) };
}

/** Side-specific extent of a lung on each row: the outermost column with lung (or -1). */
function lateralEdge(chest: ChestState, side: -1 | 1, j: number): number {
  const g = chest.grid;
  const c = Math.round(g.pix(chest.geometry.centre));
  let edge = -1;
  if (side === 1) {
    for (let i = c; i < g.n; i++) if ((chest.lungMask[j * g.n + i] as number) >= 0.5) edge = i;
  } else {
    for (let i = c; i >= 0; i--) if ((chest.lungMask[j * g.n + i] as number) >= 0.5) edge = i;
  }
  return edge;
}

function drawEffusion(rng: Rng, chest: ChestState, fx: FindingEffects, taken: Occupied[]): DrawnFinding {
  const g = chest.grid;
  const side: -1 | 1 = rng.chance(0.5) ? -1 : 1;
  const base = chest.geometry.base[side === -1 ? '-1' : '1'];
  const h = rng.uniform(0.17, 0.34);
  const c = chest.geometry.centre;
  const support: number[] = [];
  const [j0] = g.range(base - h - 0.1, base);
  for (let j = j0; j < g.n; j++) {
    const y = g.coord(j);
    const edge = lateralEdge(chest, side, j);
    if (edge < 0) continue;
    const lat = Math.abs(g.coord(edge) - c);
    for (let i = 0; i < g.n; i++) {
      const x = g.coord(i);
      const u = side * (x - c);
      if (u <= 0) continue;
      const k = j * g.n + i;
      const lung = chest.lungMask[k] as number;
      if (lung <= 0) continue;
      const p = clamp01(u / lat);
      // The meniscus: fluid climbs higher along the lateral chest wall.
      const top = base - h * (0.3 + 0.7 * p * p);
      const m = smoothstep(top - 0.02, top + 0.06, y);
      if (m <= 0) continue;
      fx.fill[k] = Math.max(fx.fill[k] as number, 0.95 * m);
      // The fluid layer itself is thick (it pools posteriorly), not just lung that has lost its air.
      fx.add[k] = (fx.add[k] as number) + 0.32 * m * lung;
      if (m >= 0.5 && lung >= 0.5) support.push(k);
    }
  }
  taken.push({ x: c + side * 0.5, y: base - h / 2, r: h / 2 });
  return { label: 'effusion', support: Uint32Array.from(support) };
}

function drawPneumothorax(rng: Rng, chest: ChestState, fx: FindingEffects, taken: Occupied[]): DrawnFinding {
  const g = chest.grid;
  const side: -1 | 1 = rng.chance(0.5) ? -1 : 1;
  const c = chest.geometry.centre;
  const width = rng.uniform(0.07, 0.14);
  // Rows with lung on this side.
  let top = -1;
  let bottom = -1;
  for (let j = 0; j < g.n; j++) {
    if (lateralEdge(chest, side, j) >= 0) {
      if (top < 0) top = j;
      bottom = j;
    }
  }
  const end = top + Math.round((bottom - top) * rng.uniform(0.5, 0.8));
  const support: number[] = [];
  for (let j = top; j <= end; j++) {
    const edge = lateralEdge(chest, side, j);
    if (edge < 0) continue;
    const t = (j - top) / Math.max(1, end - top);
    const d = width * Math.sqrt(Math.max(0, 1 - t * t)) * (0.7 + 0.3 * Math.min(1, t * 4));
    const lineU = Math.abs(g.coord(edge) - c) - d;
    for (let i = 0; i < g.n; i++) {
      const u = side * (g.coord(i) - c);
      if (u <= 0) continue;
      const k = j * g.n + i;
      const lung = chest.lungMask[k] as number;
      if (lung < 0.5) continue;
      const inside = clamp01((u - lineU) / g.step + 0.5);
      if (inside > 0) {
        fx.ptx[k] = Math.max(fx.ptx[k] as number, inside);
        if (inside >= 0.5) support.push(k);
      }
      // The visceral pleural line: a thin white line at the edge of the collapsed lung.
      const dl = Math.abs(u - lineU) / g.step;
      if (dl < 1.2 && lineU > 0.04) fx.add[k] = (fx.add[k] as number) + 0.32 * clamp01(1.2 - dl);
    }
  }
  taken.push({ x: c + side * 0.7, y: g.coord(top) + 0.2, r: 0.1 });
  return { label: 'pneumothorax', support: Uint32Array.from(support) };
}

function heartSupport(chest: ChestState): DrawnFinding {
  const g = chest.grid;
  const h = chest.geometry.heart;
  const lowest = Math.max(h.bottomLeft, h.bottomRight);
  const support: number[] = [];
  for (let j = 0; j < g.n; j++) {
    if (g.coord(j) > lowest) break;
    for (let i = 0; i < g.n; i++) {
      const k = j * g.n + i;
      if ((chest.heart[k] as number) >= 0.5 && g.coord(j) >= h.top) support.push(k);
    }
  }
  return { label: 'cardiomegaly', support: Uint32Array.from(support) };
}

export type Box = [number, number, number, number];

/** Tight box [x0, y0, x1, y1] in image pixels (x1, y1 exclusive edges) of a finding in this acquisition. */
export function boxInImage(grid: ChestState['grid'], support: Uint32Array, acq: Acquisition, size: number): Box | null {
  if (support.length === 0) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  const half = (grid.step / 2) * acq.scale * (size / 2);
  for (const k of support) {
    const i = k % grid.n;
    const j = (k - i) / grid.n;
    const [px, py] = imagePoint(acq, size, grid.coord(i), grid.coord(j));
    if (px < x0) x0 = px;
    if (px > x1) x1 = px;
    if (py < y0) y0 = py;
    if (py > y1) y1 = py;
  }
  const box: Box = [
    Math.max(0, Math.floor(x0 - half)),
    Math.max(0, Math.floor(y0 - half)),
    Math.min(size, Math.ceil(x1 + half)),
    Math.min(size, Math.ceil(y1 + half)),
  ];
  return box[2] - box[0] >= 2 && box[3] - box[1] >= 2 ? box : null;
}
