/**
 * readPart10 / writePart10 on every public test file, judged by pydicom (a reader we did not write): every file
 * reads; what we write back holds the same elements with the same values at every nesting level; encapsulated
 * Pixel Data comes back byte-exact; ISO 2022 person names decode to the right characters; broken input is a
 * DICOM_PARSE error with a reason, never a crash.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pydicomView } from '../../test/support/external-tools.js';
import { publicFixture, publicFixtureFiles } from '../../test/support/repo-paths.js';
import { AnofairError } from '../errors/anofair-error.js';
import type { DicomFile, PersonName } from './dataset.js';
import { readPart10, writePart10 } from './part10.js';

const FILES = publicFixtureFiles();
const work = mkdtempSync(join(tmpdir(), 'anofair-part10-'));
after(() => rmSync(work, { recursive: true, force: true }));

type Element = [tag: string, vr: string, value: unknown];
interface View {
  meta: Element[];
  dataset: Element[];
}

function memo<T>(f: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= f());
}

/** Each file read and written back, the result on disk for the outside tools. */
const roundTrips = memo(() => {
  const out = new Map<string, { input: string; output: string; read: DicomFile; written: Uint8Array }>();
  for (const name of FILES) {
    const input = publicFixture(name);
    const read = readPart10(readFileSync(input));
    const written = writePart10(read);
    const output = join(work, name);
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, written);
    out.set(name, { input, output, read, written });
  }
  return out;
});

const views = memo(() => {
  const trips = [...roundTrips().values()];
  return pydicomView<View>('view', [...trips.map((t) => t.input), ...trips.map((t) => t.output)]);
});

function viewOf(path: string): View {
  const v = views()[path] as View | { error: string };
  assert.ok(!('error' in v), `pydicom cannot read ${path}: ${'error' in v ? v.error : ''}`);
  return v;
}

/**
 * What a round trip may change: Specific Character Set (text is written as UTF-8), Data Set Trailing Padding, and
 * the File Meta Information (group 0002, compared on its own).
 */
const MAY_CHANGE = new Set(['00080005', 'FFFCFFFC']);

/**
 * dcmjs 0.51 has no SV, OL or OV: such elements are read as UN and written back as UN, bytes unchanged. They are
 * listed here so the loss is seen; when the reader learns these VRs, the entries must go.
 */
const KNOWN_VR_LOSSES = new Set(['deid-data/ctbrain1.dcm (0011,0007) SV', 'deid-data/ctbrain1.dcm (0011,0014) OL', 'deid-data/ctbrain1.dcm (0011,0016) OV']);
const VRS_DCMJS_LACKS = new Set(['SV', 'OL', 'OV']);
const lostVrs: string[] = [];

/** A binary value of odd length gains one zero byte of padding (PS3.5 7.1.1 wants even lengths). */
function samePadded(x: unknown, y: unknown): boolean {
  return typeof x === 'string' && typeof y === 'string' && /^([0-9a-f]{2})*$/.test(x) && (x.length / 2) % 2 === 1 && y === `${x}00`;
}

/** Differences between two pydicom views of a data set, as readable lines with the path of each. */
function differences(a: Element[], b: Element[], path = '', file = ''): string[] {
  const out: string[] = [];
  const index = (elements: Element[]) => new Map(elements.filter(([tag]) => !MAY_CHANGE.has(tag)).map((e) => [e[0], e]));
  const left = index(a);
  const right = index(b);
  for (const tag of new Set([...left.keys(), ...right.keys()])) {
    const here = `${path}(${tag.slice(0, 4)},${tag.slice(4)})`;
    const x = left.get(tag);
    const y = right.get(tag);
    if (!x || !y) {
      out.push(`${here} only in the ${x ? 'input' : 'output'}`);
      continue;
    }
    if (VRS_DCMJS_LACKS.has(x[1]) && y[1] !== x[1]) {
      lostVrs.push(`${file} ${here} ${x[1]}`);
      continue;
    }
    // Encapsulated Pixel Data is OB (PS3.5 A.4); some writers say OW.
    const encapsulatedOb = tag === '7FE00010' && x[1] === 'OW' && y[1] === 'OB' && typeof x[2] === 'object';
    if (x[1] !== y[1] && !encapsulatedOb) out.push(`${here} VR ${x[1]} became ${y[1]}`);
    if (x[1] === 'SQ' && y[1] === 'SQ') {
      const xi = x[2] as Element[][];
      const yi = y[2] as Element[][];
      if (xi.length !== yi.length) out.push(`${here} has ${xi.length} items in the input, ${yi.length} in the output`);
      xi.forEach((item, i) => yi[i] && out.push(...differences(item, yi[i], `${here}[${i}].`, file)));
      continue;
    }
    if (JSON.stringify(x[2]) !== JSON.stringify(y[2]) && !samePadded(x[2], y[2])) {
      out.push(`${here} ${JSON.stringify(x[2])} became ${JSON.stringify(y[2])}`);
    }
  }
  return out;
}

describe('readPart10 and writePart10 on every public test file', () => {
  for (const name of FILES) {
    describe(name, () => {
      test('reads, with a transfer syntax and a data set', () => {
        const { read } = roundTrips().get(name)!;
        assert.ok(read.sourceTransferSyntaxUID, 'the source transfer syntax is known');
        assert.ok(Object.keys(read.dataset).length > 0, 'elements were read');
      });

      test('written back, pydicom sees the same elements with the same values at every nesting level', () => {
        const { input, output } = roundTrips().get(name)!;
        assert.deepEqual(differences(viewOf(input).dataset, viewOf(output).dataset, '', name), []);
      });

      test('written back, the File Meta Information keeps SOP Class, SOP Instance and transfer syntax', () => {
        const { input, output, read } = roundTrips().get(name)!;
        const meta = (v: View) => Object.fromEntries(v.meta.map(([tag, , value]) => [tag, value]));
        const before = meta(viewOf(input));
        const afterMeta = meta(viewOf(output));
        for (const tag of ['00020002', '00020003']) if (before[tag]) assert.deepEqual(afterMeta[tag], before[tag], tag);
        const deflated = read.sourceTransferSyntaxUID === '1.2.840.10008.1.2.1.99';
        // A deflated data set is held and written inflated, as Explicit VR Little Endian (PS3.5 A.5).
        const expected = deflated ? '1.2.840.10008.1.2.1' : (before['00020010'] ?? '1.2.840.10008.1.2');
        assert.deepEqual(afterMeta['00020010'], expected);
      });

      const encapsulated = () => roundTrips().get(name)!.read.encapsulatedPixelData;
      test('encapsulated Pixel Data, if any, comes back byte-exact', () => {
        const { input, output, written } = roundTrips().get(name)!;
        const pixels = encapsulated();
        if (!pixels) {
          assert.ok(!/^1\.2\.840\.10008\.1\.2\.(4|5)/.test(roundTrips().get(name)!.read.sourceTransferSyntaxUID ?? ''), 'a compressed syntax has encapsulated pixels');
          return;
        }
        const original = readFileSync(input);
        assert.ok(original.includes(Buffer.from(pixels)), 'the reader holds the fragments as they are in the input');
        assert.ok(Buffer.from(written).includes(Buffer.from(pixels)), 'the writer puts them back unchanged');
        const px = (v: View) => v.dataset.find(([tag]) => tag === '7FE00010')?.[2];
        assert.deepEqual(px(viewOf(output)), px(viewOf(input)), "pydicom's view of the encapsulated Pixel Data");
      });
    });
  }
});

test('the VRs dcmjs lacks are lost only where known (SV, OL, OV written as UN)', () => {
  for (const name of FILES) differences(viewOf(roundTrips().get(name)!.input).dataset, viewOf(roundTrips().get(name)!.output).dataset, '', name);
  assert.deepEqual([...new Set(lostVrs)].sort(), [...KNOWN_VR_LOSSES].sort());
});

function personName(file: string, tag = '00100010'): string {
  const pn = readPart10(readFileSync(publicFixture(file))).dataset[tag].Value?.[0] as PersonName;
  return [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''].join('=').replace(/=+$/, '');
}

describe('Specific Character Set: names decode to the right characters (PS3.5 6.1, Annex H, I, J)', () => {
  const CASES: Array<[string, string, string]> = [
    ['pydicom/chrH31.dcm', 'ISO 2022 IR 87 (JIS X 0208 kanji, hiragana)', 'Yamada^Tarou=山田^太郎=やまだ^たろう'],
    ['pydicom/chrH32.dcm', 'ISO 2022 IR 13 (JIS X 0201 katakana) with IR 87', 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう'],
    ['pydicom/chrI2.dcm', 'ISO 2022 IR 149 (KS X 1001 hangul, hanja)', 'Hong^Gildong=洪^吉洞=홍^길동'],
    ['pydicom/chrFren.dcm', 'ISO_IR 100 (Latin-1)', 'Buc^Jérôme'],
    ['pydicom/chrX1.dcm', 'ISO_IR 192 (UTF-8)', 'Wang^XiaoDong=王^小東'],
  ];
  for (const [file, charset, expected] of CASES) {
    test(`${file}: ${charset}`, () => {
      assert.equal(personName(file), expected);
    });
  }

  test('a sequence item with its own Specific Character Set (chrSQEncoding1): IR 13 + IR 87 inside the item', () => {
    const ds = readPart10(readFileSync(publicFixture('pydicom/chrSQEncoding1.dcm'))).dataset;
    const item = (Object.values(ds).find((e) => e.vr === 'SQ')?.Value ?? [])[0] as Record<string, { Value?: unknown[] }>;
    const pn = item['00100010'].Value?.[0] as PersonName;
    assert.equal([pn.Alphabetic, pn.Ideographic, pn.Phonetic].join('='), 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう');
  });

  test('what we write back declares ISO_IR 192 and holds the same characters for pydicom', () => {
    for (const [file, , expected] of CASES) {
      const out = join(work, 'charset', file);
      mkdirSync(dirname(out), { recursive: true });
      const written = writePart10(readPart10(readFileSync(publicFixture(file))));
      writeFileSync(out, written);
      assert.equal(personName(file), expected);
      const view = pydicomView<View>('view', [out])[out] as View;
      const charset = view.dataset.find(([tag]) => tag === '00080005')?.[2];
      if (/[^\x00-\x7f]/.test(expected)) assert.equal(charset, 'ISO_IR 192', file);
      assert.equal(view.dataset.find(([tag]) => tag === '00100010')?.[2], expected, `pydicom reads ${file} back`);
    }
  });
});

describe('broken input: a DICOM_PARSE error with a reason, never a crash', () => {
  const isParseError = (err: unknown) => err instanceof AnofairError && err.code === 'DICOM_PARSE' && err.message.length > 10;

  test('a file cut inside its Pixel Data says it is truncated', () => {
    const bytes = readFileSync(publicFixture('pydicom/CT_small.dcm'));
    assert.throws(() => readPart10(bytes.subarray(0, bytes.length - 1000)), (err: unknown) => isParseError(err) && /truncated/.test((err as Error).message));
  });

  test('a file cut inside a sequence says so', () => {
    const bytes = readFileSync(publicFixture('pydicom/reportsi.dcm'));
    assert.throws(() => readPart10(bytes.subarray(0, Math.floor(bytes.length / 2))), (err: unknown) => isParseError(err) && /truncated/.test((err as Error).message));
  });

  test('cut anywhere, every file either reads or gives DICOM_PARSE', () => {
    for (const name of FILES) {
      const bytes = readFileSync(publicFixture(name));
      for (let i = 1; i < 24; i++) {
        const cut = Math.floor((bytes.length * i) / 24) | 1; // odd: never on an element boundary
        try {
          readPart10(bytes.subarray(0, cut));
        } catch (err) {
          assert.ok(isParseError(err), `${name} cut at ${cut}: ${String(err)}`);
        }
      }
    }
  });

  test('random bytes give DICOM_PARSE', () => {
    let seed = 20260314;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff;
    let parseErrors = 0;
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: 64 + n * 7 }, random);
      try {
        readPart10(bytes);
      } catch (err) {
        assert.ok(isParseError(err), `random input ${n}: ${String(err)}`);
        parseErrors++;
      }
    }
    assert.equal(parseErrors, 200, 'no random input reads as DICOM');
  });

  test('empty input, a text file, and a DICM magic with nothing after it give DICOM_PARSE', () => {
    const dicm = new Uint8Array(132);
    dicm.set(Buffer.from('DICM'), 128);
    for (const bytes of [new Uint8Array(0), Buffer.from('this is not a DICOM file, it is a note\n'), dicm]) {
      assert.throws(() => readPart10(bytes), isParseError);
    }
  });
});
