import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addImageNoise, estimateNoiseLevel, noiseAt, typicalNoise } from './image-noise.js';
import { gaussianNoise } from './seeded-noise.js';

const W = 256;
/** A radiograph-like image: a smooth gradient, bright "ribs" with sharp edges, and a flat shutter band on the left;
 * quantum-like noise whose level grows with the value (sigma = 4 + 0.01 v), none on the shutter. */
function phantom(): { stored: Int32Array; sigmaAt: (v: number) => number } {
  const sigmaAt = (v: number): number => 4 + 0.01 * v;
  const n = gaussianNoise('noise-test', W * W);
  const stored = new Int32Array(W * W);
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      if (x < 16) continue; // shutter: 0, no noise
      const base = 400 + 10 * x + (Math.floor(y / 12) % 2 ? 600 : 0);
      stored[y * W + x] = Math.round(base + sigmaAt(base) * n[y * W + x]!);
    }
  }
  return { stored, sigmaAt };
}

describe('the acquisition noise given to regenerated pixels', () => {
  it('estimates the noise level per intensity, undisturbed by edges and by flat shutters', () => {
    const { stored, sigmaAt } = phantom();
    const level = estimateNoiseLevel(stored, W, W)!;
    assert.ok(level.centres.length >= 4);
    for (const v of [800, 1600, 2600]) {
      const got = noiseAt(level, v);
      assert.ok(Math.abs(got - sigmaAt(v)) / sigmaAt(v) < 0.2, `at ${v}: estimated ${got.toFixed(2)}, true ${sigmaAt(v).toFixed(2)}`);
    }
    assert.ok(noiseAt(level, 3000) > noiseAt(level, 800), 'the level grows with the value, as quantum noise does');
  });

  it('finds nothing to estimate on a noise-free image', () => {
    const flat = new Int32Array(W * W).fill(1000);
    assert.equal(estimateNoiseLevel(flat, W, W), undefined);
  });

  it('adds seeded noise of that level to the regenerated pixels only, within the stored range', () => {
    const { stored } = phantom();
    const level = estimateNoiseLevel(stored, W, W)!;
    const smooth = new Int32Array(W * W).fill(2000);
    const keep = new Uint8Array(W * W);
    for (let y = 100; y < 140; y++) keep.fill(1, y * W + 100, y * W + 140);
    const out = addImageNoise(smooth, keep, level, 'seed-a', 0, 4095);
    for (let i = 0; i < keep.length; i++) if (keep[i]) assert.equal(out[i], 2000, 'a kept pixel gets no noise');
    const measured = estimateNoiseLevel(out, W, W)!;
    const want = noiseAt(level, 2000);
    assert.ok(Math.abs(typicalNoise(measured) - want) / want < 0.15, `measured ${typicalNoise(measured).toFixed(2)} against ${want.toFixed(2)}`);
    assert.deepEqual(addImageNoise(smooth, keep, level, 'seed-a', 0, 4095), out, 'the same seed gives the same grain');
    assert.notDeepEqual(addImageNoise(smooth, keep, level, 'seed-b', 0, 4095), out);
    const clamped = addImageNoise(new Int32Array(W * W).fill(4095), keep, level, 'seed-a', 0, 4095);
    assert.ok(clamped.every((v) => v >= 0 && v <= 4095));
  });
});
