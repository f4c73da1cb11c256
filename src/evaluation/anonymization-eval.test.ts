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
import { evaluateAnonymization, labelledEvalImage, reidPairs, type EvalImage, type EvalOptions, type FindingDetector } from './anonymization-eval.js';
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
      return labelledEvalImage(l, display, display, new Uint8Array(display.data.length).fill(1));
    });
  });
  // one rotation and few resamples: the same code paths, in seconds
  const quick: EvalOptions = { bootstrap: { resamples: 200, seed: 1 }, attack: { variants: [{ feature: 'high-pass', rotations: [0] }, { feature: 'intensity', rotations: [0] }] } };
  // a detector that finds a nodule in the top left corner of every image it is shown
  const cornerNodule: FindingDetector = { confidence: 0.25, keepConfidence: { nodule: 0.8 }, detect: async () => [{ finding: 'nodule', score: 0.9, box: [2, 2, 14, 14] }] };
  after(async () => {
    await models?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures nothing lost when the "anonymization" changes nothing: the same AUCs, and the pixels link images far above chance', async () => {
    const r = await evaluateAnonymization(images, models, { ...quick, detector: cornerNodule });
    assert.equal(r.images, 18);
    assert.deepEqual(r.reidentification.aucAnonymized, r.reidentification.aucOriginals);
    assert.ok(r.reidentification.aucOriginals.estimate > 0.75, `re-identification works on originals: ${r.reidentification.aucOriginals.estimate}`);
    const i = r.reidentification.aucOriginals;
    assert.ok(i.lo <= i.estimate && i.estimate <= i.hi, 'the interval holds the estimate');
    assert.equal(r.attributes.sexFlipped, 0);
    assert.deepEqual(r.attributes.judgedMale.anonymized, r.attributes.judgedMale.originals);
    for (const d of r.diagnostic) {
      assert.deepEqual(d.aucAnonymized, d.aucOriginals, d.finding);
      assert.equal(d.aucDrop.estimate, 0, d.finding);
      assert.equal(d.correlation.estimate, 1, d.finding);
    }
    // every pixel released unchanged: the kept-region attack links the images to their patients far above chance
    // (not all: the whole image carries each study's own shutters and text, which the correlation also sees)
    assert.deepEqual(r.keptShare, { mean: 1, median: 1, min: 1, max: 1, imagesKeepingNothing: 0, keptPixelsChanged: 0 });
    const k = r.keptRegionAttack.strongest;
    assert.equal(k.chance, round4(2 / 17));
    assert.ok(k.ratioToChance.estimate > 3, `attack rank-1 ${k.rank1.estimate}, ${k.ratioToChance.estimate} x chance, AUC ${k.auc.estimate}`);
    assert.ok(k.auc.estimate > 0.6, `attack AUC ${k.auc.estimate}`);
    // where the linkage comes from: every image keeps everything, so one band holds them all
    assert.deepEqual(k.byKeptShare.map((g) => [g.group, g.images, g.medianKeptShare]), [['>= 10%', 18, 1]]);
    assert.ok(Math.abs(k.byKeptShare[0]!.rank1 - k.rank1.estimate) < 1e-3, 'the band of all images has the overall rank-1');
    const target = (name: string) => r.targets.find((t) => t.target.startsWith(name))!;
    assert.equal(target('kept-region attack').met, false);
    assert.ok(r.targets.filter((t) => t.target.startsWith('diagnostic')).every((t) => t.met), 'diagnosis unchanged: its targets met');
    // the corner nodule lies in kept pixels: not a hallucination
    assert.equal(r.hallucinations!.imagesWith, 0);
    assert.equal(target('share of images with a hallucinated finding').met, true);
    assert.deepEqual(r.seeds, { pairs: 20260, bootstrap: 1 });
    assert.equal(r.roc.reidOriginals.at(-1)![0], 1);
  });

  it('measures unlinkable, uninformative images as chance: re-identification near 0.5, diagnosis at 0.5, attack at chance', async () => {
    const blank = images.map((i) => ({ ...i, anonymized: { ...i.original, data: new Float32Array(i.original.data.length).fill(0.5) }, kept: new Uint8Array(i.original.data.length) }));
    const r = await evaluateAnonymization(blank, models, { ...quick, detector: cornerNodule });
    // the blank image's score still varies with the other (original) image of each pair: chance, not exactly 0.5
    const a = r.reidentification.aucAnonymized.estimate;
    assert.ok(Math.abs(a - 0.5) < 0.2, `re-identification AUC ${a}`);
    assert.ok(r.reidentification.aucOriginals.estimate - a > 0.2);
    for (const d of r.diagnostic) if (d.positives > 0 && d.positives < r.images) assert.equal(d.aucAnonymized.estimate, 0.5, d.finding);
    assert.ok(r.attributes.judgedMale.anonymized === 0 || r.attributes.judgedMale.anonymized === 1, 'one grey image: one verdict for all');
    assert.equal(r.keptShare.imagesKeepingNothing, 18);
    const k = r.keptRegionAttack.strongest;
    assert.equal(k.rank1.estimate, k.chance);
    assert.equal(k.ratioToChance.estimate, 1);
    assert.equal(k.auc.estimate, 0.5);
    assert.equal(r.targets.find((t) => t.target.startsWith('kept-region attack'))!.met, true);
    assert.deepEqual(k.byKeptShare.map((g) => [g.group, g.images, g.rank1]), [['nothing', 18, k.chance]]);
    assert.deepEqual(k.byKeptFinding, []);
    // the corner nodule is now in regenerated pixels, on images without a nodule there
    const withNodule = blank.filter((i) => i.truth.some((t) => t.label === 'nodule' && t.box[0]! < 14 && t.box[1]! < 14)).length;
    assert.equal(r.hallucinations!.imagesWith, 18 - withNodule);
    assert.equal(r.hallucinations!.share.estimate, round4((18 - withNodule) / 18));
    assert.equal(r.hallucinations!.list[0]!.image, blank[0]!.image);
    // the detector reports the same corner nodule on the originals: nothing added by the regeneration
    assert.equal(r.hallucinations!.originals.imagesWith, 18 - withNodule);
    assert.equal(r.hallucinations!.added.imagesWith, 0);
    // from the keep threshold (0.8 for nodules) the 0.9 corner nodule still counts; above it, nothing would
    assert.equal(r.hallucinations!.atKeepConfidence!.confidence, 'nodule 0.8');
    assert.equal(r.hallucinations!.atKeepConfidence!.imagesWith, 18 - withNodule);
    assert.equal(r.hallucinations!.atKeepConfidence!.added.imagesWith, 0);
    const strict = await evaluateAnonymization(blank, models, { ...quick, detector: { ...cornerNodule, keepConfidence: 0.95 } });
    assert.equal(strict.hallucinations!.atKeepConfidence!.imagesWith, 0);
    assert.equal(strict.hallucinations!.imagesWith, 18 - withNodule, 'the reporting threshold counts them still');
  });

  it('breaks the linkage down by kept share and by kept finding, so a keep policy can be chosen by what links', async () => {
    // the first image of each patient keeps everything (a "cardiomegaly" region), the others keep nothing
    const mixed = images.map((i, k) => (k % 3 === 0 ? { ...i, keptFindings: ['cardiomegaly'] } : { ...i, anonymized: { ...i.original, data: new Float32Array(i.original.data.length).fill(0.5) }, kept: new Uint8Array(i.original.data.length) }));
    const r = await evaluateAnonymization(mixed, models, { ...quick, detector: cornerNodule });
    const k = r.keptRegionAttack.strongest;
    assert.deepEqual(k.byKeptShare.map((g) => [g.group, g.images]), [['nothing', 12], ['>= 10%', 6]]);
    assert.deepEqual(k.byKeptFinding.map((g) => [g.finding, g.images, g.medianKeptShare]), [['cardiomegaly', 6, 1]]);
    assert.equal(k.byKeptFinding[0]!.rank1, k.byKeptShare[1]!.rank1, 'the same six images');
    // the kept images have the phantoms' grain (but for flat shutters), the blank ones none: the grain gives the mask away
    assert.ok(r.keptRegionAttack.maskFromGrain.auc > 0.9, `AUC ${r.keptRegionAttack.maskFromGrain.auc}`);
    assert.equal(r.keptRegionAttack.maskFromGrain.keptBlocks, 6 * 32 * 32);
    assert.ok(k.byKeptFinding[0]!.rank1 > k.byKeptShare[0]!.rank1, `kept images link (${k.byKeptFinding[0]!.rank1}), the others are at chance (${k.byKeptShare[0]!.rank1})`);
  });
});

const round4 = (v: number): number => Math.round(v * 10000) / 10000;

describe('anofair eval', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-eval-cli-'));
    // 10 patients: 6 in train (evaluated), 2 in val (the trained attacks learn from them)
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: join(dir, 'ph'), patients: 10, seed: 'eval-cli', force: false });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const evalArgs = ['eval', '--data', '', '--split', 'train', '--limit', '6', '--steps', '4', '--resamples', '100'];
  const runCli = (extra: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'anofair.js'), ...evalArgs.map((a, k) => (k === 2 ? join(dir, 'ph') : a)), ...extra], { encoding: 'utf8' });

  it('anonymizes a split and writes report.json and a self-contained report.html', () => {
    const out = join(dir, 'report');
    const r = runCli(['--attack-split', 'val', '--attack-steps', '3', '--attribute-steps', '2', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /evaluated 6 images of \d patients/);
    assert.match(r.stderr, /re-identification AUC: originals [\d.]+ \[[\d.]+, [\d.]+\], anonymized [\d.]+ \[/);
    assert.match(r.stderr, /kept-region attack \([a-z-]+\): rank-1 [\d.]+ \[/);
    assert.match(r.stderr, /targets \(\d+ of 17 met/);
    assert.match(r.stderr, /verifier retrained on released images: [\d.]+ \[[\d.]+, [\d.]+\] \(on pairs of originals [\d.]+/);
    assert.match(r.stderr, /realism: discriminator AUC [\d.]+ \[.+\(VAE round trip [\d.]+ .+Fréchet distance [\d.]+/);
    assert.doesNotMatch(r.stderr, /not measured:/, 'everything measured');
    assert.match(r.stderr, /(met {3}|MISSED) share of images with a hallucinated finding/);
    type Json = { meta: Record<string, string>; report: { images: number; diagnostic: { correlation: { lo: number } }[]; targets: { met: boolean }[]; keptRegionAttack: { variants: unknown[] }; hallucinations: { confidence: number }; bootstrap: { resamples: number; seed: number } } };
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Json;
    assert.equal(json.report.images, 6);
    assert.equal(json.report.diagnostic.length, 6);
    assert.equal(json.report.targets.length, 17);
    assert.equal(json.report.keptRegionAttack.variants.length, 2);
    assert.equal(json.report.hallucinations.confidence, 0.25, "the detector manifest's suggested confidence");
    assert.deepEqual(json.report.bootstrap, { unit: 'patient', method: 'percentile', resamples: 100, seed: 20261, level: 0.95 });
    assert.match(json.meta.seeds!, /bootstrap 20261/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const heading of ['Targets', 'Privacy: re-identification', 'attacks trained on released images', 'attack on the pixels released unchanged', 'Fairness: attributes', 'Readable on the released images', 'Utility: diagnostic', 'hallucinated findings', 'Realism', 'Examples']) assert.ok(html.includes(heading), heading);
    assert.ok(!html.includes('Not measured'), 'nothing left unmeasured');
    assert.equal((html.match(/<polyline /g) ?? []).length, 7, 'ROC curves: five re-identification attacks, two discriminators');
    assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 12, 'six before/after pairs embedded');
    assert.doesNotMatch(html, /src="(?!data:)/, 'nothing loaded from elsewhere');
    assert.doesNotMatch(html, /href="http/, 'no link out either');
  });

  it('says in the report what it did not measure when the trained attacks are skipped', () => {
    const out = join(dir, 'report-quick');
    const r = runCli(['--no-trained-attacks', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /targets \(\d+ of 14 met/);
    assert.match(r.stderr, /not measured: a re-identification verifier retrained on released images/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(html.includes('Not measured in this run'));
    assert.ok(html.includes('a real-versus-regenerated discriminator'));
  });

  it('takes the keep policy (margin, findings kept), records it, and refuses a finding the detector does not report', () => {
    const out = join(dir, 'report-policy');
    const r = runCli(['--no-trained-attacks', '--keep-margin', '0', '--keep-findings', 'nodule,mass', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /rank-1 by kept share: /);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { meta: Record<string, string> };
    assert.match(json.meta['keep policy']!, /margin 0 of the image, findings kept: nodule, mass/);
    const bad = runCli(['--no-trained-attacks', '--keep-findings', 'nodule,heart', '--out', join(dir, 'never')]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /CONFIG_INVALID: deidentification\.pixels\.keepFindings names heart, which the detector .+ does not report as a finding/);
  });

  it('refuses to train the attacks on the evaluated split itself', () => {
    const r = runCli(['--attack-split', 'train', '--out', join(dir, 'never')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^anofair: CONFIG_INVALID: --attack-split train is the evaluated split/m);
  });

  it('refuses a folder that is not a phantom set, with one line and exit code 2', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'anofair.js'), 'eval', '--data', dir], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^anofair: IO: no labels\.jsonl in .+: evaluate on a phantom folder/);
  });
});
