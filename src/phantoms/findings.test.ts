import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeForDisplay } from './contact-sheet.js';
import { FINDING_CLASSES, planFindings } from './findings.js';
import { DEFAULT_OPTIONS, generatePhantoms } from './generate.js';
import { parseLabels, type ImageLabel } from './labels.js';
import { Rng } from './rng.js';

describe('phantom findings', () => {
  let root: string;
  let labels: ImageLabel[];
  const gray = new Map<string, Buffer>();

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'phantoms-findings-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: root, seed: 'findings', patients: 16, imagesPerPatient: 2, size: 192, normalShare: 0, burnedInShare: 0 });
    labels = parseLabels(await readFile(path.join(root, 'labels.jsonl'), 'utf8'));
    for (const l of labels) gray.set(l.image_id, decodeForDisplay(new Uint8Array(await readFile(path.join(root, l.file)))).gray);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('plans about 40% normal images and up to three different findings otherwise', () => {
    const rng = Rng.derive('plan');
    let normal = 0;
    const seen = new Set<string>();
    for (let k = 0; k < 2000; k++) {
      const p = planFindings(rng, 0.4);
      if (p.labels.length === 0) normal++;
      const distinct = new Set(p.labels);
      assert.ok(distinct.size <= 3);
      for (const l of p.labels) seen.add(l);
      assert.equal(p.cardiothoracicRatio !== null, p.labels.includes('cardiomegaly'));
    }
    assert.ok(Math.abs(normal / 2000 - 0.4) < 0.04, `normal share ${normal / 2000}`);
    assert.deepEqual([...seen].sort(), [...FINDING_CLASSES].sort());
  });

  it('gives every abnormal image at least one box', () => {
    for (const l of labels) assert.ok(l.findings.length >= 1, `${l.image_id} has no finding`);
  });

  it('draws nodules and masses as opacities that fill their boxes (brighter inside than in a ring around)', () => {
    let checked = 0;
    for (const l of labels) {
      const g = gray.get(l.image_id) as Buffer;
      for (const f of l.findings.filter((x) => x.label === 'nodule' || x.label === 'mass')) {
        const [x0, y0, x1, y1] = f.box;
        const w = x1 - x0;
        const h = y1 - y0;
        // The central half of the box against a ring half a box wide around it.
        let inSum = 0;
        let inN = 0;
        let ringSum = 0;
        let ringN = 0;
        for (let y = Math.max(0, y0 - h / 2); y < Math.min(l.rows, y1 + h / 2); y++) {
          for (let x = Math.max(0, x0 - w / 2); x < Math.min(l.columns, x1 + w / 2); x++) {
            const v = g[Math.floor(y) * l.columns + Math.floor(x)] as number;
            const centre = x >= x0 + w / 4 && x < x1 - w / 4 && y >= y0 + h / 4 && y < y1 - h / 4;
            const inBox = x >= x0 && x < x1 && y >= y0 && y < y1;
            if (centre) {
              inSum += v;
              inN++;
            } else if (!inBox) {
              ringSum += v;
              ringN++;
            }
          }
        }
        const contrast = (inSum / inN - ringSum / ringN) / 255;
        assert.ok(contrast > 0.05, `${l.image_id} ${f.label} contrast ${contrast.toFixed(3)}`);
        checked++;
      }
    }
    assert.ok(checked >= 5, `only ${checked} nodules and masses`);
  });

  it('keeps boxes in proportion: nodules small, masses larger, cardiomegaly wider than 40% of the image', () => {
    const size = (l: ImageLabel, label: string): number[] =>
      l.findings.filter((f) => f.label === label).map((f) => Math.max(f.box[2] - f.box[0], f.box[3] - f.box[1]) / l.columns);
    const nod = labels.flatMap((l) => size(l, 'nodule'));
    const mass = labels.flatMap((l) => size(l, 'mass'));
    for (const s of nod) assert.ok(s > 0.03 && s < 0.09, `nodule ${s}`);
    for (const s of mass) assert.ok(s > 0.07 && s < 0.22, `mass ${s}`);
    for (const l of labels) {
      for (const f of l.findings.filter((x) => x.label === 'cardiomegaly')) {
        assert.ok((f.box[2] - f.box[0]) / l.columns > 0.4, `${l.image_id} cardiomegaly box width ${f.box[2] - f.box[0]}`);
      }
    }
  });
});
