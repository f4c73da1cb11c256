import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readGreyPixels, toDisplay } from '../anonymizer/pixel/grey-pixels.js';
import { readPart10 } from '../dicom/part10.js';
import { AnofairError } from '../errors/anofair-error.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../phantoms/generate.js';
import { parseLabels } from '../phantoms/labels.js';
import { REPO_ROOT } from '../../test/support/repo-paths.js';
import { reidPairs } from './anonymization-eval.js';
import { rocAuc } from './roc-auc.js';
import { runTrainedAttacks, type AttackSplitImage } from './trained-attacks.js';

describe('the trained attacks (PyTorch, on phantoms)', () => {
  let dir: string;
  let attack: AttackSplitImage[];
  let test: AttackSplitImage[];
  const demo = join(REPO_ROOT, 'models', 'demo');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-attacks-test-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: dir, patients: 10, seed: 'trained-attacks', burnedInShare: 0, force: false });
    const all = parseLabels(readFileSync(join(dir, 'labels.jsonl'), 'utf8')).map((l) => {
      const display = toDisplay(readGreyPixels(readPart10(readFileSync(join(dir, l.file))).dataset));
      return { split: l.split, image: { patient: l.patient_id, male: l.sex === 'M', old: l.age_group === '>=60', original: display, anonymized: display, kept: new Uint8Array(display.data.length).fill(1) } };
    });
    attack = all.filter((a) => a.split === 'train').map((a) => a.image);
    test = all.filter((a) => a.split !== 'train').map((a) => a.image);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const quick = { steps: 20, attributeSteps: 2, batch: 8, seed: 5, frechetResamples: 20, evalModels: demo, inpaint: join(demo, 'inpaint') };

  it('tells flat grey "releases" from radiographs, scores every held-out pair, and measures no Fréchet distance for identical images', async () => {
    const grey = (images: AttackSplitImage[]): AttackSplitImage[] => images.map((i) => ({ ...i, anonymized: { ...i.original, data: new Float32Array(i.original.data.length).fill(0.5) }, kept: new Uint8Array(i.original.data.length) }));
    const { pairs, same } = reidPairs(test, 3);
    const events: string[] = [];
    const r = await runTrainedAttacks(grey(attack), grey(test), pairs, { ...quick, onEvent: (e) => events.push(e.event) });
    assert.equal(r.attack_images, attack.length);
    assert.equal(r.pretrained_backbone, true, "the shipped attribute judge's weights are found");
    assert.equal(r.verifier.scores.length, pairs.length);
    assert.equal(r.kept_verifier.scores_originals.length, pairs.length);
    assert.equal(r.attributes.scores.length, test.length);
    // a discriminator cannot miss a flat grey image
    const realism = rocAuc([...r.realism.real.map(() => false), ...r.realism.regenerated.map(() => true)], [...r.realism.real, ...r.realism.regenerated]);
    assert.ok(realism > 0.95, `realism discriminator AUC ${realism}`);
    assert.ok(Math.abs(rocAuc(same, r.kept_verifier.scores) - 0.5) < 1e-9, 'nothing kept: the kept-region verifier sees two black images in every pair');
    assert.ok(r.frechet && r.frechet.released.estimate > 1, `Fréchet distance of grey to radiographs ${r.frechet?.released.estimate}`);
    assert.ok(r.frechet!.vae_round_trip!.estimate < r.frechet!.released.estimate, 'the VAE round trip is nearer the originals than flat grey');
    assert.ok(r.realism_floor, 'the VAE round trip floor is measured when the inpainting model is given');
    assert.ok(events.includes('step') && events.at(-1) === 'done', 'progress events reach the caller');

    const same0 = await runTrainedAttacks(attack, test, pairs, { ...quick, steps: 2, inpaint: undefined });
    assert.ok(Math.abs(same0.frechet!.released.estimate) < 1e-6, `identical images: Fréchet distance ${same0.frechet!.released.estimate}`);
    assert.equal(same0.realism_floor, undefined, 'no inpainting model, no floor');
  });

  it('refuses an attack split that shares a patient with the test split, before training anything', async () => {
    await assert.rejects(
      runTrainedAttacks([...attack, test[0]!], test, [], { ...quick, python: '/nonexistent/python' }),
      (e: unknown) => e instanceof AnofairError && e.code === 'CONFIG_INVALID' && /share a patient/.test(e.message),
    );
  });

  it('says which python is missing, in one line', async () => {
    await assert.rejects(
      runTrainedAttacks(attack, test, [], { ...quick, python: '/nonexistent/python' }),
      (e: unknown) => e instanceof AnofairError && e.code === 'CONFIG_INVALID' && /\/nonexistent\/python not found/.test(e.message),
    );
  });
});
