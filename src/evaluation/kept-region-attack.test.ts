import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import { keptMaskOf, keptRegionScores, queryLinkage, rotateGrey, standardiseRows, type AttackImage } from './kept-region-attack.js';
import { seededRandom } from './seeded-random.js';

const SIZE = 64;

/** A patient's "anatomy": smooth random texture, larger than the image so that studies can be shifted over it. */
function anatomy(random: () => number): Float32Array {
  const n = SIZE + 16;
  const raw = Float32Array.from({ length: n * n }, () => random());
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let s = 0;
      let c = 0;
      for (let j = -1; j <= 1; j++) for (let i = -1; i <= 1; i++) if (x + i >= 0 && x + i < n && y + j >= 0 && y + j < n) [s, c] = [s + raw[(y + j) * n + x + i]!, c + 1];
      out[y * n + x] = s / c;
    }
  }
  return out;
}

/** One study of a patient: shifted by (dx, dy), with its own exposure (gain, offset) and noise. */
function study(texture: Float32Array, dx: number, dy: number, random: () => number): GreyImage {
  const n = SIZE + 16;
  const gain = 0.7 + 0.6 * random();
  const offset = 0.2 * random();
  const data = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) data[y * SIZE + x] = offset + gain * texture[(y + 8 + dy) * n + x + 8 + dx]! + 0.02 * (random() - 0.5);
  return { data, width: SIZE, height: SIZE };
}

const box = (x0: number, y0: number, x1: number, y1: number): Uint8Array => keptMaskOf([{ box: [x0, y0, x1, y1] }], [], SIZE, SIZE);

/** Six patients, three studies each, positioned within +-4 px. `release` makes each released image from its
 * original and the seeded generator. */
function cohort(release: (original: GreyImage, k: number, random: () => number) => { released: GreyImage; kept: Uint8Array }): AttackImage[] {
  const random = seededRandom(11);
  const images: AttackImage[] = [];
  for (let p = 0; p < 6; p++) {
    const texture = anatomy(random);
    for (let s = 0; s < 3; s++) {
      const original = study(texture, Math.round(8 * random() - 4), Math.round(8 * random() - 4), random);
      images.push({ patient: `P${p}`, original, ...release(original, images.length, random) });
    }
  }
  return images;
}

const regenerated = (random: () => number): GreyImage => ({ data: Float32Array.from({ length: SIZE * SIZE }, () => random()), width: SIZE, height: SIZE });

/** A released image: the given mask's pixels from the original, the rest regenerated. */
function keepFrom(original: GreyImage, kept: Uint8Array, random: () => number): GreyImage {
  const out = regenerated(random);
  for (let i = 0; i < kept.length; i++) if (kept[i]) out.data[i] = original.data[i]!;
  return out;
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

describe('the kept-region attack', () => {
  it('keeps the kept boxes less the burned-in text boxes, clipped to the image', () => {
    const m = keptMaskOf([{ box: [2, 2, 6, 6] }, { box: [60, 60, 70, 70] }], [[3, 3, 5, 5]], SIZE, SIZE);
    assert.equal(m.reduce((a, b) => a + b, 0), 16 - 4 + 16);
    assert.equal(m[3 * SIZE + 3], 0);
    assert.equal(m[2 * SIZE + 2], 1);
  });

  for (const feature of ['intensity', 'high-pass'] as const) {
    it(`links a released image that keeps a box of its own patient's pixels to the patient (${feature})`, () => {
      const images = cohort((original, _k, random) => {
        const kept = box(20, 20, 44, 44);
        return { released: keepFrom(original, kept, random), kept };
      });
      const scores = keptRegionScores(images, { feature });
      const linkage = queryLinkage(scores, images.map((i) => i.patient));
      assert.equal(mean(linkage.map((l) => l!.rank1)), 1, 'every released image linked at rank 1');
      assert.equal(linkage[0]!.chance, 2 / 17);
    });
  }

  it('does not link a fully regenerated image: with nothing kept every original ties, rank-1 is chance', () => {
    const images = cohort((_original, _k, random) => ({ released: regenerated(random), kept: new Uint8Array(SIZE * SIZE) }));
    const scores = keptRegionScores(images, { feature: 'high-pass' });
    for (const l of queryLinkage(scores, images.map((i) => i.patient))) assert.equal(l!.rank1, l!.chance);
    assert.ok(Number.isNaN(scores[0]), 'the own source is not in the gallery');
  });

  it('does not link regenerated pixels even where the attacker looks: at chance level over the cohort', () => {
    // the mask claims a box was kept, but its pixels were regenerated: nothing of the patient is in them
    const images = cohort((_original, _k, random) => ({ released: regenerated(random), kept: box(20, 20, 44, 44) }));
    const linkage = queryLinkage(keptRegionScores(images, { feature: 'high-pass' }), images.map((i) => i.patient));
    assert.ok(mean(linkage.map((l) => l!.rank1)) <= 0.25, `rank-1 ${mean(linkage.map((l) => l!.rank1))} against chance ${2 / 17}`);
  });

  it('finds a study rotated by a few degrees when rotations are searched', () => {
    const images = cohort((original, k, random) => {
      const kept = box(36, 36, 60, 60);
      return { released: keepFrom(k % 3 === 0 ? rotateGrey(original, 3) : original, kept, random), kept };
    });
    const patients = images.map((i) => i.patient);
    const rotatedOnly = (scores: Float32Array) => mean(queryLinkage(scores, patients).filter((_, q) => q % 3 === 0).map((l) => l!.rank1));
    assert.equal(rotatedOnly(keptRegionScores(images, { feature: 'high-pass', rotations: [0, -3, 3] })), 1);
  });

  it('breaks ties at random in expectation and standardises each row over its gallery', () => {
    const patients = ['a', 'a', 'b', 'b'];
    const nan = Number.NaN;
    // row 0: b tied with a at the top -> 1/2; row 1: its patient's image alone on top -> 1
    const scores = Float32Array.from([nan, 0.9, 0.9, 0.1, 0.8, nan, 0.2, 0.1, 0, 0, nan, 0, 0.3, 0.3, 0.3, nan]);
    const l = queryLinkage(scores, patients);
    assert.deepEqual(l.map((x) => x!.rank1), [0.5, 1, 1 / 3, 1 / 3]);
    assert.deepEqual(l.map((x) => x!.chance), [1 / 3, 1 / 3, 1 / 3, 1 / 3]);
    const z = standardiseRows(scores, 4);
    assert.ok(Number.isNaN(z[0]));
    assert.ok(Math.abs(z[1]! + z[2]! + z[3]!) < 1e-6, 'zero mean over the gallery');
    assert.deepEqual(Array.from(z.subarray(8, 11)), [0, 0, nan]);
    assert.equal(queryLinkage(scores, ['a', 'b', 'c', 'd'])[0], undefined, 'no other image of the patient: not linkable');
  });
});
