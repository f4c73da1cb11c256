import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_KEEP_POLICY, keepMask, planKeptRegions, type KeepPolicy } from './kept-regions.js';
import { harmoniseSeams } from './seam-blend.js';
import type { Detection } from './yolo-detector.js';

const det = (className: string, score: number, box: [number, number, number, number]): Detection => ({ classIndex: 0, className, score, box });
const classes = { keep: new Set(['nodule', 'cardiomegaly', 'effusion']), text: new Set(['text']) };
const policy = (p: Partial<KeepPolicy> = {}): KeepPolicy => ({ ...DEFAULT_KEEP_POLICY, margin: 0, ...p });

describe('which regions are kept pixel-exact', () => {
  it('keeps only confident findings (threshold for all, or per class), and says why the others are regenerated', () => {
    const found = [det('nodule', 0.9, [10, 10, 20, 20]), det('nodule', 0.3, [40, 40, 50, 50]), det('effusion', 0.6, [60, 60, 70, 70])];
    const plan = planKeptRegions(found, classes, policy(), 100, 100);
    assert.deepEqual(plan.kept.map((k) => k.score), [0.9, 0.6]);
    assert.deepEqual(plan.withheld, [{ finding: 'nodule', score: 0.3, reason: 'score below the keep threshold 0.5' }]);
    const perClass = planKeptRegions(found, classes, policy({ keepConfidence: { nodule: 0.25, effusion: 0.7 } }), 100, 100);
    assert.deepEqual(perClass.kept.map((k) => `${k.finding} ${k.score}`), ['nodule 0.9', 'nodule 0.3']);
    assert.equal(perClass.withheld[0]!.reason, 'score below the keep threshold 0.7');
  });

  it('shrinks a box larger than the cap around its centre, and records the cap and why', () => {
    const plan = planKeptRegions([det('cardiomegaly', 0.95, [20, 30, 80, 90])], classes, policy({ maxBoxFraction: 0.1, maxKeptFraction: 0.5 }), 100, 100);
    const [k] = plan.kept;
    const area = (k!.box[2] - k!.box[0]) * (k!.box[3] - k!.box[1]);
    assert.ok(area <= 1000 && area > 800, `area ${area}`);
    assert.deepEqual([(k!.box[0] + k!.box[2]) / 2, (k!.box[1] + k!.box[3]) / 2], [50, 60], 'centred where the box was');
    assert.match(k!.capped!, /covered 36% of the image; shrunk around its centre to the cap of 10%/);
  });

  it('keeps at most maxKeptFraction of the image: the least confident beyond it are regenerated', () => {
    const found = [det('nodule', 0.7, [0, 0, 30, 30]), det('nodule', 0.9, [50, 50, 80, 80]), det('effusion', 0.8, [0, 50, 30, 80])];
    const plan = planKeptRegions(found, classes, policy({ maxBoxFraction: 0.5, maxKeptFraction: 0.2 }), 100, 100);
    assert.deepEqual(plan.kept.map((k) => k.score), [0.9, 0.8]);
    assert.equal(plan.withheld[0]!.score, 0.7);
    assert.match(plan.withheld[0]!.reason, /more than 20% of the image/);
  });

  it('keeps pixels only of the findings the policy lists; the others are withheld with the reason, whatever their score', () => {
    const found = [det('cardiomegaly', 0.99, [20, 30, 80, 90]), det('nodule', 0.8, [10, 10, 20, 20]), det('effusion', 0.9, [60, 60, 70, 70])];
    const plan = planKeptRegions(found, classes, policy({ keepFindings: ['Nodule'], maxBoxFraction: 0.5, maxKeptFraction: 0.5 }), 100, 100);
    assert.deepEqual(plan.kept.map((k) => k.finding), ['nodule']);
    assert.deepEqual(plan.withheld.map((w) => `${w.finding}: ${w.reason}`), ['cardiomegaly: the keep policy keeps no pixels of this finding', 'effusion: the keep policy keeps no pixels of this finding']);
    assert.equal(planKeptRegions(found, classes, policy({ keepFindings: [] }), 100, 100).kept.length, 0, 'an empty list keeps nothing');
  });

  it('adds the margin around each kept box (the method\'s 1/32 by default; 0 keeps the detector\'s box)', () => {
    const found = [det('nodule', 0.9, [40, 40, 50, 50])];
    assert.deepEqual(planKeptRegions(found, classes, { ...DEFAULT_KEEP_POLICY }, 128, 128).kept[0]!.box, [36, 36, 54, 54]);
    assert.deepEqual(planKeptRegions(found, classes, policy({ margin: 0 }), 128, 128).kept[0]!.box, [40, 40, 50, 50]);
  });

  it('regenerates text at its own (lower) threshold, even inside a kept box, with the margin', () => {
    const found = [det('nodule', 0.9, [10, 10, 60, 60]), det('text', 0.3, [20, 20, 30, 30]), det('text', 0.1, [40, 40, 50, 50])];
    const plan = planKeptRegions(found, classes, policy({ margin: 0.02, maxBoxFraction: 0.5, maxKeptFraction: 0.5 }), 100, 100);
    assert.deepEqual(plan.text, [[18, 18, 32, 32]]);
    const mask = keepMask(plan, 1, 1, 100, 100);
    assert.equal(mask[25 * 100 + 25], 0, 'text inside the kept box is regenerated');
    assert.equal(mask[45 * 100 + 45], 1, 'a text box below the threshold is not');
    assert.equal(mask[9 * 100 + 9], 1, 'the margin is kept');
    assert.equal(mask[5 * 100 + 5], 0);
  });
});

describe('seams between kept and regenerated pixels', () => {
  const W = 64;
  const keep = new Uint8Array(W * W);
  for (let y = 16; y < 48; y++) keep.fill(1, y * W + 16, y * W + 48);

  it('never changes a kept pixel, and moves the regenerated border toward the kept values, fading with distance', () => {
    const original = new Int32Array(W * W).map((_, i) => 1000 + (i % 7));
    const generated = new Int32Array(W * W).fill(600);
    const out = harmoniseSeams(original, generated, keep, W, W, 8, 0, 4095);
    for (let i = 0; i < keep.length; i++) if (keep[i]) assert.equal(out[i], original[i]);
    const at = (x: number): number => out[32 * W + x]!;
    assert.ok(at(15) > 900, `next to the kept region: ${at(15)}`);
    assert.ok(at(15) > at(12) && at(12) > at(9), 'fades with distance');
    assert.equal(at(2), 600, 'beyond the band: the generated value');
  });

  it('copies no original pixel from outside the kept region: changing them changes nothing', () => {
    const a = new Int32Array(W * W).fill(1000);
    const b = a.map((v, i) => (keep[i] ? v : 3000 + (i % 13)));
    const generated = new Int32Array(W * W).map((_, i) => 500 + (i % 5));
    assert.deepEqual(harmoniseSeams(a, generated, keep, W, W, 8, 0, 4095), harmoniseSeams(b, generated, keep, W, W, 8, 0, 4095));
  });

  it('with nothing kept, or no band, is the generated image as is; offsets stay within the stored range', () => {
    const generated = new Int32Array(W * W).fill(10);
    assert.deepEqual(harmoniseSeams(new Int32Array(W * W).fill(255), generated, new Uint8Array(W * W), W, W, 8, 0, 255), generated);
    const out = harmoniseSeams(new Int32Array(W * W).fill(255), generated, keep, W, W, 0, 0, 255);
    assert.equal(out[0], 10);
    const clamped = harmoniseSeams(new Int32Array(W * W).fill(250), new Int32Array(W * W).fill(250).map((v, i) => (keep[i] ? v : 240)), keep, W, W, 8, 0, 245);
    assert.ok(clamped.every((v, i) => keep[i] || v <= 245));
  });
});
