import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = process.cwd();
const bin = join(root, 'bin', 'anofair.js');
const fixtures = join(root, 'test', 'fixtures', 'dicom-public', 'pydicom');
const KEY = Buffer.alloc(32, 42).toString('base64');

function anofair(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('anofair deidentify', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'anofair-cli-'));
    cpSync(join(fixtures, 'CT_small.dcm'), join(work, 'in', 'study', 'ct.dcm'), { recursive: true });
    cpSync(join(fixtures, 'MR_small.dcm'), join(work, 'in', 'study', 'series2', 'mr.dcm'), { recursive: true });
    cpSync(join(fixtures, 'SC_rgb_small_odd.dcm'), join(work, 'in', 'sc.dcm'));
    writeFileSync(join(work, 'in', 'notes.txt'), 'not a DICOM file\n');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('writes each output at the same relative path, reports every input and exits 1 when one failed or was quarantined', () => {
    const out = join(work, 'out');
    const report = join(work, 'report.jsonl');
    const result = anofair(['deidentify', join(work, 'in'), '--out', out, '--report', report], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(result.status, 1, result.stderr);
    assert.ok(existsSync(join(out, 'study', 'ct.dcm')));
    assert.ok(existsSync(join(out, 'study', 'series2', 'mr.dcm')));
    assert.ok(!existsSync(join(out, 'sc.dcm')), 'an OT instance without Burned In Annotation is quarantined, not written');
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 4);
    const byInput = Object.fromEntries(lines.map((l) => [l.input.slice(join(work, 'in').length + 1), l]));
    assert.equal(byInput['study/ct.dcm'].status, 'released');
    assert.equal(byInput['study/ct.dcm'].record.standard, 'DICOM PS3.15 2026c');
    assert.equal(byInput['sc.dcm'].status, 'quarantined');
    assert.match(byInput['sc.dcm'].reason, /Burned In Annotation/);
    assert.equal(byInput['notes.txt'].status, 'failed');
    // One clear line per bad file, never a stack trace.
    assert.match(result.stderr, /notes\.txt: DICOM_PARSE: not DICOM/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
    assert.match(result.stderr, /2 released, 1 quarantined, 1 failed/);
  });

  it('gives byte-identical outputs in two separate runs with the same key, and different UIDs with another key', () => {
    const a = join(work, 'run-a');
    const b = join(work, 'run-b');
    const c = join(work, 'run-c');
    const file = join(fixtures, 'CT_small.dcm');
    assert.equal(anofair(['deidentify', file, '--out', a], { ANOFAIR_DEID_KEY: KEY }).status, 0);
    assert.equal(anofair(['deidentify', file, '--out', b], { ANOFAIR_DEID_KEY: KEY }).status, 0);
    assert.equal(anofair(['deidentify', file, '--out', c], { ANOFAIR_DEID_KEY: Buffer.alloc(32, 7).toString('base64') }).status, 0);
    const bytesA = readFileSync(join(a, 'CT_small.dcm'));
    assert.deepEqual(bytesA, readFileSync(join(b, 'CT_small.dcm')));
    assert.notDeepEqual(bytesA, readFileSync(join(c, 'CT_small.dcm')));
  });

  it('rejects an unknown option and a missing key with one line and exit 2', () => {
    const bad = anofair(['deidentify', fixtures, '--out', join(work, 'x'), '--option', 'retain-everything'], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown option retain-everything; the options are: retain-safe-private/);
    const env = { ...process.env };
    delete env.ANOFAIR_DEID_KEY;
    const noKey = spawnSync(process.execPath, [bin, 'deidentify', fixtures, '--out', join(work, 'y')], { encoding: 'utf8', env });
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /DEID_KEY_MISSING: no pseudonymisation key/);
    assert.ok(!existsSync(join(work, 'y')) || readdirSync(join(work, 'y')).length === 0);
  });

  it('points at a bad key in the configuration\'s deidentification: section by file, line, column and key path, with a hint', () => {
    const config = join(work, 'bad-deid.yaml');
    writeFileSync(config, 'server:\n  port: 8080\ndeidentification:\n  options: [retain-uids]\n  dateShiftDay: { min: -10, max: 10 }\n');
    const result = anofair(['deidentify', fixtures, '--out', join(work, 'z'), '--config', config], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(result.status, 2);
    assert.equal(
      result.stderr,
      `anofair: CONFIG_INVALID: ${config}:5:3 deidentification.dateShiftDay: unknown key "dateShiftDay" (hint: did you mean "dateShiftDays"?)\n`,
    );
    assert.ok(!existsSync(join(work, 'z')) || readdirSync(join(work, 'z')).length === 0);
  });
});

describe('anofair deidentify --pixels (CXR-AnoFAIR on chest radiographs)', () => {
  let work: string;
  let phantoms: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'anofair-cli-pixels-'));
    phantoms = join(work, 'phantoms');
    const made = anofair(['phantoms', '--out', phantoms, '--patients', '2', '--seed', 'cli-pixels', '--burned-in-share', '0.5', '--no-progress']);
    assert.equal(made.status, 0, made.stderr);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('quarantines the radiographs with burned-in text without --pixels, and releases them with regenerated pixels with it', () => {
    const labels = readFileSync(join(phantoms, 'labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; burned_in: boolean });
    const burned = labels.filter((l) => l.burned_in);
    assert.equal(burned.length, 3);

    const plain = anofair(['deidentify', join(phantoms, 'dicom'), '--out', join(work, 'plain')], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(plain.status, 1);
    assert.match(plain.stderr, /3 released, 3 quarantined, 0 failed/);

    const report = join(work, 'pixels.jsonl');
    const out = join(work, 'cleaned');
    const run = anofair(['deidentify', join(phantoms, 'dicom'), '--out', out, '--pixels', '--report', report], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /6 released \(6 with regenerated pixels\), 0 quarantined, 0 failed/);
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const line of lines) {
      assert.equal(line.record.pixels, 'cleaned');
      assert.equal(line.pixels.method, 'CXR-AnoFAIR');
      assert.ok(line.pixels.regeneratedFraction > 0.5);
    }
    // checked with a reader we did not write: pydicom decodes the new pixels; Burned In Annotation NO; code 113101
    const script = [
      'import sys, json, pydicom, numpy as np',
      'out = []',
      'for a, b in zip(sys.argv[1::2], sys.argv[2::2]):',
      '    x, y = pydicom.dcmread(a), pydicom.dcmread(b)',
      '    codes = [i.CodeValue for i in y.DeidentificationMethodCodeSequence]',
      '    derivation = [(i.CodeValue, i.CodingSchemeDesignator) for i in y.DerivationCodeSequence]',
      '    out.append({"burned": str(y.BurnedInAnnotation), "visual": str(y.RecognizableVisualFeatures), "type": list(y.ImageType), "derivation": derivation, "series": y.SeriesInstanceUID != x.SeriesInstanceUID, "codes": codes, "changed": float((x.pixel_array != y.pixel_array).mean()), "shape": list(y.pixel_array.shape), "bits": int(y.BitsStored), "max": int(y.pixel_array.max())})',
      'print(json.dumps(out))',
    ].join('\n');
    const pairs = labels.flatMap((l) => [join(phantoms, l.file), join(out, l.file.replace(/^dicom\//, ''))]);
    const checked = spawnSync('/usr/bin/python3', ['-c', script, ...pairs], { encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stderr);
    type Checked = { burned: string; visual: string; type: string[]; derivation: [string, string][]; series: boolean; codes: string[]; changed: number; shape: number[]; bits: number; max: number };
    for (const r of JSON.parse(checked.stdout) as Checked[]) {
      assert.equal(r.burned, 'NO');
      assert.equal(r.visual, 'NO', 'Recognizable Visual Features NO');
      assert.deepEqual(r.type.slice(0, 2), ['DERIVED', 'SECONDARY']);
      assert.deepEqual(r.derivation, [['CXRANOFAIR', '99ANOFAIR']]);
      assert.ok(r.series, 'a new series');
      assert.ok(r.codes.includes('113101'), 'Clean Pixel Data Option recorded');
      assert.ok(r.codes.includes('113102'), 'Clean Recognizable Visual Features Option recorded');
      assert.ok(r.changed > 0.5, `${r.changed} of the pixels changed`);
      assert.deepEqual(r.shape, [256, 256]);
      assert.ok(r.max < 2 ** r.bits);
    }
  });

  it('quarantines, with one line each, what it was asked to regenerate and cannot: a colour image, a thumbnail', () => {
    const report = join(work, 'refused.jsonl');
    const inputs = [join(fixtures, 'SC_rgb_small_odd.dcm'), join(fixtures, 'CR1_6154_dicomdir.dcm')];
    const run = anofair(['deidentify', ...inputs, '--out', join(work, 'refused'), '--pixels', '--report', report], { ANOFAIR_DEID_KEY: KEY });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /SC_rgb_small_odd\.dcm: quarantined: pixel anonymization failed: PIXEL_UNSUPPORTED: the image is not greyscale \(Photometric Interpretation RGB\)/);
    assert.match(run.stderr, /CR1_6154_dicomdir\.dcm: quarantined: pixel anonymization failed: PIXEL_UNSUPPORTED: the image is 16x16; the pixel step takes sides of 64 to 16384/);
    assert.match(run.stderr, /0 released \(0 with regenerated pixels\), 2 quarantined, 0 failed/);
    assert.match(run.stderr, /WARNING: these are the demo models, trained on synthetic phantoms only/);
    assert.deepEqual(readdirSync(join(work)).includes('refused') ? readdirSync(join(work, 'refused')) : [], [], 'nothing written for them');
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.status), ['quarantined', 'quarantined']);
  });
});
