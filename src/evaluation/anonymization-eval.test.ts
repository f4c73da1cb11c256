import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readGreyPixels, toDisplay } from '../anonymizer/pixel/grey-pixels.js';
import { readPart10 } from '../dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../phantoms/generate.js';
import { parseLabels } from '../phantoms/labels.js';
import { REPO_ROOT } from '../../test/support/repo-paths.js';
import { evaluateAnonymization, reidPairs, type EvalImage } from './anonymization-eval.js';
import { EvaluationModels } from './evaluation-models.js';
import { rocAuc } from './roc-auc.js';

describe('ROC-AUC and the re-identification pairs', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, 0.5 for ties, and counts ties as halves', () => {
    assert.equal(rocAuc([false, false, true, true], [0.1, 0.2, 0.3, 0.4]), 1);
    assert.equal(rocAuc([true, true, false, false], [0.1, 0.2, 0.3, 0.4]), 0);
    assert.equal(rocAuc([true, false, true, false], [0.5, 0.5, 0.5, 0.5]), 0.5);
    assert.equal(rocAuc([false, true, false, true], [0.1, 0.3, 0.3, 0.9]), 0.875);
    assert.ok(Number.isNaN(rocAuc([true, true], [0.1, 0.2])));
  });

  it('pairs every two images of a patient, and as many images of different patients, the same way every time', () => {
    const images = ['a', 'a', 'a', 'b', 'b', 'c'].map((patient) => ({ patient }));
    const { pairs, same } = reidPairs(images, 7);
    assert.equal(same.filter(Boolean).length, 4); // a: 3 pairs, b: 1
    assert.equal(same.length, 8);
    pairs.forEach(([i, j], k) => assert.equal(images[i]!.patient === images[j]!.patient, same[k]));
    assert.deepEqual(reidPairs(images, 7), { pairs, same });
  });
});

describe('evaluateAnonymization (the demo evaluation models on phantoms)', () => {
  let dir: string;
  let models: EvaluationModels;
  let images: EvalImage[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-eval-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: dir, patients: 6, seed: 'eval-test', burnedInShare: 0, force: false });
    models = await EvaluationModels.load(join(REPO_ROOT, 'models', 'demo'));
    images = parseLabels(readFileSync(join(dir, 'labels.jsonl'), 'utf8')).map((l) => {
      const display = toDisplay(readGreyPixels(readPart10(readFileSync(join(dir, l.file))).dataset));
      return { patient: l.patient_id, male: l.sex === 'M', old: l.age_group === '>=60', findings: l.findings.map((f) => f.label), original: display, anonymized: display, regeneratedFraction: 0 };
    });
  });
  after(async () => {
    await models?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures nothing lost when the "anonymization" changes nothing: the same AUCs, no attribute changed', async () => {
    const r = await evaluateAnonymization(images, models);
    assert.equal(r.images, 18);
    assert.equal(r.reidentification.aucAnonymized, r.reidentification.aucOriginals);
    assert.ok(r.reidentification.aucOriginals > 0.75, `re-identification works on originals: ${r.reidentification.aucOriginals}`);
    assert.equal(r.attributes.sexFlipped, 0);
    assert.deepEqual(r.attributes.judgedMale.anonymized, r.attributes.judgedMale.originals);
    for (const d of r.diagnostic) assert.equal(d.aucAnonymized, d.aucOriginals, d.finding);
  });

  it('measures unlinkable, uninformative images as chance: re-identification near 0.5, diagnosis at 0.5', async () => {
    const blank = images.map((i) => ({ ...i, anonymized: { ...i.original, data: new Float32Array(i.original.data.length).fill(0.5) }, regeneratedFraction: 1 }));
    const r = await evaluateAnonymization(blank, models);
    // the blank image's score still varies with the other (original) image of each pair: chance, not exactly 0.5
    assert.ok(Math.abs(r.reidentification.aucAnonymized - 0.5) < 0.2, `re-identification AUC ${r.reidentification.aucAnonymized}`);
    assert.ok(r.reidentification.aucOriginals - r.reidentification.aucAnonymized > 0.2);
    for (const d of r.diagnostic) if (d.positives > 0 && d.positives < r.images) assert.equal(d.aucAnonymized, 0.5, d.finding);
    assert.ok(r.attributes.judgedMale.anonymized === 0 || r.attributes.judgedMale.anonymized === 1, 'one grey image: one verdict for all');
    assert.deepEqual(r.regeneratedFraction, { mean: 1, min: 1, max: 1 });
  });
});

describe('anofair eval', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-eval-cli-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: join(dir, 'ph'), patients: 4, seed: 'eval-cli', force: false });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('anonymizes a split and writes report.json and a self-contained report.html', () => {
    const out = join(dir, 'report');
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'anofair.js'), 'eval', '--data', join(dir, 'ph'), '--split', 'train', '--limit', '6', '--steps', '4', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /evaluated 6 images of \d patients/);
    assert.match(r.stderr, /re-identification AUC: originals [\d.]+, anonymized [\d.]+/);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { report: { images: number; diagnostic: unknown[] } };
    assert.equal(json.report.images, 6);
    assert.equal(json.report.diagnostic.length, 6);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const heading of ['Privacy: re-identification', 'Fairness: attributes', 'Utility: diagnostic', 'Examples']) assert.ok(html.includes(heading), heading);
    assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 12, 'six before/after pairs embedded');
    assert.doesNotMatch(html, /src="(?!data:)/, 'nothing loaded from elsewhere');
  });

  it('refuses a folder that is not a phantom set, with one line and exit code 2', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'anofair.js'), 'eval', '--data', dir], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^anofair: IO: no labels\.jsonl in .+: evaluate on a phantom folder/);
  });
});
