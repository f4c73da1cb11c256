import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeForDisplay } from './contact-sheet.js';
import { DEFAULT_OPTIONS, generatePhantoms } from './generate.js';
import { parseLabels, type ImageLabel } from './labels.js';

/** Display image downsampled 2x2 and standardised (zero mean, unit variance). */
function features(gray: Buffer, size: number): Float64Array {
  const h = size / 2;
  const out = new Float64Array(h * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < h; x++) {
      const k = 2 * y * size + 2 * x;
      out[y * h + x] = ((gray[k] as number) + (gray[k + 1] as number) + (gray[k + size] as number) + (gray[k + size + 1] as number)) / 4;
    }
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  let sd = 0;
  for (const v of out) sd += (v - mean) ** 2;
  sd = Math.sqrt(sd / out.length) || 1;
  for (let k = 0; k < out.length; k++) out[k] = ((out[k] as number) - mean) / sd;
  return out;
}

/** Best normalised cross-correlation over shifts up to `s` pixels: a similarity that ignores positioning. */
function shiftedNcc(a: Float64Array, b: Float64Array, n: number, s: number): number {
  let best = -1;
  for (let dy = -s; dy <= s; dy++) {
    for (let dx = -s; dx <= s; dx++) {
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      let m = 0;
      for (let y = s; y < n - s; y++) {
        for (let x = s; x < n - s; x++) {
          const va = a[y * n + x] as number;
          const vb = b[(y + dy) * n + x + dx] as number;
          sa += va;
          sb += vb;
          saa += va * va;
          sbb += vb * vb;
          sab += va * vb;
          m++;
        }
      }
      const cov = sab / m - (sa / m) * (sb / m);
      const v = cov / Math.sqrt((saa / m - (sa / m) ** 2) * (sbb / m - (sb / m) ** 2));
      if (v > best) best = v;
    }
  }
  return best;
}

describe('phantom identity: a patient is recognisable across images', () => {
  let root: string;
  let labels: ImageLabel[];
  const feats = new Map<string, Float64Array>();
  const size = 256;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'phantoms-identity-'));
    // Findings and text off, so that what is compared is the patient, seen with different position,
    // inspiration, exposure, processing and noise.
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: root, seed: 'identity', patients: 10, imagesPerPatient: 2, size, normalShare: 1, burnedInShare: 0 });
    labels = parseLabels(await readFile(path.join(root, 'labels.jsonl'), 'utf8'));
    for (const l of labels) {
      const d = decodeForDisplay(new Uint8Array(await readFile(path.join(root, l.file))));
      feats.set(l.image_id, features(d.gray, size));
    }
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('images of one patient are not copies of each other (position, exposure and noise vary)', () => {
    const [a, b] = labels.filter((l) => l.patient_id === 'P00001');
    assert.ok(a && b);
    const fa = feats.get(a.image_id) as Float64Array;
    const fb = feats.get(b.image_id) as Float64Array;
    let diff = 0;
    for (let k = 0; k < fa.length; k++) diff += Math.abs((fa[k] as number) - (fb[k] as number));
    assert.ok(diff / fa.length > 0.1, `mean standardised difference ${diff / fa.length}`);
  });

  it('same-patient pairs are more similar than different-patient pairs (shift-tolerant correlation, ROC-AUC >= 0.8)', (t) => {
    const n = size / 2;
    const same: number[] = [];
    const diff: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i] as ImageLabel;
        const b = labels[j] as ImageLabel;
        const s = shiftedNcc(feats.get(a.image_id) as Float64Array, feats.get(b.image_id) as Float64Array, n, 8);
        (a.patient_id === b.patient_id ? same : diff).push(s);
      }
    }
    assert.equal(same.length, 10);
    let wins = 0;
    for (const s of same) for (const d of diff) wins += s > d ? 1 : s === d ? 0.5 : 0;
    const auc = wins / (same.length * diff.length);
    const mean = (v: number[]): number => v.reduce((x, y) => x + y, 0) / v.length;
    t.diagnostic(`identity ROC-AUC ${auc.toFixed(3)}; mean similarity same ${mean(same).toFixed(3)}, different ${mean(diff).toFixed(3)}`);
    assert.ok(mean(same) > mean(diff), `same ${mean(same)} vs different ${mean(diff)}`);
    assert.ok(auc >= 0.8, `identity AUC ${auc.toFixed(3)}`);
  });
});
