import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapInterval, bootstrapPlan, WeightedAuc, weightedMean, weightedPearson } from './bootstrap.js';
import { rocAuc } from './roc-auc.js';
import { seededRandom } from './seeded-random.js';

/** Patients with three images each; an image's value is its patient's level plus noise. */
function cohort(patients: number, seed: number): { patient: Int32Array; value: Float64Array } {
  const random = seededRandom(seed);
  const patient = new Int32Array(patients * 3);
  const value = new Float64Array(patients * 3);
  for (let p = 0; p < patients; p++) {
    const level = random();
    for (let k = 0; k < 3; k++) [patient[3 * p + k], value[3 * p + k]] = [p, level + 0.2 * (random() - 0.5)];
  }
  return { patient, value };
}

describe('the patient bootstrap', () => {
  it('draws as many patients as there are, the same way for the same seed', () => {
    const plan = bootstrapPlan(40, 50, 7);
    for (const w of plan.weights) assert.equal(w.reduce((a, b) => a + b, 0), 40);
    assert.deepEqual(bootstrapPlan(40, 50, 7).weights, plan.weights);
    assert.notDeepEqual(bootstrapPlan(40, 50, 8).weights, plan.weights);
  });

  it('contains the point estimate, and narrows with more patients', () => {
    const width = (patients: number): number => {
      const { patient, value } = cohort(patients, patients);
      const ci = bootstrapInterval(bootstrapPlan(patients, 1000, 1), (w) => weightedMean(value, (i) => w[patient[i]!]!));
      assert.ok(ci.lo <= ci.estimate && ci.estimate <= ci.hi, `${ci.lo} <= ${ci.estimate} <= ${ci.hi}`);
      assert.ok(Math.abs(ci.estimate - value.reduce((a, b) => a + b, 0) / value.length) < 1e-12, 'the estimate is the plain mean');
      return ci.hi - ci.lo;
    };
    const [small, large] = [width(20), width(320)];
    // the interval of a mean shrinks as 1 / sqrt(patients): 4 times narrower for 16 times the patients
    assert.ok(large < small / 2.5, `20 patients: ${small}, 320 patients: ${large}`);
    assert.ok(small > 0.1 && small < 0.4, `a mean of 20 uniform patient levels: width ${small}`);
  });

  it('gives no interval when too few resamples have a value (an AUC without both classes)', () => {
    const ci = bootstrapInterval(bootstrapPlan(10, 100, 3), (w) => (w[0]! > 0 ? 1 : Number.NaN));
    // patient 0 is left out of about 1 / e of the resamples: enough values remain
    assert.ok(Number.isFinite(ci.lo));
    const none = bootstrapInterval(bootstrapPlan(10, 100, 3), () => Number.NaN);
    assert.ok(Number.isNaN(none.lo) && Number.isNaN(none.hi));
  });
});

describe('weighted statistics', () => {
  it('weighted AUC equals rocAuc with unit weights and on the data replicated by integer weights', () => {
    const random = seededRandom(5);
    const labels = Array.from({ length: 60 }, () => random() < 0.4);
    const scores = Array.from({ length: 60 }, () => Math.round(random() * 10) / 10); // many ties
    const auc = new WeightedAuc(labels, scores);
    assert.ok(Math.abs(auc.auc(() => 1) - rocAuc(labels, scores)) < 1e-12);
    const weights = Array.from({ length: 60 }, () => Math.floor(random() * 3));
    const [l2, s2] = [[] as boolean[], [] as number[]];
    weights.forEach((w, i) => {
      for (let k = 0; k < w; k++) [l2.push(labels[i]!), s2.push(scores[i]!)];
    });
    assert.ok(Math.abs(auc.auc((i) => weights[i]!) - rocAuc(l2, s2)) < 1e-12);
    assert.ok(Number.isNaN(new WeightedAuc([true, true], [0.1, 0.2]).auc(() => 1)));
  });

  it('weighted Pearson correlation: 1 for a linear relation, the plain one with unit weights, NaN when constant', () => {
    const a = [1, 2, 3, 4, 5];
    assert.ok(Math.abs(weightedPearson(a, a.map((v) => 3 * v - 1), () => 1) - 1) < 1e-12);
    const b = [2, 1, 4, 3, 6];
    // 10 / sqrt(10 * 14.8)
    assert.ok(Math.abs(weightedPearson(a, b, () => 1) - 0.8219949365267865) < 1e-12);
    assert.ok(Number.isNaN(weightedPearson(a, [1, 1, 1, 1, 1], () => 1)));
  });
});
