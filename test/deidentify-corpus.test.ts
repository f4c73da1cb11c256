/**
 * Every public test file (test/fixtures/dicom-public), de-identified with the Basic Profile, checked with tools we
 * did not write: no identifying value of the input is left in the output bytes or in any text pydicom decodes from
 * it; pydicom and dcmdump read every output; dciodvfy finds no error in an output that it did not find in its
 * input; UIDs and date shifts agree across the files of a study and across separate runs.
 *
 * The burned-in presumption is narrowed to nothing, so OT/SC files without Burned In Annotation are exercised;
 * a file that says YES must still be withheld.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { findText, firstText } from './support/dicom-values.js';
import { dciodvfyErrors, dcmconvExplicitLittle, dcmdump, dcmodify, pydicomView } from './support/external-tools.js';
import { PUBLIC_FIXTURES_DIR, REPO_ROOT, STANDARD_DIR, publicFixture, publicFixtureFiles } from './support/repo-paths.js';
import { TRANSFER_SYNTAX, type DicomFile } from '../src/dicom/dataset.js';
import { readPart10, transferSyntaxOf, writePart10 } from '../src/dicom/part10.js';
import type { DeidOutcome, DeidentifyOptions, ProfileOption } from '../src/anonymizer/deid-types.js';
import { deidentify } from '../src/anonymizer/deidentify.js';

const KEY_HEX = '6b65792d666f722d7468652d636f727075732d746573742d3031323334353637';
const KEY = { id: 'corpus-key', secret: Buffer.from(KEY_HEX, 'hex') };
const NO_PRESUMPTION = { modalities: [], sopClassPrefixes: [] };
const FILES = publicFixtureFiles();
/** Burned In Annotation YES: withheld whatever else is configured. */
const BURNED_IN = new Set(['deid-data/US_GREYSCALE_IMAGE_burnedin.dcm']);

const work = mkdtempSync(join(tmpdir(), 'anofair-corpus-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Result {
  name: string;
  input: string;
  outcome: DeidOutcome;
  /** Path of the written output, for released files. */
  output?: string;
  bytes?: Uint8Array;
  file?: DicomFile;
}

function deidentifyCorpus(options: ProfileOption[], dir: string): Map<string, Result> {
  const results = new Map<string, Result>();
  const settings: DeidentifyOptions = { options, key: KEY, burnedInPresumption: NO_PRESUMPTION };
  for (const name of FILES) {
    const input = publicFixture(name);
    const outcome = deidentify(readPart10(readFileSync(input)), settings);
    const result: Result = { name, input, outcome };
    if (outcome.status === 'released') {
      result.bytes = writePart10(outcome.file);
      result.output = join(dir, name);
      mkdirSync(dirname(result.output), { recursive: true });
      writeFileSync(result.output, result.bytes);
      result.file = readPart10(result.bytes);
    }
    results.set(name, result);
  }
  return results;
}

function memo<T>(f: () => T): () => T {
  let value: T | undefined;
  let done = false;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value as T;
  };
}

const basic = memo(() => deidentifyCorpus([], join(work, 'basic')));
const released = (name: string) => {
  const r = basic().get(name)!;
  assert.equal(r.outcome.status, 'released', `withheld: ${r.outcome.status === 'quarantined' ? r.outcome.reason : ''}`);
  return r;
};

interface Identifying {
  tag: string;
  kind: string;
  value: string;
}
const identifying = memo(() =>
  pydicomView<Identifying[]>('identifying', FILES.map(publicFixture), [join(STANDARD_DIR, 'table_E.1-1_2026c.json')]),
);
const identifyingOf = (name: string): Identifying[] => {
  const v = identifying()[publicFixture(name)];
  assert.ok(Array.isArray(v), `pydicom cannot read the input ${name}: ${JSON.stringify(v)}`);
  return v;
};

/**
 * Short values of the input that recur, by coincidence, in coded or manufacturer values the Basic Profile keeps
 * (it keeps what Table E.1-1 does not list). Each names the only attributes it may recur in (paths start with the
 * tag of the top-level attribute); anywhere else it still fails the test.
 */
const COINCIDENCES: Array<{ file: RegExp; value: string; tags: string[]; why: string }> = [
  { file: /MR_small/, value: 'TOSHIBA', tags: ['00080070'], why: 'the Institution Name is the Manufacturer, which is kept' },
  {
    file: /ctbrain1/,
    value: 'RIS',
    tags: ['00081032', '00321064'],
    why: 'a name component (a private RIS user) that is also part of the coding scheme designator SIEMENS_RIS of kept procedure codes',
  },
  {
    file: /ctbrain1/,
    value: 'SGH',
    tags: ['00321064'],
    why: "Requesting Service (the site's initials) inside the local code value SGH0101 of the kept Requested Procedure Code Sequence",
  },
  { file: /test-SR/, value: 'Test', tags: ['0040A043', '0040A730'], why: 'a name component that is also the coding scheme designator TEST of concept names' },
];

function allowed(name: string, value: string): boolean {
  return COINCIDENCES.some((c) => c.file.test(name) && c.value === value);
}

/** The identifying values to look for: UIDs only when they are UIDs (a few test files hold "0"). */
function lookedFor(name: string): Identifying[] {
  return identifyingOf(name).filter((v) => !allowed(name, v.value) && (v.kind !== 'uid' || v.value.includes('.')));
}

/** The output bytes with the Pixel Data value blanked: pixels are passed unchanged and are not text. */
function headerBytes(r: Result): Buffer {
  const bytes = Buffer.from(r.bytes!);
  const pixels = r.file!.encapsulatedPixelData ?? (r.file!.dataset['7FE00010']?.Value?.[0] as ArrayBuffer | undefined);
  if (pixels) {
    let view = Buffer.from(pixels instanceof ArrayBuffer ? new Uint8Array(pixels) : pixels);
    // the reader holds big-endian OW Pixel Data swapped to little endian; the bytes written are big endian again
    if (transferSyntaxOf(r.file!) === TRANSFER_SYNTAX.ExplicitVRBigEndian && r.file!.dataset['7FE00010']?.vr === 'OW') view = Buffer.from(view).swap16();
    const at = bytes.lastIndexOf(view);
    assert.ok(at > 132, 'the pixel data is in the output');
    bytes.fill(0, at, at + view.length);
  }
  return bytes;
}

describe('every public test file, de-identified with the Basic Profile', () => {
  test(`the corpus is there: ${FILES.length} files`, () => {
    assert.ok(FILES.length >= 28, `expected the vendored public files under ${PUBLIC_FIXTURES_DIR}`);
  });

  for (const name of FILES) {
    describe(name, () => {
      if (BURNED_IN.has(name)) {
        test('Burned In Annotation YES: withheld with the reason, even with no presumption configured', () => {
          const { outcome } = basic().get(name)!;
          assert.equal(outcome.status, 'quarantined');
          assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /Burned In Annotation \(0028,0301\) is YES/);
        });
        return;
      }

      test('released', () => {
        released(name);
      });

      test('no identifying value of the input is left in the output bytes (UTF-8 and Latin-1), pixel data aside', () => {
        const r = released(name);
        const bytes = headerBytes(r);
        const left: string[] = [];
        for (const { kind, tag, value } of lookedFor(name)) {
          const encodings: BufferEncoding[] = /^[\x00-\xff]*$/.test(value) ? ['utf8', 'latin1'] : ['utf8'];
          for (const encoding of encodings) {
            if (bytes.includes(Buffer.from(value, encoding))) left.push(`${kind} from (${tag.slice(0, 4)},${tag.slice(4)}) as ${encoding}: ${value}`);
          }
        }
        assert.deepEqual(left, []);
      });

      test('no identifying value in any text our reader or pydicom decodes from the output', () => {
        const r = released(name);
        const values = lookedFor(name).map((v) => v.value);
        assert.deepEqual(findText(r.file!.dataset, values), [], 'our reader');
        const theirs = pydicomTexts()[r.output!];
        assert.ok(Array.isArray(theirs), `pydicom cannot read the output: ${JSON.stringify(theirs)}`);
        const lowered = theirs.map((t) => t.toLowerCase());
        const left = values.filter((v) => lowered.some((t) => t.includes(v.toLowerCase())));
        assert.deepEqual(left, [], 'pydicom');
      });

      test('pydicom reads every element of the output', () => {
        const view = pydicomViews()[released(name).output!] as { error?: string; dataset?: unknown[] } | undefined;
        assert.ok(view && !view.error && Array.isArray(view.dataset), `pydicom: ${JSON.stringify(view)}`);
      });

      test('dcmdump reads the output without errors', () => {
        const r = dcmdump(released(name).output!);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(!/^E:/m.test(r.stderr), r.stderr);
      });

      test('dciodvfy reports no error on the output that it did not report on the input', () => {
        const r = released(name);
        const before = dciodvfyErrors(baselineFor(r));
        const afterErrors = dciodvfyErrors(r.output!);
        if (before.some((e) => /Information Object Not found/.test(e))) {
          // dciodvfy checks an object against the IOD of its SOP Class; these test files have none.
          assert.equal(r.file!.dataset['00080016'], undefined, 'only inputs without a SOP Class UID have no IOD to check');
          assert.ok(afterErrors.some((e) => /Information Object Not found/.test(e)));
          return;
        }
        const known = new Set(before);
        assert.deepEqual(afterErrors.filter((e) => !known.has(e)), [], 'new errors');
      });
    });
  }

  test('exceptions to "no identifying value" recur only where they are allowed', () => {
    for (const c of COINCIDENCES) {
      for (const name of FILES.filter((f) => c.file.test(f))) {
        const r = released(name);
        const hits = findText(r.file!.dataset, [c.value]);
        assert.ok(hits.length > 0, `${c.value} no longer recurs in ${name}: remove the exception`);
        for (const hit of hits) assert.ok(c.tags.some((t) => hit.startsWith(t)), `${c.value} in ${hit}, outside ${c.tags} (${c.why})`);
      }
    }
  });
});

const pydicomTexts = memo(() => pydicomView<string[]>('text', [...basic().values()].filter((r) => r.output).map((r) => r.output!)));
const pydicomViews = memo(() => pydicomView<unknown>('view', [...basic().values()].filter((r) => r.output).map((r) => r.output!)));

/** dciodvfy cannot read a deflated data set; its baseline is the same data set inflated by dcmtk. */
function baselineFor(r: Result): string {
  if (r.outcome.status === 'released' && r.file && readPart10(readFileSync(r.input)).sourceTransferSyntaxUID === '1.2.840.10008.1.2.1.99') {
    const inflated = join(work, 'inflated', r.name);
    mkdirSync(dirname(inflated), { recursive: true });
    dcmconvExplicitLittle(r.input, inflated);
    return inflated;
  }
  return r.input;
}


describe('consistency: the files of a study and separate runs agree', () => {
  const MODIFIED: ProfileOption[] = ['retain-long-modified-dates'];

  function studyOfTwo(): [string, string] {
    const dir = join(work, 'study');
    mkdirSync(dir, { recursive: true });
    const first = join(dir, 'MR_small_1.dcm');
    const second = join(dir, 'MR_small_2.dcm');
    copyFileSync(publicFixture('pydicom/MR_small.dcm'), first);
    copyFileSync(publicFixture('pydicom/MR_small.dcm'), second);
    dcmodify(second, { '(0008,0018)': '1.2.826.0.1.3680043.8.498.20260001', '(0020,0013)': '2' });
    return [first, second];
  }

  const deid = (path: string, options: ProfileOption[]) => {
    const outcome = deidentify(readPart10(readFileSync(path)), { options, key: KEY, burnedInPresumption: NO_PRESUMPTION });
    assert.equal(outcome.status, 'released');
    return { outcome, file: readPart10(writePart10(outcome.status === 'released' ? outcome.file : (undefined as never))) };
  };

  test('two instances of one study: same study, series, frame of reference and subject; their own SOP Instance UIDs', () => {
    const [a, b] = studyOfTwo().map((p) => deid(p, []).file.dataset);
    for (const tag of ['0020000D', '0020000E', '00200052', '00100020', '00100010']) {
      assert.ok(firstText(a[tag]), `${tag} present`);
      assert.equal(firstText(a[tag]), firstText(b[tag]), tag);
    }
    assert.notEqual(firstText(a['00080018']), firstText(b['00080018']));
  });

  test('two instances of one study under Modified Dates: the same shift, so the same dates', () => {
    const [a, b] = studyOfTwo().map((p) => deid(p, MODIFIED));
    assert.equal(a.outcome.record.dateShiftDays, b.outcome.record.dateShiftDays);
    for (const tag of ['00080020', '00080021', '00080022', '00080023']) {
      if (!a.file.dataset[tag]) continue;
      assert.equal(firstText(a.file.dataset[tag]), firstText(b.file.dataset[tag]), tag);
      assert.notEqual(firstText(a.file.dataset[tag]), '20040826', `${tag} is shifted`);
    }
  });

  test('another process with the same key writes byte-identical outputs for the whole corpus, Basic and Modified Dates', () => {
    for (const [options, label] of [[[], 'basic'], [MODIFIED, 'modified']] as const) {
      const here = label === 'basic' ? basic() : deidentifyCorpus([...options], join(work, label));
      const there = join(work, `${label}-other-process`);
      runInAnotherProcess([...options], there);
      for (const r of here.values()) {
        if (!r.output) continue;
        const theirs = readFileSync(join(there, r.name));
        assert.ok(Buffer.from(r.bytes!).equals(theirs), `${label}: ${r.name} differs between runs`);
      }
    }
  });
});

/** De-identify the corpus in a fresh Node process, as a second run on another day would. */
function runInAnotherProcess(options: ProfileOption[], outDir: string): void {
  const dist = join(REPO_ROOT, 'dist/src');
  const script = `
    import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
    import { dirname, join } from 'node:path';
    const { readPart10, writePart10 } = await import(${JSON.stringify(join(dist, 'dicom/part10.js'))});
    const { deidentify } = await import(${JSON.stringify(join(dist, 'anonymizer/deidentify.js'))});
    const [options, key, files, fixtures, out] = JSON.parse(process.argv[1]);
    for (const name of files) {
      const outcome = deidentify(readPart10(readFileSync(join(fixtures, name))), {
        options, key: { id: 'corpus-key', secret: Buffer.from(key, 'hex') }, burnedInPresumption: { modalities: [], sopClassPrefixes: [] },
      });
      if (outcome.status !== 'released') continue;
      mkdirSync(dirname(join(out, name)), { recursive: true });
      writeFileSync(join(out, name), writePart10(outcome.file));
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([options, KEY_HEX, FILES, PUBLIC_FIXTURES_DIR, outDir])], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
}
