import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPart10 } from '../dicom/part10.js';
import { asUint16Samples, nativePixelBytes } from '../dicom/pixel-data.js';
import { firstString } from '../dicom/dataset.js';
import { DEFAULT_OPTIONS, generatePhantoms, type DatasetManifest, type PhantomOptions } from './generate.js';
import { FINDING_CLASSES } from './findings.js';
import { parseLabels, type ImageLabel } from './labels.js';
import { SOP_CLASS } from './dicom-writer.js';

const PYTHON = '/usr/bin/python3';

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

describe('anofair phantoms: the generated dataset', () => {
  let root: string;
  let a: string;
  let manifest: DatasetManifest;
  let labels: ImageLabel[];
  const opts = (out: string, seed = 'test-seed'): PhantomOptions => ({
    ...DEFAULT_OPTIONS,
    out,
    seed,
    patients: 8,
    size: 128,
    imagesPerPatient: 2,
    burnedInShare: 0.25,
  });

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'phantoms-test-'));
    a = path.join(root, 'a');
    manifest = await generatePhantoms(opts(a));
    labels = parseLabels(await readFile(path.join(a, 'labels.jsonl'), 'utf8'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is byte-identical when generated again with the same seed and arguments', async () => {
    const b = path.join(root, 'b');
    await generatePhantoms(opts(b));
    const filesA = await listFiles(a);
    const filesB = await listFiles(b);
    assert.deepEqual(filesB, filesA);
    assert.equal(filesA.filter((f) => f.endsWith('.dcm')).length, 16);
    for (const f of filesA) {
      assert.ok((await readFile(path.join(a, f))).equals(await readFile(path.join(b, f))), `${f} differs between runs`);
    }
  });

  it('differs with another seed', async () => {
    const c = path.join(root, 'c');
    await generatePhantoms(opts(c, 'another-seed'));
    const la = await readFile(path.join(a, 'labels.jsonl'), 'utf8');
    const lc = await readFile(path.join(c, 'labels.jsonl'), 'utf8');
    assert.notEqual(lc, la);
    const f = 'dicom/P00001/P00001_1.dcm';
    assert.ok(!(await readFile(path.join(a, f))).equals(await readFile(path.join(c, f))));
  });

  it('refuses a non-empty output directory without --force, and replaces only its own files with it', async () => {
    await assert.rejects(generatePhantoms(opts(a)), /not empty/);
    const m = await generatePhantoms({ ...opts(a), force: true });
    assert.equal(m.counts.images, 16);
  });

  it('refuses an output path that is a file, with a reason', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(generatePhantoms(opts(file)), /exists and is not a directory/);
  });

  it('writes one label per image, matching the DICOM file it names', async () => {
    assert.equal(labels.length, 16);
    assert.equal(new Set(labels.map((l) => l.image_id)).size, 16);
    for (const l of labels) {
      const { meta, dataset } = readPart10(new Uint8Array(await readFile(path.join(a, l.file))));
      assert.equal(firstString(meta, '00020010'), '1.2.840.10008.1.2.1', 'explicit VR little endian');
      assert.equal(firstString(dataset, '00080060'), l.modality);
      assert.equal(firstString(dataset, '00080016'), SOP_CLASS[l.modality]);
      assert.equal(firstString(dataset, '00080018'), l.sop_instance_uid);
      assert.equal(firstString(dataset, '0020000D'), l.study_instance_uid);
      assert.equal(firstString(dataset, '00280004'), l.photometric);
      assert.equal(Number(dataset['00280101']?.Value?.[0]), l.bits_stored);
      assert.equal(Number(dataset['00280010']?.Value?.[0]), l.rows);
      assert.equal(Number(dataset['00280011']?.Value?.[0]), l.columns);
      assert.equal(firstString(dataset, '00280301'), l.burned_in ? 'YES' : 'NO');
      assert.equal(firstString(dataset, '00100040'), l.sex);
      assert.equal(firstString(dataset, '00101010'), `${String(l.age).padStart(3, '0')}Y`);
      assert.equal(firstString(dataset, '00180015'), 'CHEST');
      assert.match(l.sop_instance_uid, /^2\.25\.\d+$/);
      // Planted PHI is there to be removed.
      assert.ok((firstString(dataset, '00100010') ?? '').length > 3);
      assert.ok(firstString(dataset, '00100030'));
      assert.equal(firstString(dataset, '00090010'), 'ANOFAIR PHANTOM');
    }
    // UIDs are unique across the dataset.
    assert.equal(new Set(labels.map((l) => l.sop_instance_uid)).size, labels.length);
    assert.equal(new Set(labels.map((l) => l.study_instance_uid)).size, labels.length);
  });

  it('keeps every box inside its image and uses only the declared classes', () => {
    for (const l of labels) {
      for (const { box } of [...l.findings, ...l.text_boxes]) {
        const [x0, y0, x1, y1] = box;
        assert.ok(x0 >= 0 && y0 >= 0 && x1 <= l.columns && y1 <= l.rows, `${l.image_id} box ${box} outside`);
        assert.ok(x1 - x0 >= 2 && y1 - y0 >= 2, `${l.image_id} box ${box} degenerate`);
      }
      for (const f of l.findings) assert.ok((FINDING_CLASSES as readonly string[]).includes(f.label));
      assert.equal(l.text_boxes.length, l.burned_in ? 3 : 0);
      if (l.burned_in) assert.deepEqual(l.text_boxes.map((t) => t.kind), ['name', 'id', 'date']);
    }
  });

  it('respects the burned-in share exactly and keeps splits by patient', () => {
    assert.equal(labels.filter((l) => l.burned_in).length, Math.round(0.25 * 16));
    assert.equal(manifest.counts.burned_in_images, 4);
    const splitOf = new Map<string, string>();
    for (const l of labels) {
      const s = splitOf.get(l.patient_id);
      if (s) assert.equal(l.split, s, `${l.patient_id} is in two splits`);
      splitOf.set(l.patient_id, l.split);
    }
    assert.deepEqual(
      { train: manifest.counts.splits.train.patients, val: manifest.counts.splits.val.patients, test: manifest.counts.splits.test.patients },
      { train: 6, val: 1, test: 1 },
    );
  });

  it('renders burned-in text as white pixels inside the recorded text boxes', async () => {
    const l = labels.find((x) => x.burned_in);
    assert.ok(l);
    const { dataset } = readPart10(new Uint8Array(await readFile(path.join(a, l.file))));
    const px = asUint16Samples(nativePixelBytes(dataset)!);
    const center = Number(firstString(dataset, '00281050'));
    const width = Number(firstString(dataset, '00281051'));
    const mono1 = l.photometric === 'MONOCHROME1';
    for (const t of l.text_boxes) {
      const [x0, y0, x1, y1] = t.box;
      let bright = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const v = ((px[y * l.columns + x] as number) - (center - width / 2)) / width;
          if ((mono1 ? 1 - v : v) > 0.88) bright++;
        }
      }
      assert.ok(bright >= 10, `${t.kind} box of ${l.image_id} has ${bright} text pixels`);
    }
  });

  it('is read by pydicom: pixel arrays of the declared shape and the same attributes', () => {
    const script = [
      'import json, sys, pydicom',
      'root = sys.argv[1]',
      'out = []',
      'for line in open(root + "/labels.jsonl"):',
      '    l = json.loads(line)',
      '    d = pydicom.dcmread(root + "/" + l["file"])',
      '    a = d.pixel_array',
      '    out.append([l["image_id"], list(a.shape), str(a.dtype), int(a.max()) < 2 ** int(d.BitsStored), d.PhotometricInterpretation, d.Modality, str(d.BurnedInAnnotation)])',
      'print(json.dumps(out))',
    ].join('\n');
    const res = spawnSync(PYTHON, ['-c', script, a], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const rows = JSON.parse(res.stdout) as Array<[string, number[], string, boolean, string, string, string]>;
    assert.equal(rows.length, labels.length);
    rows.forEach(([id, shape, dtype, inRange, pm, modality, burned], k) => {
      const l = labels[k] as ImageLabel;
      assert.equal(id, l.image_id);
      assert.deepEqual(shape, [l.rows, l.columns]);
      assert.equal(dtype, 'uint16');
      assert.ok(inRange, `${id}: a value exceeds BitsStored`);
      assert.equal(pm, l.photometric);
      assert.equal(modality, l.modality);
      assert.equal(burned, l.burned_in ? 'YES' : 'NO');
    });
  });

  it('is read by dcmdump without errors and passes dciodvfy without errors', async () => {
    for (const l of labels) {
      const file = path.join(a, l.file);
      const dump = spawnSync('dcmdump', ['-q', file], { encoding: 'utf8' });
      assert.equal(dump.status, 0, `dcmdump ${l.file}: ${dump.stderr}`);
      assert.doesNotMatch(dump.stderr, /^E:/m);
      assert.match(dump.stdout, /\(7fe0,0010\) OW/);
      // dciodvfy exits 0 even with errors; its report is what counts. Warnings are expected: the planted PHI
      // (addresses, telephone numbers, other IDs) is deliberately beyond the IOD.
      const v = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
      const errors = `${v.stdout}\n${v.stderr}`.split('\n').filter((line) => line.startsWith('Error'));
      assert.deepEqual(errors, [], `dciodvfy ${l.file}`);
    }
  });

  it('is a valid CLI: anofair phantoms --help lists the options', () => {
    const help = execFileSync(process.execPath, [path.resolve('bin/anofair.js'), 'phantoms', '--help'], { encoding: 'utf8' });
    for (const o of ['--out', '--patients', '--seed', '--size', '--images-per-patient', '--burned-in-share', '--photometric']) {
      assert.ok(help.includes(o), `help lacks ${o}`);
    }
  });

  it('rejects bad arguments with one clear line and a non-zero exit', () => {
    const res = spawnSync(process.execPath, [path.resolve('bin/anofair.js'), 'phantoms', '--out', path.join(root, 'x'), '--patients', '0', '--seed', '1'], { encoding: 'utf8' });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, /--patients must be an integer/);
  });
});
