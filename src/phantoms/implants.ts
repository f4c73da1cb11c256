import type { PatientAnatomy } from './identity.js';
import { addEllipse, addSegment, type Grid } from './raster.js';
import { Rng } from './rng.js';
import { posteriorRibPoint, spineX } from './skeleton.js';

/**
 * Implants and scars: the rare, persistent marks that make a patient recognisable on every film (granulomas,
 * a healed rib fracture, surgical clips, an apical cap, sternotomy wires, a port with its catheter).
 */
export function drawImplants(grid: Grid, a: PatientAnatomy, out: Float32Array): void {
  const rng = Rng.derive(a.textureSeed, 'marks');
  for (const m of a.marks) {
    switch (m.kind) {
      case 'granuloma':
        for (const [x, y] of m.points) addEllipse(grid, out, x, y, m.size, m.size * rng.uniform(0.8, 1), rng.uniform(0, 3), 1.1, 0.3);
        break;
      case 'healed-rib-fracture': {
        const p = m.points[0]?.[0] ?? 0.6;
        const [x, y] = posteriorRibPoint(a, m.rib ?? 0, p);
        addEllipse(grid, out, x, y, m.size, m.size * 0.75, rng.uniform(-0.3, 0.3), 0.34, 0.5);
        break;
      }
      case 'surgical-clips':
        for (const [x, y] of m.points) {
          const t = rng.uniform(0, Math.PI);
          const dx = Math.cos(t) * m.size * 0.5;
          const dy = Math.sin(t) * m.size * 0.5;
          addSegment(grid, out, x - dx, y - dy, x + dx, y + dy, 0.0045, 2.2);
        }
        break;
      case 'apical-cap': {
        const [x, y] = m.points[0] ?? [0, 0];
        addEllipse(grid, out, x, y + m.size, 0.13, m.size, 0, 0.22, 0.3);
        break;
      }
      case 'sternotomy-wires':
        for (const [x, y] of m.points) {
          // A twisted loop: two arcs and the twisted knot to one side.
          for (let t = 0; t < Math.PI * 2; t += 0.5) {
            addSegment(grid, out, x + m.size * Math.cos(t), y + 0.45 * m.size * Math.sin(t), x + m.size * Math.cos(t + 0.5), y + 0.45 * m.size * Math.sin(t + 0.5), 0.0035, 2.5);
          }
          addSegment(grid, out, x + m.size, y, x + m.size * 1.5, y + 0.01, 0.004, 2.5);
        }
        break;
      case 'port': {
        const [x, y] = m.points[0] ?? [0, 0];
        addEllipse(grid, out, x, y, m.size, m.size * 0.85, 0, 1.6, 0.15);
        addEllipse(grid, out, x, y, m.size * 0.5, m.size * 0.45, 0, -0.5, 0.5);
        // Catheter to the superior vena cava.
        const tx = spineX(a, -0.2) - 0.06;
        let px = x;
        let py = y;
        for (let s = 1; s <= 8; s++) {
          const t = s / 8;
          const nx = x + (tx - x) * t;
          const ny = y + (-0.15 - y) * t - 0.08 * Math.sin(Math.PI * t);
          addSegment(grid, out, px, py, nx, ny, 0.006, 0.7);
          px = nx;
          py = ny;
        }
        break;
      }
    }
  }
}

