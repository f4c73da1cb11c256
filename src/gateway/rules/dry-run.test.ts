import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import { TEST_KEY } from '../../../test/support/research-pipeline-kit.js';
import { inThreadReleaser, type ReleaseSettings } from '../../anonymizer/release-instance.js';
import { dryRun } from './dry-run.js';
import { loadRules } from './rules-loader.js';

const site: ReleaseSettings = { key: TEST_KEY };
const deid = { key: TEST_KEY, releaser: inThreadReleaser(site) };

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

  it('lists every matching rule and, per forward, what de-identification would change', async () => {
    const result = await dryRun(syntheticInstance(), rules, deid);
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
    assert.equal(result.forwards[1]!.record?.configHash, rules.hash);
  });

  it('shows a withheld instance with the reason', async () => {
    const result = await dryRun(syntheticInstance({ overrides: { Modality: 'US', BurnedInAnnotation: 'YES' } }), rules, deid);
    assert.equal(result.forwards[0]!.outcome, 'quarantined');
    assert.ok(result.forwards[0]!.reason && result.forwards[0]!.reason.length > 0);
  });

  it('evaluates sender conditions with the sender given', async () => {
    const hand = syntheticInstance({ overrides: { BodyPartExamined: 'HAND' } });
    assert.equal((await dryRun(hand, rules, deid)).decidedBy, 'rest');
    assert.equal((await dryRun(hand, rules, deid, { client: 'ct-export' })).decidedBy, 'from-ct-export');
  });

  it('applies the site-wide burned-in presumption from the de-identification settings', async () => {
    const ot = syntheticInstance({ overrides: { Modality: 'OT', BurnedInAnnotation: '' } });
    assert.equal((await dryRun(ot, rules, deid)).forwards[0]!.outcome, 'quarantined', 'OT without Burned In Annotation is presumed to carry text');
    const narrowed = { key: TEST_KEY, releaser: inThreadReleaser({ ...site, burnedInPresumption: { modalities: [], sopClassPrefixes: [] } }) };
    assert.equal((await dryRun(ot, rules, narrowed)).forwards[0]!.outcome, 'released', 'a site may narrow the presumption');
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
  // the dry run never runs the pixel models; it says from the attributes whether the step could regenerate
  const pixelStep = { clean: async () => assert.fail('a dry run must not run the pixel models') };
  const withModels = { key: TEST_KEY, releaser: inThreadReleaser({ ...site, pixelStep }) };
  const radiograph = (seed: string, overrides: Record<string, unknown>): Uint8Array => syntheticInstance({ seed, rows: 128, columns: 96, overrides });

  it('shows a radiograph with burned-in text released with regenerated pixels, a colour image withheld, and why', async () => {
    const chest = await dryRun(radiograph('cr', { Modality: 'CR', BurnedInAnnotation: 'YES' }), rules, withModels);
    assert.deepEqual(chest.forwards.map((f) => [f.pixels, f.pixelPlan, f.outcome, f.record?.pixels]), [['cxr-anofair', { regenerate: true }, 'released', 'cleaned']]);
    const colour = await dryRun(radiograph('us', { Modality: 'US', BurnedInAnnotation: 'YES', PhotometricInterpretation: 'RGB' }), rules, withModels);
    assert.deepEqual(colour.forwards.map((f) => [f.pixelPlan, f.outcome]), [
      [{ regenerate: false, reason: 'the image is not greyscale (Photometric Interpretation RGB)' }, 'quarantined'],
    ]);
    assert.match(colour.forwards[0]!.reason!, /^pixel anonymization would fail: /);
  });

  it('says so when a rule asks for pixels and no pixel models are loaded', async () => {
    const chest = await dryRun(radiograph('cr2', { Modality: 'CR' }), rules, deid);
    assert.equal(chest.forwards[0]!.outcome, 'quarantined');
    assert.match(chest.forwards[0]!.reason!, /asks for pixels: cxr-anofair but no pixel models are loaded/);
  });

  it('sends a thumbnail-sized image to quarantine rather than regenerating it', async () => {
    const tiny = await dryRun(syntheticInstance({ seed: 'tiny', overrides: { Modality: 'CR' } }), rules, withModels);
    assert.match(tiny.forwards[0]!.reason!, /the image is 8x8; the pixel step takes sides of 64/);
  });
});
