import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drawCohort } from './demographics.js';
import { assignSplits } from './splits.js';

describe('phantom cohort demographics', () => {
  const cohort = drawCohort({ seed: 'demo', patients: 1000, imagesPerPatient: 3, maleShare: 0.68, oldShare: 0.25 });

  it('has the configured imbalance: 60-75% male and about 25% aged 60 or more', () => {
    const male = cohort.filter((p) => p.sex === 'M').length / cohort.length;
    const old = cohort.filter((p) => p.ageGroup === '>=60').length / cohort.length;
    assert.ok(male >= 0.6 && male <= 0.75, `male share ${male}`);
    assert.ok(old >= 0.22 && old <= 0.28, `old share ${old}`);
    assert.equal(male, 0.68);
    assert.equal(old, 0.25);
  });

  it('keeps the shares at other settings and sizes', () => {
    for (const [n, m, o] of [[37, 0.6, 0.3], [200, 0.75, 0.2], [5, 0.5, 0.5]] as const) {
      const c = drawCohort({ seed: 's', patients: n, imagesPerPatient: 1, maleShare: m, oldShare: o });
      assert.equal(c.filter((p) => p.sex === 'M').length, Math.round(m * n));
      assert.equal(c.filter((p) => p.ageGroup === '>=60').length, Math.round(o * n));
    }
  });

  it('gives adult ages consistent with the age group and the birth date', () => {
    for (const p of cohort) {
      assert.ok(p.age >= 18 && p.age <= 92, `age ${p.age}`);
      assert.equal(p.ageGroup, p.age >= 60 ? '>=60' : '<60');
      // All visits are within one year of age: age at the last visit equals `age`.
      const last = p.visitOffsetsDays[p.visitOffsetsDays.length - 1] ?? 0;
      const visit = new Date(Date.UTC(+p.firstVisit.slice(0, 4), +p.firstVisit.slice(4, 6) - 1, +p.firstVisit.slice(6, 8)) + last * 86400000);
      const birth = new Date(Date.UTC(+p.birthDate.slice(0, 4), +p.birthDate.slice(4, 6) - 1, +p.birthDate.slice(6, 8)));
      let years = visit.getUTCFullYear() - birth.getUTCFullYear();
      if (visit.getUTCMonth() < birth.getUTCMonth() || (visit.getUTCMonth() === birth.getUTCMonth() && visit.getUTCDate() < birth.getUTCDate())) years--;
      assert.equal(years, p.age, `${p.key}`);
    }
  });

  it('plants distinct identifiers: unique MRNs', () => {
    assert.equal(new Set(cohort.map((p) => p.mrn)).size, cohort.length);
  });

  it('splits patients 70/15/15 exactly and reproducibly', () => {
    const s = assignSplits('demo', 1000);
    assert.deepEqual(s, assignSplits('demo', 1000));
    assert.equal(s.filter((x) => x === 'val').length, 150);
    assert.equal(s.filter((x) => x === 'test').length, 150);
    assert.equal(s.filter((x) => x === 'train').length, 700);
  });
});
