import type { PatientAnatomy } from './identity.js';
import { addEllipse, addSegment, clamp01, Grid, smoothstep, valueNoise } from './raster.js';
import { Rng } from './rng.js';

/**
 * The skeleton of a phantom patient on the canonical grid: posterior and anterior ribs, clavicles, spine,
 * humeral heads and scapulae, with the patient's own trabecular texture, and the age-related calcifications.
 * Bone density and calcification come from the anatomy (age); rib spacing and the spine curve are identity.
 */

/** Horizontal position of the spine at height y: the patient's own curve. */
export function spineX(a: PatientAnatomy, y: number): number {
  return a.spine.x0 + a.spine.amp * Math.sin(a.spine.freq * Math.PI * y + a.spine.phase);
}

export function drawBones(grid: Grid, a: PatientAnatomy): Float32Array {
  const bone = grid.alloc();
  const density = a.boneDensity;
  drawRibs(grid, a, bone, 0.27 * density);
  drawClavicles(grid, a, bone, 0.42 * density);
  drawSpine(grid, a, bone, 0.17 * density);
  for (const side of [-1, 1]) {
    const h = a.humeralHead;
    addEllipse(grid, bone, side * h.x, h.y, h.r, h.r, 0, 0.32 * density, 0.3);
    addEllipse(grid, bone, side * h.x, h.y + 0.15, h.r * 0.75, 0.2, 0, 0.26 * density, 0.5);
    // Scapula: a faint plate along the lateral upper chest wall.
    addEllipse(grid, bone, side * (a.lungLateral - 0.03), -0.42, 0.09, 0.28, side * 0.25, 0.12 * density, 0.8);
  }
  // Trabecular texture: the persistent fingerprint of the patient's bone.
  const rng = Rng.derive(a.textureSeed, 'bone');
  const tex = valueNoise(grid, rng, [0.018, 0.04, 0.09], [0.5, 0.35, 0.25]);
  for (let k = 0; k < bone.length; k++) {
    const b = bone[k] as number;
    if (b > 0) bone[k] = b * (1 + 0.45 * (tex[k] as number));
  }
  drawCalcifications(grid, a, bone);
  return bone;
}

/** Profile across a tubular bone: thin solid core plus a bright cortical shell; d = distance / half width. */
function tubeProfile(d: number): number {
  if (d >= 1.15) return 0;
  const core = Math.sqrt(Math.max(0, 1 - d * d));
  const cortex = Math.exp(-(((d - 0.86) / 0.14) ** 2));
  return (0.4 * core + 0.75 * cortex) * clamp01((1.1 - d) / 0.2);
}

/** Draw a band y = f(x) for x in [x0, x1] (column by column); f returns [centre y, half width]. */
function drawBand(
  grid: Grid,
  out: Float32Array,
  x0: number,
  x1: number,
  f: (x: number) => [number, number, number],
): void {
  const [i0, i1] = grid.range(x0, x1);
  const h = grid.step * 0.5;
  for (let i = i0; i <= i1; i++) {
    const x = grid.coord(i);
    if (x < Math.min(x0, x1) || x > Math.max(x0, x1)) continue;
    const [yc, hw, value] = f(x);
    const fy = f(x + h);
    const slope = (fy[0] - yc) / h;
    const vhw = hw * Math.sqrt(1 + slope * slope);
    const [j0, j1] = grid.range(yc - vhw * 1.2 - grid.step, yc + vhw * 1.2 + grid.step);
    for (let j = j0; j <= j1; j++) {
      const d = Math.abs(grid.coord(j) - yc) / vhw;
      const v = tubeProfile(d);
      if (v > 0) out[j * grid.n + i] = (out[j * grid.n + i] as number) + value * v;
    }
  }
}

export function posteriorRibPoint(a: PatientAnatomy, index: number, p: number): [number, number] {
  const r = a.ribs[index];
  if (!r) throw new Error(`no rib ${index}`);
  const xs = spineX(a, r.y0);
  const us = 0.045;
  const ulat = a.lungLateral + 0.045;
  const u = us + p * (ulat - us);
  return [xs + r.side * u, r.y0 - r.rise * Math.sin(Math.PI * Math.pow(p, 0.75)) + r.drop * Math.pow(p, 2.2)];
}

function drawRibs(grid: Grid, a: PatientAnatomy, out: Float32Array, value: number): void {
  a.ribs.forEach((r, index) => {
    const xs = spineX(a, r.y0);
    const us = 0.045;
    const ulat = a.lungLateral + 0.045;
    drawBand(grid, out, xs + r.side * us, xs + r.side * ulat, (x) => {
      const u = r.side * (x - xs);
      const p = (u - us) / (ulat - us);
      const [, yc] = posteriorRibPoint(a, index, Math.min(1, Math.max(0, p)));
      return [yc, r.halfWidth * (1 + 0.25 * p), value * (0.8 + 0.2 * p)];
    });
    // Anterior rib: from the lateral wall down toward the sternum, fainter, fading where cartilage begins.
    const yl = r.y0 + r.drop;
    drawBand(grid, out, xs + r.side * r.anteriorEnd, xs + r.side * (ulat - 0.01), (x) => {
      const u = r.side * (x - xs);
      const q = Math.min(1, Math.max(0, (ulat - u) / (ulat - r.anteriorEnd)));
      return [yl + r.anteriorDrop * (0.75 * q + 0.25 * q * q), r.halfWidth * 1.2, value * 0.45 * (1 - smoothstep(0.75, 1, q))];
    });
  });
}

function drawClavicles(grid: Grid, a: PatientAnatomy, out: Float32Array, value: number): void {
  for (const c of a.clavicles) {
    drawBand(grid, out, c.medialX, c.lateralX, (x) => {
      const q = (x - c.medialX) / (c.lateralX - c.medialX);
      return [c.medialY + (c.lateralY - c.medialY) * q + c.bend * Math.sin(2 * Math.PI * q), c.halfWidth * (1.25 - 0.35 * q), value];
    });
  }
}

function drawSpine(grid: Grid, a: PatientAnatomy, out: Float32Array, value: number): void {
  const s = a.spine;
  const n = grid.n;
  for (let k = 0; ; k++) {
    const yk = s.top + (k + 0.5) * s.vertebraHeight;
    if (yk > grid.half + s.vertebraHeight) break;
    const xk = spineX(a, yk);
    const hw = s.halfWidth * (0.8 + 0.025 * Math.min(k, 14));
    const hh = 0.38 * s.vertebraHeight;
    const [i0, i1] = grid.range(xk - hw * 1.1, xk + hw * 1.1);
    const [j0, j1] = grid.range(yk - hh * 1.1, yk + hh * 1.1);
    for (let j = j0; j <= j1; j++) {
      const dy = Math.abs(grid.coord(j) - yk) / hh;
      for (let i = i0; i <= i1; i++) {
        const dx = Math.abs(grid.coord(i) - xk) / hw;
        const e = Math.pow(dx ** 4 + dy ** 4, 0.25);
        const v = e < 1.1 ? (0.75 + 0.35 * Math.exp(-(((dy - 0.9) / 0.12) ** 2))) * clamp01((1.1 - e) / 0.2) : 0;
        if (v > 0) out[j * n + i] = (out[j * n + i] as number) + value * v;
      }
    }
    for (const side of [-1, 1]) {
      addEllipse(grid, out, xk + side * hw * 0.72, yk - 0.1 * hh, hw * 0.2, hh * 0.55, 0, value * 0.55, 0.3);
      if (a.calcification > 0.4 && k > 3) {
        // Degenerative spurs at the vertebral corners.
        addEllipse(grid, out, xk + side * hw * 1.05, yk + hh * 0.9, 0.012, 0.01, 0, value * 0.9 * a.calcification, 0.5);
      }
    }
    addEllipse(grid, out, xk, yk + 0.3 * hh, hw * 0.14, hh * 0.5, 0, value * 0.4, 0.5);
  }
}

function drawCalcifications(grid: Grid, a: PatientAnatomy, out: Float32Array): void {
  const c = a.calcification;
  if (c <= 0.15) return;
  const rng = Rng.derive(a.textureSeed, 'calcification');
  // Aortic knob: a calcified crescent along its upper lateral wall.
  const k = a.aorticKnob;
  const arc = 0.9 * Math.PI * c;
  for (let t = -Math.PI / 2 - arc / 2; t < -Math.PI / 2 + arc / 2; t += 0.12) {
    const t2 = t + 0.12;
    addSegment(grid, out, k.x + k.r * 0.92 * Math.cos(t + 0.5), k.y + k.r * 0.92 * Math.sin(t + 0.5), k.x + k.r * 0.92 * Math.cos(t2 + 0.5), k.y + k.r * 0.92 * Math.sin(t2 + 0.5), 0.006, 0.55 * c);
  }
  // Costal cartilages: flecks of calcium from the anterior rib ends toward the sternum.
  for (const r of a.ribs) {
    if (!rng.chance(0.35 + 0.6 * c)) continue;
    const xs = spineX(a, r.y0);
    // The anterior rib's medial end (q = 1 in drawRibs).
    const yEnd = r.y0 + r.drop + r.anteriorDrop;
    const xEnd = xs + r.side * r.anteriorEnd;
    const xSt = xs + r.side * 0.06;
    const ySt = yEnd + 0.08;
    const flecks = Math.round(2 + 5 * c * rng.next());
    for (let f = 0; f < flecks; f++) {
      const t = rng.next();
      addEllipse(grid, out, xEnd + (xSt - xEnd) * t + rng.normal(0, 0.006), yEnd + (ySt - yEnd) * t + rng.normal(0, 0.006), rng.uniform(0.007, 0.014), rng.uniform(0.005, 0.01), rng.uniform(0, 3), 0.5 * c, 0.4);
    }
  }
}

