import type { PatientDemographics } from './demographics.js';
import { Rng } from './rng.js';

/**
 * The persistent anatomy of one phantom patient, in the patient frame: x from -1 (image left, the patient's
 * right in a PA view) to 1, y from -1 (top) to 1, the field of view of an image taken without shift or zoom.
 * Everything here stays the same on every image of the patient (rib spacing, spine curve, bone texture, vessel
 * tree, implants and scars), which is what lets a re-identification network match two images, as in PriCheXy-Net.
 * Sex and age act on it through visible correlates: habitus and breast shadows; bone density and calcifications.
 */
export interface Rib {
  side: -1 | 1;
  /** Height where the posterior rib leaves the spine. */
  y0: number;
  /** How far the posterior arc rises above y0, and drops at the lateral wall. */
  rise: number;
  drop: number;
  /** Half width of the rib band. */
  halfWidth: number;
  /** How far down the anterior rib runs from the lateral wall to its medial end. */
  anteriorDrop: number;
  /** u (distance from midline) of the anterior rib's medial end. */
  anteriorEnd: number;
}

export type MarkKind = 'sternotomy-wires' | 'surgical-clips' | 'healed-rib-fracture' | 'granuloma' | 'port' | 'apical-cap';

export interface Mark {
  kind: MarkKind;
  /** Points the mark is drawn at (patient frame); meaning depends on kind. */
  points: Array<[number, number]>;
  size: number;
  /** Index of the rib (healed fracture). */
  rib?: number;
}

export interface PatientAnatomy {
  sex: 'F' | 'M';
  age: number;
  /** Lateral chest wall (outer soft tissue edge) half width. */
  bodyHalfWidth: number;
  /** Lateral edge of the lungs (inner rib line) at the widest. */
  lungLateral: number;
  /** Relative width difference of the left and right lung (positive: left lung wider). */
  lungAsymmetry: number;
  lungApexY: number;
  /** Height of the left costophrenic angle; the right hemidiaphragm sits `rightRaise` higher. */
  lungBaseY: number;
  rightRaise: number;
  domeHeight: number;
  mediastinumHalfWidth: number;
  /** Soft tissue attenuation scale (habitus). */
  softTissue: number;
  /** Heart silhouette: extent right and left of the midline, top (below the hila), shape of the left border. */
  heart: { right: number; left: number; top: number; waist: number };
  aorticKnob: { x: number; y: number; r: number };
  spine: { x0: number; amp: number; freq: number; phase: number; top: number; vertebraHeight: number; halfWidth: number };
  ribs: Rib[];
  clavicles: Array<{ side: -1 | 1; medialX: number; medialY: number; lateralX: number; lateralY: number; bend: number; halfWidth: number }>;
  humeralHead: { x: number; y: number; r: number };
  breast: { size: number; y: number; x: number; rx: number; ry: number } | null;
  pectoral: number;
  /** 1 = young adult bone; lower with age. */
  boneDensity: number;
  /** 0..1: aortic knob and costal cartilage calcification, degenerative spine spurs. */
  calcification: number;
  hilumY: number;
  marks: Mark[];
  /** Streams for the textures that are drawn once per patient. */
  textureSeed: string;
  vesselSeed: string;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function drawAnatomy(seed: string | number, p: PatientDemographics): PatientAnatomy {
  const rng = Rng.derive(seed, 'patient', p.index, 'anatomy');
  const male = p.sex === 'M';
  // Habitus: men have wider chests and shoulders, and larger hearts; the spread keeps it a correlate, not a rule.
  const bodyHalfWidth = rng.clampedNormal(male ? 0.9 : 0.8, 0.05, 0.68, 1.0);
  const lungLateral = bodyHalfWidth - rng.uniform(0.08, 0.12);
  const lungApexY = rng.clampedNormal(-0.74, 0.04, -0.86, -0.62);
  const lungBaseY = rng.clampedNormal(0.5, 0.05, 0.36, 0.64);
  const heartWidthRatio = rng.clampedNormal(0.44, 0.03, 0.37, 0.5); // cardiothoracic ratio, normal
  const heartWidth = heartWidthRatio * 2 * lungLateral;
  const hilumY = rng.uniform(-0.12, -0.02);
  const heartRight = heartWidth * rng.uniform(0.28, 0.36);
  const oldness = sigmoid((p.age - 60) / 2.5);
  const ribCount = 10;
  const ribTop = lungApexY + rng.uniform(0.02, 0.06);
  const ribSpan = lungBaseY - ribTop - rng.uniform(0.1, 0.16);
  const ribs: Rib[] = [];
  for (const side of [-1, 1] as const) {
    // Per-rib jitter of spacing and curvature is the identity signal an observer matches on ("rib spacing").
    const spacingJitter = Array.from({ length: ribCount }, () => rng.normal(0, 0.22));
    let y = ribTop;
    const step = ribSpan / (ribCount - 1);
    for (let k = 0; k < ribCount; k++) {
      ribs.push({
        side,
        y0: y,
        rise: rng.clampedNormal(0.06 + 0.004 * k, 0.012, 0.02, 0.11),
        drop: rng.clampedNormal(0.2 + 0.012 * k, 0.03, 0.1, 0.34),
        halfWidth: rng.clampedNormal(0.021 + 0.001 * k, 0.0025, 0.015, 0.03),
        anteriorDrop: rng.clampedNormal(0.2, 0.03, 0.12, 0.3),
        anteriorEnd: rng.uniform(0.12, 0.22),
      });
      y += step * (0.8 + (0.4 * k) / (ribCount - 1)) * (1 + (spacingJitter[k] ?? 0));
    }
  }
  const clavicles = ([-1, 1] as const).map((side) => ({
    side,
    medialX: side * rng.uniform(0.07, 0.1),
    medialY: rng.clampedNormal(-0.66, 0.03, -0.76, -0.56),
    lateralX: side * rng.uniform(0.58, 0.7),
    lateralY: rng.clampedNormal(-0.82, 0.03, -0.92, -0.74),
    bend: rng.uniform(0.015, 0.04),
    halfWidth: rng.uniform(0.022, 0.03),
  }));
  const breast =
    p.sex === 'F'
      ? {
          size: rng.uniform(0.55, 1.0),
          y: lungBaseY - rng.uniform(0.26, 0.34),
          x: lungLateral * rng.uniform(0.5, 0.62),
          rx: lungLateral * rng.uniform(0.46, 0.58),
          ry: rng.uniform(0.17, 0.23),
        }
      : null;
  const marks = drawMarks(rng, lungLateral, lungApexY, lungBaseY, ribs.length);
  return {
    sex: p.sex,
    age: p.age,
    bodyHalfWidth,
    lungLateral,
    lungAsymmetry: rng.clampedNormal(0, 0.03, -0.07, 0.07),
    lungApexY,
    lungBaseY,
    rightRaise: rng.clampedNormal(0.045, 0.015, 0.0, 0.09),
    domeHeight: rng.clampedNormal(0.13, 0.02, 0.08, 0.18),
    mediastinumHalfWidth: rng.clampedNormal(0.12, 0.012, 0.09, 0.15) + 0.02 * oldness,
    softTissue: rng.clampedNormal(male ? 1.0 : 0.93, 0.06, 0.8, 1.2),
    heart: {
      right: heartRight,
      left: heartWidth - heartRight,
      top: hilumY + rng.uniform(0.06, 0.12),
      waist: rng.uniform(0.75, 0.9),
    },
    aorticKnob: { x: rng.uniform(0.15, 0.2) + 0.03 * oldness, y: lungApexY + rng.uniform(0.38, 0.46), r: rng.uniform(0.045, 0.06) + 0.012 * oldness },
    spine: {
      x0: rng.normal(0, 0.012),
      amp: rng.clampedNormal(0, 0.03, -0.07, 0.07),
      freq: rng.uniform(0.6, 1.4),
      phase: rng.uniform(0, Math.PI * 2),
      top: -1.15,
      vertebraHeight: rng.clampedNormal(0.125, 0.007, 0.11, 0.14),
      halfWidth: rng.clampedNormal(0.05, 0.004, 0.04, 0.06),
    },
    ribs,
    clavicles,
    humeralHead: { x: bodyHalfWidth + rng.uniform(0.02, 0.08), y: rng.uniform(-0.86, -0.76), r: rng.uniform(0.1, 0.13) },
    breast,
    pectoral: male ? rng.uniform(0.5, 1.0) : rng.uniform(0.1, 0.35),
    boneDensity: Math.max(0.45, 1 - 0.35 * oldness - 0.004 * Math.max(0, p.age - 30) + rng.normal(0, 0.04)),
    calcification: Math.min(1, Math.max(0, 0.1 + 0.85 * oldness + rng.normal(0, 0.08))),
    hilumY,
    marks,
    textureSeed: `${seed}/patient/${p.index}/texture`,
    vesselSeed: `${seed}/patient/${p.index}/vessels`,
  };
}

/** One or two implants or scars per patient (a few have none), drawn where they would be in a real chest. */
function drawMarks(rng: Rng, lat: number, apexY: number, baseY: number, ribCount: number): Mark[] {
  const n = rng.pick([0, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
  const kinds: MarkKind[] = [];
  const table: Array<[MarkKind, number]> = [
    ['granuloma', 0.3],
    ['healed-rib-fracture', 0.25],
    ['surgical-clips', 0.17],
    ['apical-cap', 0.12],
    ['sternotomy-wires', 0.1],
    ['port', 0.06],
  ];
  while (kinds.length < n) {
    let r = rng.next();
    for (const [kind, w] of table) {
      r -= w;
      if (r < 0) {
        if (!kinds.includes(kind)) kinds.push(kind);
        break;
      }
    }
  }
  return kinds.map((kind) => {
    const side = rng.chance(0.5) ? -1 : 1;
    switch (kind) {
      case 'granuloma': {
        const count = rng.int(1, 3);
        const points: Array<[number, number]> = [];
        for (let i = 0; i < count; i++) points.push([side * lat * rng.uniform(0.35, 0.8), rng.uniform(apexY + 0.15, baseY - 0.2)]);
        return { kind, points, size: rng.uniform(0.01, 0.016) };
      }
      case 'healed-rib-fracture': {
        const rib = rng.int(2, 8) + (side === 1 ? ribCount / 2 : 0);
        return { kind, points: [[rng.uniform(0.45, 0.85), 0]], size: rng.uniform(0.025, 0.04), rib };
      }
      case 'surgical-clips': {
        const cx = side * rng.uniform(0.15, 0.5);
        const cy = rng.uniform(-0.45, 0.05);
        const points: Array<[number, number]> = [];
        for (let i = rng.int(2, 5); i > 0; i--) points.push([cx + rng.normal(0, 0.04), cy + rng.normal(0, 0.04)]);
        return { kind, points, size: rng.uniform(0.018, 0.026) };
      }
      case 'apical-cap':
        return { kind, points: [[side * lat * 0.4, apexY]], size: rng.uniform(0.02, 0.035) };
      case 'sternotomy-wires': {
        const points: Array<[number, number]> = [];
        const count = rng.int(5, 7);
        const x = rng.normal(0.01, 0.01);
        for (let i = 0; i < count; i++) points.push([x + rng.normal(0, 0.008), -0.55 + (i * 0.65) / (count - 1) + rng.normal(0, 0.012)]);
        return { kind, points, size: rng.uniform(0.022, 0.03) };
      }
      case 'port':
        return { kind, points: [[side * rng.uniform(0.35, 0.5), rng.uniform(-0.62, -0.45)]], size: rng.uniform(0.045, 0.06) };
    }
  });
}
