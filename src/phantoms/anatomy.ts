import type { PatientAnatomy } from './identity.js';
import { addEllipse, addSegment, boxBlur, clamp01, fillPolygon, Grid, smoothstep } from './raster.js';
import { drawImplants } from './implants.js';
import { drawBones, spineX } from './skeleton.js';
import { Rng } from './rng.js';

/**
 * Draws a patient's chest as an attenuation map on the canonical grid (patient frame). What never changes for
 * a patient (bones with their texture, implants, vessels, airways, soft tissue) is drawn once into a
 * PatientBase; what changes per image (depth of inspiration, heart size when enlarged) is drawn by renderChest.
 * Units are arbitrary line-integral attenuation: 0 is air outside the body; acquisition.ts turns them into
 * detector values.
 */

/** The canonical grid covers [-CANONICAL_HALF, CANONICAL_HALF]; the image field of view is [-1, 1]. */
export const CANONICAL_HALF = 1.3;

export { spineX };

/** How much of the soft tissue attenuation the aerated lung removes at full depth. */
const AIR_FRACTION = 0.64;
/** Soft tissue attenuation per unit of body half width. */
const SOFT_TISSUE = 2.1;

export interface PatientBase {
  grid: Grid;
  /** Soft tissue of the body (thorax, neck, shoulders, breasts, pectoral muscles), airway air removed. */
  soft: Float32Array;
  /** Bones, calcifications and implants. */
  bone: Float32Array;
  /** Pulmonary vessels and hila: visible only where there is aerated lung. */
  vessels: Float32Array;
}

export interface ChestState {
  grid: Grid;
  /** Lung field coverage 0..1. */
  lungMask: Float32Array;
  /** Aerated depth 0..1 inside the lungs (thin at the periphery). */
  lungAir: Float32Array;
  /** Heart silhouette coverage 0..1. */
  heart: Float32Array;
  /** Bowel/stomach gas 0..1. */
  gas: Float32Array;
  /** Patient-frame geometry of this image, for findings and their boxes. */
  geometry: ChestGeometry;
}

export interface ChestGeometry {
  /** Midline x of the lungs. */
  centre: number;
  /** Costophrenic angle heights by side (-1 right lung = image left, 1 left lung). */
  base: Record<'-1' | '1', number>;
  domeTop: Record<'-1' | '1', number>;
  heart: HeartGeometry;
}

/** Effects of findings, each a full-grid layer (zero where absent). */
export interface FindingEffects {
  /** Extra attenuation (nodules, masses, pleural lines). */
  add: Float32Array;
  /** Share of lung air replaced by fluid or exudate (effusion, consolidation), 0..1. */
  fill: Float32Array;
  /** Pneumothorax: lung markings gone, more air. 0..1. */
  ptx: Float32Array;
}

export function canonicalGrid(size: number): Grid {
  return new Grid(Math.ceil(size * CANONICAL_HALF), CANONICAL_HALF);
}

export function renderPatientBase(a: PatientAnatomy, size: number): PatientBase {
  const grid = canonicalGrid(size);
  const bone = drawBones(grid, a);
  drawImplants(grid, a, bone);
  return { grid, soft: drawSoftTissue(grid, a), bone, vessels: drawVessels(grid, a) };
}

function drawSoftTissue(grid: Grid, a: PatientAnatomy): Float32Array {
  const out = grid.alloc();
  const n = grid.n;
  const neck = a.bodyHalfWidth * 0.27;
  for (let j = 0; j < n; j++) {
    const y = grid.coord(j);
    // Shoulders and arms fill the top corners; below the axilla the chest wall is the body's edge.
    const w = y < -0.78 ? 1.6 : y < -0.55 ? a.bodyHalfWidth + (1.6 - a.bodyHalfWidth) * smoothstep(-0.55, -0.78, y) : a.bodyHalfWidth * (1 + 0.05 * (y + 0.5));
    for (let i = 0; i < n; i++) {
      const x = grid.coord(i);
      const ax = Math.abs(x);
      const top = ax < neck ? -9 : -1.12 + 0.22 * Math.pow(Math.min(1, (ax - neck) / (1.2 - neck)), 0.7);
      const wEff = ax < neck && y < -0.9 ? Math.max(neck, w * smoothstep(-1.2, -0.9, y)) : w;
      const cover = clamp01((wEff - ax) / grid.step + 0.5) * clamp01((y - top) / grid.step + 0.5);
      if (cover <= 0) continue;
      const depth = Math.sqrt(Math.max(0, 1 - (x / (wEff + 0.02)) ** 2));
      out[j * n + i] = SOFT_TISSUE * a.softTissue * Math.min(wEff, 1.0) * Math.pow(depth, 0.7) * cover;
    }
  }
  // Breast shadows: a dome with a sharp, convex lower border over the lower zones (the fading upper side is
  // modelled by a taller upper half-ellipse).
  if (a.breast) {
    const b = a.breast;
    for (const side of [-1, 1]) {
      const cx = a.spine.x0 + side * b.x;
      const [i0, i1] = grid.range(cx - b.rx, cx + b.rx);
      const [j0, j1] = grid.range(b.y - 2.2 * b.ry, b.y + b.ry);
      for (let j = j0; j <= j1; j++) {
        const y = grid.coord(j) - b.y;
        const ry = y < 0 ? 2.2 * b.ry : b.ry;
        for (let i = i0; i <= i1; i++) {
          const x = (grid.coord(i) - cx) / b.rx;
          const e2 = x * x + (y / ry) ** 2;
          if (e2 >= 1.05) continue;
          const rim = clamp01((1 - Math.sqrt(e2)) / (grid.step / b.ry) + 0.5);
          const idx = j * n + i;
          if ((out[idx] as number) > 0) out[idx] = (out[idx] as number) + 0.62 * b.size * Math.sqrt(Math.max(0, 1 - e2)) * rim;
        }
      }
    }
  }
  for (const side of [-1, 1]) {
    addEllipse(grid, out, side * a.bodyHalfWidth * 0.62, -0.5, a.bodyHalfWidth * 0.4, 0.26, side * 0.5, 0.22 * a.pectoral, 0.6);
  }
  // Airways: the trachea and main bronchi carry air through the mediastinum.
  const airway = grid.alloc();
  const carinaY = a.hilumY - 0.13;
  const cx = spineX(a, carinaY);
  const left: Array<[number, number]> = [];
  const right: Array<[number, number]> = [];
  for (let y = -1.35; y <= carinaY; y += 0.05) {
    left.push([spineX(a, y) - 0.03, y]);
    right.push([spineX(a, y) + 0.03, y]);
  }
  // Main bronchi leave the carina at about 25 (right) and 45 (left) degrees from vertical.
  fillPolygon(grid, [...left, [cx - 0.14, a.hilumY + 0.03], [cx - 0.12, a.hilumY + 0.06], [cx, carinaY + 0.04], [cx + 0.13, a.hilumY + 0.01], [cx + 0.15, a.hilumY - 0.02], ...right.reverse()], airway);
  boxBlur(airway, grid.n, 1, 1);
  for (let k = 0; k < out.length; k++) out[k] = (out[k] as number) * (1 - 0.22 * Math.min(1, airway[k] as number));
  return out;
}

function drawVessels(grid: Grid, a: PatientAnatomy): Float32Array {
  const out = grid.alloc();
  const rng = Rng.derive(a.vesselSeed, 'tree');
  const branch = (x: number, y: number, dir: number, len: number, radius: number, depth: number, side: number): void => {
    const ex = x + side * Math.cos(dir) * len;
    const ey = y + Math.sin(dir) * len;
    addSegment(grid, out, x, y, ex, ey, radius, 0.26 * Math.sqrt(radius / 0.012));
    if (depth === 0) return;
    const kids = depth > 2 ? 2 : rng.chance(0.7) ? 2 : 1;
    for (let c = 0; c < kids; c++) {
      const turn = (c === 0 ? -1 : 1) * rng.uniform(0.2, 0.55) + rng.normal(0, 0.1);
      branch(ex, ey, dir + turn, len * rng.uniform(0.68, 0.86), radius * 0.72, depth - 1, side);
    }
  };
  for (const side of [-1, 1]) {
    const hx = a.spine.x0 + side * (a.mediastinumHalfWidth + 0.09);
    const hy = a.hilumY + (side === 1 ? -0.04 : 0);
    addEllipse(grid, out, hx, hy, 0.07, 0.13, 0, 0.16, 1.5);
    for (const dir of [-1.25, -0.55, 0.1, 0.6, 1.15]) {
      const sy = hy + dir * 0.045 + rng.normal(0, 0.01);
      branch(hx + side * 0.02, sy, dir + rng.normal(0, 0.08), rng.uniform(0.1, 0.14), 0.012, 6, side);
    }
  }
  // Vessels are seen slightly out of focus, overlapping in depth.
  boxBlur(out, grid.n, 1, 1);
  return out;
}

/** Centripetal-free (uniform) Catmull-Rom through the points, `per` samples per segment, ends included. */
function spline(points: Array<[number, number]>, per: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let k = 0; k < points.length - 1; k++) {
    const p0 = points[Math.max(0, k - 1)] as [number, number];
    const p1 = points[k] as [number, number];
    const p2 = points[k + 1] as [number, number];
    const p3 = points[Math.min(points.length - 1, k + 2)] as [number, number];
    for (let s = 0; s < per; s++) {
      const t = s / per;
      const t2 = t * t;
      const t3 = t2 * t;
      const f = (a: number, b: number, c: number, d: number): number =>
        0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3);
      out.push([f(p0[0], p1[0], p2[0], p3[0]), f(p0[1], p1[1], p2[1], p3[1])]);
    }
  }
  out.push(points[points.length - 1] as [number, number]);
  return out;
}

/** The outline of one lung (side -1: right lung, image left) for this image's depth of inspiration. */
export function lungOutline(a: PatientAnatomy, side: -1 | 1, inspiration: number): Array<[number, number]> {
  const med = a.mediastinumHalfWidth;
  const lat = a.lungLateral * (1 + side * a.lungAsymmetry);
  const apex = a.lungApexY + (side === -1 ? 0.01 : 0);
  const base = a.lungBaseY - (side === -1 ? a.rightRaise : 0) + inspiration;
  const dome = a.domeHeight;
  const k = a.aorticKnob;
  const medial: Array<[number, number]> =
    side === 1
      ? [
          [med + 0.03, base - 0.77 * dome],
          [med + 0.02, base - dome - 0.2],
          [med + 0.05, k.y + 0.13],
          [k.x + k.r * 0.95, k.y + 0.01],
          [med + 0.04, apex + 0.16],
        ]
      : [
          [med + 0.03, base - 0.77 * dome],
          [med, base - dome - 0.2],
          [med + 0.01, k.y],
          [med + 0.04, apex + 0.16],
        ];
  const chain = spline(
    [
      ...medial,
      [0.14, apex + 0.035],
      [0.27, apex],
      [0.43, apex + 0.05],
      [lat * 0.86, apex + 0.3],
      [lat * 0.97, -0.05],
      [lat, base - 0.22],
      [lat * 0.985, base],
    ],
    6,
  );
  const diaphragm: Array<[number, number]> = [];
  for (let s = 1; s < 16; s++) {
    const t = s / 16;
    diaphragm.push([lat * 0.985 * (1 - t) + (med + 0.03) * t, base - dome * Math.sin(0.72 * Math.PI * t)]);
  }
  const c = a.spine.x0;
  return [...chain, ...diaphragm].map(([u, y]) => [c + side * u, y]);
}

export interface HeartGeometry {
  /** Extents from the midline (patient frame), top of the silhouette, and the heights where it meets the diaphragm. */
  right: number;
  left: number;
  top: number;
  bottomRight: number;
  bottomLeft: number;
}

export function heartGeometry(a: PatientAnatomy, scale: number, inspiration: number): HeartGeometry {
  const h = a.heart;
  const baseR = a.lungBaseY - a.rightRaise + inspiration;
  const baseL = a.lungBaseY + inspiration;
  // An enlarged heart grows mostly to the left (left ventricle), a little to the right, and lifts its apex.
  return {
    right: h.right * (1 + (scale - 1) * 0.6),
    left: h.left * scale,
    top: h.top - (scale - 1) * 0.05,
    bottomRight: baseR - a.domeHeight * 0.55,
    bottomLeft: baseL - a.domeHeight * 0.45,
  };
}

/** The heart scale that gives cardiothoracic ratio `ratio` (heart width over inner thoracic width). */
export function heartScaleForRatio(a: PatientAnatomy, ratio: number): number {
  const { right, left } = a.heart;
  return Math.max(1, 1 + (ratio * 2 * a.lungLateral - (right + left)) / (0.6 * right + left));
}

/** The heart's silhouette as convex parts: left ventricle (left border and apex), right atrium (right border), and the
 * base joining them to the mediastinum. Drawn as a union. */
export function heartParts(a: PatientAnatomy, g: HeartGeometry): Array<Array<[number, number]>> {
  const c = a.spine.x0;
  const m = a.mediastinumHalfWidth;
  const hl = g.bottomLeft - g.top;
  const hr = g.bottomRight - g.top;
  return [
    ellipsePoints(c + g.left * 0.32, g.bottomLeft - 0.03, g.left * 0.68, hl * 0.8 * a.heart.waist, -0.2),
    ellipsePoints(c - g.right * 0.3, g.bottomRight - hr * 0.38, g.right * 0.7, hr * 0.5, 0),
    [
      [c - m * 0.8, g.top - 0.1],
      [c + m * 0.9, g.top - 0.1],
      [c + g.left * 0.5, g.top + hl * 0.35],
      [c + g.left * 0.5, g.bottomLeft + 0.12],
      [c - g.right * 0.5, g.bottomRight + 0.12],
      [c - g.right * 0.6, g.top + hr * 0.3],
    ],
  ];
}

function ellipsePoints(cx: number, cy: number, rx: number, ry: number, angle: number): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  for (let k = 0; k < 64; k++) {
    const t = (k / 64) * Math.PI * 2;
    const x = rx * Math.cos(t);
    const y = ry * Math.sin(t);
    pts.push([cx + x * c - y * s, cy + x * s + y * c]);
  }
  return pts;
}


/** What changes in the chest itself from image to image. */
export interface ChestView {
  /** Diaphragm shift, patient frame units (negative: deeper breath). */
  inspiration: number;
  /** > 1 enlarges the heart (cardiomegaly). */
  heartScale: number;
  /** Gas in the stomach under the left hemidiaphragm: offset and size. */
  gastric: { dx: number; dy: number; rx: number; ry: number };
}

/** Lungs, heart and stomach gas of one image. */
export function renderChest(base: PatientBase, a: PatientAnatomy, view: ChestView): ChestState {
  const grid = base.grid;
  const { inspiration, heartScale } = view;
  const lungMask = grid.alloc();
  for (const side of [-1, 1] as const) fillPolygon(grid, lungOutline(a, side, inspiration), lungMask);
  const depth = lungMask.slice();
  boxBlur(depth, grid.n, Math.max(1, Math.round(0.07 / grid.step)), 2);
  boxBlur(lungMask, grid.n, 1, 1);
  const lungAir = grid.alloc();
  for (let k = 0; k < lungAir.length; k++) {
    lungAir[k] = (lungMask[k] as number) * (0.3 + 0.7 * Math.pow(clamp01((depth[k] as number) * 1.25), 0.7));
  }
  const h = heartGeometry(a, heartScale, inspiration);
  const heart = grid.alloc();
  for (const part of heartParts(a, h)) fillPolygon(grid, part, heart);
  boxBlur(heart, grid.n, 1, 1);
  const baseR = a.lungBaseY - a.rightRaise + inspiration;
  const baseL = a.lungBaseY + inspiration;
  const gas = grid.alloc();
  const g = view.gastric;
  addEllipse(grid, gas, a.spine.x0 + a.lungLateral * 0.45 + g.dx, baseL - a.domeHeight + 0.03 + g.ry + g.dy, g.rx, g.ry, 0, 1, 0.35);
  // Air rises: the bubble has a flat fluid level below.
  const levelY = grid.pix(baseL - a.domeHeight + 0.03 + g.ry * 1.6 + g.dy);
  for (let k = 0; k < gas.length; k++) {
    const below = Math.floor(k / grid.n) > levelY;
    gas[k] = below ? 0 : Math.min(1, gas[k] as number) * (1 - (lungMask[k] as number));
  }
  return {
    grid,
    lungMask,
    lungAir,
    heart,
    gas,
    geometry: {
      centre: a.spine.x0,
      base: { '-1': baseR, '1': baseL },
      domeTop: { '-1': baseR - a.domeHeight, '1': baseL - a.domeHeight },
      heart: h,
    },
  };
}

export function emptyEffects(grid: Grid): FindingEffects {
  return { add: grid.alloc(), fill: grid.alloc(), ptx: grid.alloc() };
}

/** The attenuation map of one image in the patient frame. */
export function composeAttenuation(base: PatientBase, chest: ChestState, fx: FindingEffects): Float32Array {
  const out = base.grid.alloc();
  for (let k = 0; k < out.length; k++) {
    const lung = chest.lungMask[k] as number;
    const fill = fx.fill[k] as number;
    const ptx = fx.ptx[k] as number;
    const heart = chest.heart[k] as number;
    const air = (chest.lungAir[k] as number) * (1 - 0.92 * heart) * (1 - fill);
    const aerated = lung * (1 - fill) * (1 - ptx) * (1 - 0.7 * heart);
    out[k] =
      (base.soft[k] as number) * (1 - AIR_FRACTION * air) * (1 - 0.2 * (chest.gas[k] as number)) +
      (base.vessels[k] as number) * aerated +
      (base.bone[k] as number) +
      (fx.add[k] as number) -
      0.22 * ptx * lung * (1 - fill);
  }
  return out;
}
