import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import { TEST_KEY } from '../../../test/support/research-pipeline-kit.js';
import { deidentify } from '../../anonymizer/deidentify.js';
import { dryRun } from './dry-run.js';
import { loadRules } from './rules-loader.js';

const deid = { key: TEST_KEY, deidentify };

describe('rules dry run', () => {
  const rules = loadRules(
    `version: 1
rules:
  - name: everything-to-trial
    forward: { destinations: [trial], deidentify: { profile: basic, options: [retain-patient-characteristics] } }
    continue: true
  - name: chest
    when: { attribute: BodyPartExamined, equals: CHEST }
    forward: { destinations: [research] }
  - name: from-ct-export
    when: { client: ct-export }
    forward: { destinations: [research] }
  - name: rest
    drop: true
`,
    { knownDestinations: ['research', 'trial'] },
  );

  it('lists every matching rule and, per forward, what de-identification would change', () => {
    const result = dryRun(syntheticInstance(), rules, deid);
    assert.equal(result.decision, 'forward');
    assert.equal(result.decidedBy, 'chest');
    assert.deepEqual(result.matched.map((m) => m.name), ['everything-to-trial', 'chest']);
    assert.deepEqual(result.forwards.map((f) => [f.rule, f.destinations, f.outcome]), [
      ['everything-to-trial', ['trial'], 'released'],
      ['chest', ['research'], 'released'],
    ]);
    const sex = (i: number) => result.forwards[i]!.changes.find((c) => c.name === 'PatientSex');
    assert.equal(sex(0), undefined, 'retain-patient-characteristics keeps Patient\'s Sex');
    assert.equal(sex(1)?.before, 'F');
    assert.equal(result.forwards[1]!.record.configHash, rules.hash);
  });

  it('shows a withheld instance with the reason', () => {
    const result = dryRun(syntheticInstance({ overrides: { Modality: 'US', BurnedInAnnotation: 'YES' } }), rules, deid);
    assert.equal(result.forwards[0]!.outcome, 'quarantined');
    assert.ok(result.forwards[0]!.reason && result.forwards[0]!.reason.length > 0);
  });

  it('evaluates sender conditions with the sender given', () => {
    const hand = syntheticInstance({ overrides: { BodyPartExamined: 'HAND' } });
    assert.equal(dryRun(hand, rules, deid).decidedBy, 'rest');
    assert.equal(dryRun(hand, rules, deid, { client: 'ct-export' }).decidedBy, 'from-ct-export');
  });

  it('applies the site-wide burned-in presumption from the de-identification settings', () => {
    const ot = syntheticInstance({ overrides: { Modality: 'OT', BurnedInAnnotation: '' } });
    assert.equal(dryRun(ot, rules, deid).forwards[0]!.outcome, 'quarantined', 'OT without Burned In Annotation is presumed to carry text');
    const narrowed = { ...deid, burnedInPresumption: { modalities: [], sopClassPrefixes: [] } };
    assert.equal(dryRun(ot, rules, narrowed).forwards[0]!.outcome, 'released', 'a site may narrow the presumption');
  });
});

describe('rules dry run with pixels: cxr-anofair', () => {
  const rules = loadRules(
    `version: 1
rules:
  - name: chest-pixels
    forward: { destinations: [research], pixels: cxr-anofair }
`,
    { knownDestinations: ['research'] },
  );
  // the dry run asks the cleaner only whether the method applies; it never runs the models
  const cleaner = {
    notApplicable: (file: Parameters<typeof deidentify>[0]) => (file.dataset['00080060']?.Value?.[0] === 'CR' ? undefined : 'not a chest radiograph'),
    clean: async () => assert.fail('a dry run must not run the pixel models'),
  };

  it('shows a chest radiograph with burned-in text released with regenerated pixels, an ultrasound withheld, and why', () => {
    const chest = dryRun(syntheticInstance({ seed: 'cr', overrides: { Modality: 'CR', BurnedInAnnotation: 'YES' } }), rules, { ...deid, pixelCleaner: cleaner });
    assert.deepEqual(chest.forwards.map((f) => [f.pixels, f.pixelPlan, f.outcome, f.record.pixels]), [['cxr-anofair', { regenerate: true }, 'released', 'cleaned']]);
    const us = dryRun(syntheticInstance({ seed: 'us', overrides: { Modality: 'US', BurnedInAnnotation: 'YES' } }), rules, { ...deid, pixelCleaner: cleaner });
    assert.deepEqual(us.forwards.map((f) => [f.pixelPlan, f.outcome]), [[{ regenerate: false, reason: 'not a chest radiograph' }, 'quarantined']]);
  });
});
