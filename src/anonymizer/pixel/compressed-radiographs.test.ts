/**
 * The pixel step on chest radiographs as PACS store them: phantoms re-encoded by dcmtk and GDCM (JPEG lossless,
 * 12-bit JPEG, JPEG-LS lossless and near-lossless, RLE, JPEG 2000 lossless and lossy) and as Explicit VR Big
 * Endian and Deflated, all through `anofair deidentify --pixels`. Each one is released regenerated, never with
 * its original pixels: written uncompressed at its own size, bit depth and photometric interpretation, the
 * kept regions equal to the input's decoded values (as pydicom with GDCM decodes them), the rest changed,
 * marked as derived, readable by pydicom and dcmdump, and with no dciodvfy error its native original lacks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dcmdump, dciodvfyErrors, runPython } from '../../../test/support/external-tools.js';
import { TRANSFER_SYNTAXES as TS, encoderTool } from '../../../test/support/pixel-encoders.js';
import { REPO_ROOT } from '../../../test/support/repo-paths.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../../phantoms/generate.js';
import { parseLabels } from '../../phantoms/labels.js';

const KEY = Buffer.alloc(32, 5).toString('base64');

interface Variant {
  name: string;
  syntax: string;
  lossy: boolean;
  make: (inp: string, out: string) => void;
}

const VARIANTS: Variant[] = [
  { name: 'jpeg-lossless-sv1', syntax: TS.jpegLosslessSV1, lossy: false, make: (i, o) => encoderTool('dcmcjpeg', ['+e1', i, o]) },
  { name: 'jpeg-lossless', syntax: TS.jpegLossless, lossy: false, make: (i, o) => encoderTool('dcmcjpeg', ['+el', i, o]) },
  { name: 'jpeg-extended-12bit', syntax: TS.jpegExtended, lossy: true, make: (i, o) => encoderTool('dcmcjpeg', ['+ee', i, o]) },
  { name: 'jpeg-ls-lossless', syntax: TS.jpegLs, lossy: false, make: (i, o) => encoderTool('dcmcjpls', ['+el', i, o]) },
  { name: 'jpeg-ls-near', syntax: TS.jpegLsNear, lossy: true, make: (i, o) => encoderTool('dcmcjpls', ['+en', i, o]) },
  { name: 'rle', syntax: TS.rle, lossy: false, make: (i, o) => encoderTool('dcmcrle', [i, o]) },
  { name: 'j2k-lossless', syntax: TS.j2kLossless, lossy: false, make: (i, o) => encoderTool('gdcmconv', ['--j2k', i, o]) },
  { name: 'j2k-lossy', syntax: TS.j2k, lossy: true, make: (i, o) => encoderTool('gdcmconv', ['--j2k', '--lossy', '-q', '40', i, o]) },
  { name: 'big-endian', syntax: TS.bigEndian, lossy: false, make: (i, o) => encoderTool('dcmconv', ['+tb', i, o]) },
  { name: 'deflated', syntax: TS.deflated, lossy: false, make: (i, o) => encoderTool('dcmconv', ['+td', i, o]) },
];

/** pydicom (with GDCM for the compressed ones) on each input/output pair and the kept boxes of the release. */
const CHECK = `
import json, sys
import numpy as np
import pydicom
pairs = json.loads(sys.stdin.read())
out = {}
for p in pairs:
    x, y = pydicom.dcmread(p["input"]), pydicom.dcmread(p["output"])
    a, b = x.pixel_array.astype(np.int64), y.pixel_array.astype(np.int64)
    keep = np.zeros(a.shape, bool)
    for x0, y0, x1, y1 in p["kept"]:
        keep[y0:y1, x0:x1] = True
    for x0, y0, x1, y1 in p["text"]:
        keep[y0:y1, x0:x1] = False
    out[p["name"]] = {
        "syntaxIn": str(x.file_meta.TransferSyntaxUID), "syntaxOut": str(y.file_meta.TransferSyntaxUID),
        "shape": [list(a.shape), list(b.shape)], "bits": [int(x.BitsStored), int(y.BitsStored)],
        "photometric": [str(x.PhotometricInterpretation), str(y.PhotometricInterpretation)],
        "keptPixels": int(keep.sum()), "keptDiffering": int((a != b)[keep].sum()),
        "changedElsewhere": float((a != b)[~keep].mean()) if (~keep).any() else 1.0,
        "max": int(b.max()), "lossy": str(y.get("LossyImageCompression", "")), "type": list(y.ImageType),
    }
print(json.dumps(out))
`;

describe('anofair deidentify --pixels on chest radiographs in every transfer syntax a PACS stores', () => {
  let work: string;
  let source: string;
  const inputs = new Map<string, string>();
  let run: ReturnType<typeof spawnSync>;
  let lines: Array<{ input: string; output?: string; status: string; reason?: string; pixels?: { kept: { box: number[] }[]; textRegions: number[][] } }>;
  let checked: Record<string, { syntaxIn: string; syntaxOut: string; shape: number[][]; bits: number[]; photometric: string[]; keptPixels: number; keptDiffering: number; changedElsewhere: number; max: number; lossy: string; type: string[] }>;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'anofair-compressed-cxr-'));
    const phantoms = join(work, 'phantoms');
    // a 12-bit phantom with burned-in text (12 bits: what 12-bit JPEG can code), findings to keep
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: phantoms, patients: 4, imagesPerPatient: 1, seed: 'compressed-cxr', burnedInShare: 1, normalShare: 0, force: false });
    const labels = parseLabels(readFileSync(join(phantoms, 'labels.jsonl'), 'utf8'));
    const bits = runPython('import sys, pydicom\nfor f in sys.argv[1:]: print(pydicom.dcmread(f, stop_before_pixels=True).BitsStored)', labels.map((l) => join(phantoms, l.file))).trim().split('\n').map(Number);
    const k = bits.findIndex((b) => b === 12);
    assert.ok(k >= 0, 'a 12-bit phantom among the four');
    source = join(phantoms, labels[k]!.file);
    mkdirSync(join(work, 'in'));
    for (const v of VARIANTS) {
      const path = join(work, 'in', `${v.name}.dcm`);
      v.make(source, path);
      inputs.set(v.name, path);
    }
    copyFileSync(source, join(work, 'in', 'native.dcm'));
    inputs.set('native', join(work, 'in', 'native.dcm'));
    const report = join(work, 'report.jsonl');
    run = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/anofair.js'), 'deidentify', join(work, 'in'), '--out', join(work, 'out'), '--pixels', '--report', report, '--workers', '2'], {
      encoding: 'utf8',
      env: { ...process.env, ANOFAIR_DEID_KEY: KEY },
    });
    lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const pairs = [...inputs].map(([name, input]) => {
      const line = lines.find((l) => l.input === input)!;
      return { name, input, output: line.output, kept: line.pixels?.kept.map((r) => r.box) ?? [], text: line.pixels?.textRegions ?? [] };
    });
    const r = spawnSync('/usr/bin/python3', ['-W', 'ignore', '-c', CHECK], { input: JSON.stringify(pairs), encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, r.stderr);
    checked = JSON.parse(r.stdout);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('every one is released with regenerated pixels (exit 0, one report line each)', () => {
    assert.equal(run.status, 0, String(run.stderr));
    assert.match(String(run.stderr), new RegExp(`${inputs.size} released \\(${inputs.size} with regenerated pixels\\), 0 quarantined, 0 failed`));
    assert.equal(lines.length, inputs.size);
    for (const line of lines) assert.equal(line.status, 'released', `${line.input}: ${line.reason ?? ''}`);
  });

  for (const name of ['native', ...VARIANTS.map((v) => v.name)]) {
    const variant = VARIANTS.find((v) => v.name === name);
    test(`${name}: uncompressed at the input's size, depth and photometric, kept regions exact, the rest regenerated`, () => {
      const c = checked[name]!;
      assert.equal(c.syntaxIn, variant?.syntax ?? TS.explicit);
      assert.equal(c.syntaxOut, TS.explicit);
      assert.deepEqual(c.shape[1], c.shape[0]);
      assert.equal(c.bits[1], c.bits[0]);
      assert.equal(c.photometric[1], c.photometric[0]);
      assert.ok(c.max < 2 ** c.bits[1]!, 'values within Bits Stored');
      // a lossy copy may read differently to the detector; a lossless one holds the native pixels, so the same finding
      if (!variant?.lossy) assert.ok(c.keptPixels > 0, 'the phantom has a finding the detector keeps');
      assert.equal(c.keptDiffering, 0, 'kept regions hold the decoded input values exactly');
      assert.ok(c.changedElsewhere > 0.5, `${c.changedElsewhere} of the other pixels changed`);
      assert.deepEqual(c.type.slice(0, 2), ['DERIVED', 'SECONDARY']);
      assert.equal(c.lossy, variant?.lossy ? '01' : c.lossy, 'a lossy source stays marked lossy');
    });
  }

  test('pydicom and dcmdump read every output, and dciodvfy finds no error that the native original lacks', () => {
    const baseline = new Set(dciodvfyErrors(source));
    for (const line of lines) {
      const dump = dcmdump(line.output!);
      assert.equal(dump.status, 0, dump.stderr);
      const added = dciodvfyErrors(line.output!).filter((e) => !baseline.has(e));
      assert.deepEqual(added, [], line.input);
    }
  });
});
