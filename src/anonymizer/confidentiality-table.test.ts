/**
 * PS3.15 2026c Table E.1-1, row by row: for every attribute the table lists, under the Basic Profile and under each
 * option whose column has an entry for that row, the attribute is de-identified as the table says, at the top level
 * of the data set and inside a sequence item. The expectations come from the vendored table itself (read here as
 * plain JSON, not through the engine's loader), so a row the engine mishandles fails under its own name.
 *
 * Each case goes through real bytes: the input is written as Part 10 and read back, de-identified, and the output
 * is written and read back again before it is inspected.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { STANDARD_DIR } from '../../test/support/repo-paths.js';
import { addDays, findText, firstText, isEmpty, plain } from '../../test/support/dicom-values.js';
import type { DicomDataset, DicomElement, DicomFile } from '../dicom/dataset.js';
import { keywordOfTag, vrOfTag } from '../dicom/dictionary.js';
import { readPart10, writePart10 } from '../dicom/part10.js';
import type { DeidOutcome, ProfileOption } from './deid-types.js';
import { deidentify } from './deidentify.js';
import { IDENTIFYING_KEYWORDS } from './identifying-values.js';

interface Row {
  name: string;
  tag: string;
  basicProfile: string;
  [column: string]: string;
}

const TABLE = JSON.parse(readFileSync(join(STANDARD_DIR, 'table_E.1-1_2026c.json'), 'utf8')) as { rows: Row[] };
const SAFE_PRIVATE = (
  JSON.parse(readFileSync(join(STANDARD_DIR, 'annexE_aux_tables_2026c.json'), 'utf8')) as {
    'table_E.3.10-1': { rows: Array<{ 'Data Element': string; 'Private Creator': string; VR?: string }> };
  }
)['table_E.3.10-1'].rows;

/** The option columns of Table E.1-1, by the option names of the standard. */
const OPTION_COLUMNS: Array<[ProfileOption, string]> = [
  ['retain-safe-private', 'rtnSafePrivOpt'],
  ['retain-uids', 'rtnUIDsOpt'],
  ['retain-device-identity', 'rtnDevIdOpt'],
  ['retain-institution-identity', 'rtnInstIdOpt'],
  ['retain-patient-characteristics', 'rtnPatCharsOpt'],
  ['retain-long-full-dates', 'rtnLongFullDatesOpt'],
  ['retain-long-modified-dates', 'rtnLongModifDatesOpt'],
  ['clean-descriptors', 'cleanDescOpt'],
  ['clean-structured-content', 'cleanStructContOpt'],
  ['clean-graphics', 'cleanGraphOpt'],
];

/** Combined codes resolve to the least removing choice, which keeps the IOD conformant whatever the type... */
const LEAST_REMOVING: Record<string, string> = { 'X/Z': 'Z', 'X/D': 'D', 'X/Z/D': 'D', 'Z/D': 'D', 'X/Z/U*': 'U' };
/**
 * ...except for a sequence that is Type 3 in every IOD of a stored instance: there Z (zero items) breaks the IOD,
 * since a Type 3 sequence that is present needs one or more items, and X/Z means X. Referenced Study Sequence is
 * Type 3 in the General Study Module (PS3.3 C.7.2.1); dciodvfy reports the empty one as an error.
 */
const TYPE_3_SEQUENCES = new Set(['00081110']);
const resolve = (code: string, tag: string) => (code === 'X/Z' && TYPE_3_SEQUENCES.has(tag) ? 'X' : (LEAST_REMOVING[code] ?? code));

/**
 * VRs of the attributes of Table E.1-1 that dcmjs 0.51's data dictionary does not know yet (added to PS3.6 after
 * it), as PS3.6 2026c gives them.
 */
const VR_NOT_IN_DCMJS: Record<string, string> = {
  '0040B034': 'DT', // Annotation DateTime
  '0040E012': 'UR', // Display URI
  '0040A034': 'DT', // Effective Start DateTime
  '0040A035': 'DT', // Effective Stop DateTime
  '00102162': 'UC', // Ethnic Groups
  '00100044': 'SQ', // Gender Identity Code Sequence
  '00100045': 'UT', // Gender Identity Comment
  '00100041': 'SQ', // Gender Identity Sequence
  '00081304': 'SQ', // Histological Diagnoses Code Sequence
  '0040B03F': 'LO', // Montage Channel Label
  '0040B03B': 'LO', // Montage Name
  '00100012': 'PN', // Name to Use
  '00100013': 'UT', // Name to Use Comment
  '00100011': 'SQ', // Person Names to Use Sequence
  '00081302': 'SQ', // Primary Diagnosis Code Sequence
  '00081301': 'SQ', // Principal Diagnosis Code Sequence
  '00100015': 'SQ', // Pronoun Code Sequence
  '00100016': 'UT', // Pronoun Comment
  '00081303': 'SQ', // Secondary Diagnoses Code Sequence
  '0040B036': 'DT', // Segment Definition DateTime
  '00100046': 'SQ', // Sex Parameters for Clinical Use Category Code Sequence
  '00100042': 'UT', // Sex Parameters for Clinical Use Category Comment
  '00100047': 'UR', // Sex Parameters for Clinical Use Category Reference
  '00100043': 'SQ', // Sex Parameters for Clinical Use Category Sequence
  '00100014': 'SQ', // Third Person Pronouns Sequence
};

const KEY = { id: 'table-test', secret: Buffer.from('confidentiality-table-test-key-0001') };

// The patient of every case. Free text under test embeds these values, so cleaning has something to remove.
const PATIENT_NAME = 'Quist^Rowan';
const PATIENT_ID = 'PQ4711';
const PHI = ['Quist', 'Rowan', PATIENT_ID];
const PHI_TEXT = 'Note on Rowan Quist PQ4711';
const PHI_SHORT_TEXT = 'Re Quist PQ4711'; // SH holds 16 characters
const PLAIN_TEXT = 'Routine note';
const DA = '20010203';
const DT = '20010203040506.123456+0100';
const TM = '040506.123';
const SNOMED_TUMOR = '363406005';

const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** A sequence the table does not list, so the profile keeps it (K) and walks into its items. */
const CONTAINER = '00400260'; // Performed Protocol Code Sequence
const FREE_TEXT_VRS = new Set(['LO', 'SH', 'ST', 'LT', 'UT', 'UC']);
const BINARY_VRS = new Set(['OB', 'OW', 'OD', 'OF', 'OL', 'OV', 'UN']);

const tagOf = (row: Row) => row.tag.replace(/[(),]/g, '').toUpperCase();
const uidFor = (tag: string) => `1.2.826.0.1.3680043.8.498.${parseInt(tag, 16)}`;
const bytes = (...b: number[]) => Uint8Array.from(b).buffer;

function text(vr: string, phi: boolean): string {
  if (!phi) return PLAIN_TEXT;
  return vr === 'SH' ? PHI_SHORT_TEXT : PHI_TEXT;
}

/** A sequence item of the kind the attribute holds: a code, a reference to an instance, or a text item. */
function itemFor(row: Row, tag: string, phi: boolean): DicomDataset {
  if (/Code Sequence$/.test(row.name)) {
    return {
      '00080100': { vr: 'SH', Value: [SNOMED_TUMOR] },
      '00080102': { vr: 'SH', Value: ['SCT'] },
      '00080104': { vr: 'LO', Value: [phi ? 'Tumor seen by Rowan Quist' : 'Malignant tumor of colon'] },
    };
  }
  if (row.basicProfile === 'X/Z/U*' || /^Referenced|Source Image/.test(row.name)) {
    return {
      '00081150': { vr: 'UI', Value: [CT_IMAGE] },
      '00081155': { vr: 'UI', Value: [`${uidFor(tag)}.1`] },
    };
  }
  return {
    '0040A040': { vr: 'CS', Value: ['TEXT'] },
    '0040A160': { vr: 'UT', Value: [text('UT', phi)] },
  };
}

/**
 * A value consistent with the VR. Text carries the patient's name and ID unless the attribute is to be kept: a kept
 * attribute holding them would rightly be withheld by the release check (tested in deidentify.test.ts).
 */
function sampleElement(row: Row, tag: string, vr: string, phi: boolean): DicomElement {
  switch (vr) {
    case 'AE': return { vr, Value: ['STATION7'] };
    case 'AS': return { vr, Value: ['045Y'] };
    case 'AT': return { vr, Value: [0x00100010] };
    case 'CS': return { vr, Value: ['VALUE_7'] };
    case 'DA': return { vr, Value: [DA] };
    case 'DT': return { vr, Value: [DT] };
    case 'TM': return { vr, Value: [TM] };
    case 'DS': return { vr, Value: ['12.5'] };
    case 'IS': return { vr, Value: ['17'] };
    case 'UI': return { vr, Value: [uidFor(tag)] };
    case 'UR': return { vr, Value: ['http://example.org/item/7'] };
    case 'PN': return { vr, Value: [{ Alphabetic: phi ? PATIENT_NAME : 'Tester^Kim' }] };
    case 'US': case 'UL': return { vr, Value: [4] };
    case 'SS': case 'SL': return { vr, Value: [-3] };
    case 'FL': case 'FD': return { vr, Value: [1.5] };
    case 'SQ': return { vr, Value: [itemFor(row, tag, phi)] };
    default:
      if (FREE_TEXT_VRS.has(vr)) return { vr, Value: [text(vr, phi)] };
      return { vr, Value: [bytes(1, 2, 3, 4)] };
  }
}

function baseDataset(): DicomDataset {
  return {
    '00080016': { vr: 'UI', Value: [CT_IMAGE] },
    '00080018': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.1.1'] },
    '00080060': { vr: 'CS', Value: ['CT'] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: PATIENT_NAME }] },
    '00100020': { vr: 'LO', Value: [PATIENT_ID] },
    '0020000D': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.1.2'] },
    '0020000E': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.1.3'] },
  };
}

function part10(dataset: DicomDataset): Uint8Array {
  const meta: DicomDataset = {
    '00020001': { vr: 'OB', Value: [bytes(0, 1)] },
    '00020002': { vr: 'UI', Value: [CT_IMAGE] },
    '00020003': { vr: 'UI', Value: [String(dataset['00080018'].Value?.[0])] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_LE] },
    '00020012': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.9'] },
  };
  return writePart10({ meta, dataset });
}

interface Run {
  input: DicomFile;
  outcome: DeidOutcome;
  /** The output as a receiver reads it back; undefined when the instance was withheld. */
  output?: DicomFile;
  /** A second, independent run on the same bytes (run when asked for). */
  again: () => DicomFile;
}

function deidentifyTwice(input: Uint8Array, options: ProfileOption[]): Run {
  const once = (): [DicomFile, DeidOutcome, DicomFile | undefined] => {
    const file = readPart10(input);
    const outcome = deidentify(file, { options, key: KEY });
    return [file, outcome, outcome.status === 'released' ? readPart10(writePart10(outcome.file)) : undefined];
  };
  const [file, outcome, output] = once();
  let second: DicomFile | undefined;
  const again = () => (second ??= once()[2]!);
  return { input: file, outcome, output, again };
}

const isNewUid = (v: unknown) => typeof v === 'string' && /^2\.25\.(0|[1-9]\d*)$/.test(v) && v.length <= 64;

function show(e: DicomElement | undefined): string {
  return JSON.stringify(plain(e));
}

interface Expectation {
  action: string;
  tag: string;
  vr: string;
  before: DicomElement;
  after: DicomElement | undefined;
  afterAgain: () => DicomElement | undefined;
  run: Run;
  topLevel: boolean;
}

/** The outcome Table E.1-1a defines for the action, checked on one attribute. */
function checkAction({ action, tag, vr, before, after, afterAgain, run, topLevel }: Expectation): void {
  const seen = `got ${show(after)} from ${show(before)}`;
  switch (action) {
    case 'X':
      assert.equal(after, undefined, `X removes the attribute; ${seen}`);
      return;
    case 'Z':
      assert.ok(after, 'Z keeps the attribute');
      if (topLevel && tag === '00100010') {
        // Z allows a dummy: Patient's Name becomes the research subject identifier, as Patient ID does.
        assert.equal(firstText(after), firstText(run.output!.dataset['00100020']), `Patient's Name is the subject identifier; ${seen}`);
        assert.match(firstText(after) ?? '', /^ANON-[0-9A-Z]{12}$/);
      } else {
        assert.ok(isEmpty(after), `Z leaves a zero-length value; ${seen}`);
        if (vr === 'SQ') assert.equal(after.Value?.length ?? 0, 0, 'Z leaves a sequence of zero items');
      }
      return;
    case 'D':
      assert.ok(after, `D keeps the attribute; ${seen}`);
      assert.ok(!isEmpty(after), `D gives a non-zero length value; ${seen}`);
      assert.notDeepEqual(plain(after), plain(before), `D replaces the value; ${seen}`);
      return;
    case 'U': {
      assert.ok(after, `U keeps the attribute; ${seen}`);
      if (vr === 'SQ') {
        // U* on a sequence: its items stay, with every contained instance UID replaced.
        const items = (after.Value ?? []) as DicomDataset[];
        assert.equal(items.length, before.Value?.length, `U keeps the items; ${seen}`);
        const original = (before.Value?.[0] as DicomDataset)['00081155'].Value?.[0];
        const replaced = items[0]['00081155']?.Value?.[0];
        assert.ok(isNewUid(replaced) && replaced !== original, `the referenced instance UID is replaced by a 2.25 UID; ${seen}`);
        assert.equal(replaced, (afterAgain()?.Value?.[0] as DicomDataset)['00081155']?.Value?.[0], 'the same UID in a second run');
        assert.deepEqual(plain(items[0]['00081150']), plain((before.Value?.[0] as DicomDataset)['00081150']), 'the SOP Class UID is kept');
        return;
      }
      const value = after.Value?.[0];
      assert.ok(isNewUid(value), `U gives a 2.25 UID; ${seen}`);
      assert.notEqual(value, before.Value?.[0], `U replaces the UID; ${seen}`);
      assert.equal(value, afterAgain()?.Value?.[0], 'U gives the same UID in a second run with the same key');
      return;
    }
    case 'K':
      assert.deepEqual(plain(after), plain(before), 'K keeps the attribute unchanged');
      return;
    case 'C':
      checkClean({ action, tag, vr, before, after, afterAgain, run, topLevel });
      return;
    default:
      assert.fail(`the table has an action this test does not know: ${action}`);
  }
}

/** C: "replace with values of similar meaning known not to contain identifying information", per VR. */
function checkClean({ tag, vr, before, after, run }: Expectation): void {
  const seen = `got ${show(after)} from ${show(before)}`;
  if (vr === 'DA' || vr === 'DT') {
    // Only Retain Longitudinal Temporal Information with Modified Dates cleans dates: the patient's shift.
    const days = run.outcome.record.dateShiftDays;
    assert.ok(Number.isInteger(days) && days !== 0, `the record gives a non-zero whole-day shift, got ${days}`);
    const original = String(before.Value?.[0]);
    const expected = addDays(original.slice(0, 8), days!) + original.slice(8);
    assert.equal(after?.Value?.[0], expected, `the date moves by ${days} days, time and offset kept; ${seen}`);
    return;
  }
  if (vr === 'TM') {
    assert.deepEqual(plain(after), plain(before), 'a whole-day shift leaves times of day as they are');
    return;
  }
  if (BINARY_VRS.has(vr)) {
    // No cleaner can vouch for bytes it cannot parse: they keep their length (the IOD keeps the attribute) and
    // become zeros.
    assert.ok(after, `C keeps a binary attribute; ${seen}`);
    const bytes = new Uint8Array(after!.Value?.[0] as ArrayBuffer);
    const original = before.Value?.[0] as ArrayBuffer;
    assert.equal(bytes.byteLength, original.byteLength, `the zeroed value keeps its length; ${seen}`);
    assert.ok(bytes.every((b) => b === 0), `the binary value is zeroed; ${seen}`);
    return;
  }
  assert.ok(after, `C keeps the attribute; ${seen}`);
  if (FREE_TEXT_VRS.has(vr)) {
    // The identifying values are looked for everywhere in the output by the caller. Where the attribute's own
    // value counts as identifying (Requesting Service, addresses, IDs: identifying-values.ts), it goes whole.
    if (IDENTIFYING_KEYWORDS.has(keywordOfTag(tag) ?? '')) return;
    const cleaned = String(after.Value?.[0] ?? '');
    assert.ok(cleaned.startsWith(String(before.Value?.[0]).split(' ')[0]), `the text is scrubbed, not wiped; ${seen}`);
    return;
  }
  if (vr === 'PN') {
    assert.ok(!isEmpty(after), `a cleaned name is a dummy; ${seen}`);
    return;
  }
  if (vr === 'UI') {
    assert.ok(isNewUid(after.Value?.[0]) && after.Value?.[0] !== before.Value?.[0], `a cleaned UID is replaced; ${seen}`);
    return;
  }
  if (vr === 'SQ') {
    const items = (after.Value ?? []) as DicomDataset[];
    assert.equal(items.length, before.Value?.length, `cleaning keeps the items; ${seen}`);
    const code = (before.Value?.[0] as DicomDataset)['00080100'];
    if (code) {
      assert.deepEqual(plain(items[0]['00080100']), plain(code), `coded values are kept: a code is not a descriptor; ${seen}`);
      assert.deepEqual(plain(items[0]['00080102']), plain((before.Value?.[0] as DicomDataset)['00080102']), 'coding scheme kept');
    }
    return;
  }
  assert.deepEqual(plain(after), plain(before), 'coded and numeric values hold no free text and are kept');
}

interface Case {
  row: Row;
  tag: string;
  vr: string;
  option?: ProfileOption;
  action: string;
}

function casesOf(row: Row): Case[] {
  const tag = tagOf(row);
  const vr = vrOfTag(tag) ?? VR_NOT_IN_DCMJS[tag];
  assert.ok(vr, `no VR for ${row.tag} ${row.name}: add it to VR_NOT_IN_DCMJS`);
  const cases: Case[] = [{ row, tag, vr, action: resolve(row.basicProfile, tag) }];
  for (const [option, column] of OPTION_COLUMNS) {
    if (row[column]) cases.push({ row, tag, vr, option, action: resolve(row[column], tag) });
  }
  return cases;
}

/** What must not be left anywhere in the output when the attribute is not kept. */
function forbidden(c: Case): string[] {
  if (c.action === 'K') return [];
  const out = [...PHI];
  if (c.vr === 'DA' || c.vr === 'DT') out.push(DA);
  if (c.vr === 'UI' || c.vr === 'SQ') out.push(uidFor(c.tag));
  return out;
}

function runTopLevel(c: Case): void {
  const dataset = baseDataset();
  const before = sampleElement(c.row, c.tag, c.vr, c.action !== 'K');
  dataset[c.tag] = before;
  const run = deidentifyTwice(part10(c.tag === '00020003' ? { ...baseDataset(), '00080018': before } : dataset), c.option ? [c.option] : []);

  if (c.tag === '00420011') {
    // An instance that encapsulates a document is withheld whatever the row says: nobody has checked the document.
    assert.equal(run.outcome.status, 'quarantined');
    assert.match((run.outcome as { reason: string }).reason, /\(0042,0011\)/);
    return;
  }
  assert.equal(run.outcome.status, 'released', `released, not ${(run.outcome as { reason?: string }).reason}`);
  const output = run.output!;
  if (c.tag === '00020003') {
    // Media Storage SOP Instance UID lives in the File Meta Information, which follows the SOP Instance UID.
    checkAction({ ...c, topLevel: true, before: run.input.meta['00020003'], after: output.meta['00020003'], afterAgain: () => run.again().meta['00020003'], run });
    return;
  }
  checkAction({ ...c, topLevel: true, before: run.input.dataset[c.tag], after: output.dataset[c.tag], afterAgain: () => run.again().dataset[c.tag], run });
  const left = findText(output.dataset, forbidden(c));
  assert.deepEqual(left, [], 'no identifying value of the input is left anywhere in the output');
}

function runNested(c: Case): void {
  const dataset = baseDataset();
  const before = sampleElement(c.row, c.tag, c.vr, c.action !== 'K');
  dataset[CONTAINER] = {
    vr: 'SQ',
    Value: [
      {
        '00080100': { vr: 'SH', Value: ['P-001'] },
        '00080102': { vr: 'SH', Value: ['99LOCAL'] },
        '00080104': { vr: 'LO', Value: ['Protocol one'] },
        [c.tag]: before,
      },
    ],
  };
  const run = deidentifyTwice(part10(dataset), c.option ? [c.option] : []);
  assert.equal(run.outcome.status, 'released', `released, not ${(run.outcome as { reason?: string }).reason}`);
  const item = (run.output!.dataset[CONTAINER]?.Value?.[0] ?? {}) as DicomDataset;
  assert.deepEqual(plain(item['00080100']), plain({ vr: 'SH', Value: ['P-001'] }), 'the kept sequence keeps its item');
  const after = item[c.tag];
  if (c.tag === '00020003') {
    assert.equal(after, undefined, 'File Meta attributes do not belong in a data set and are never copied into one');
    return;
  }
  const inputItem = run.input.dataset[CONTAINER].Value?.[0] as DicomDataset;
  const againItem = () => (run.again().dataset[CONTAINER]?.Value?.[0] ?? {}) as DicomDataset;
  checkAction({ ...c, topLevel: false, before: inputItem[c.tag], after, afterAgain: () => againItem()[c.tag], run });
  const left = findText(run.output!.dataset, forbidden(c));
  assert.deepEqual(left, [], 'no identifying value of the input is left anywhere in the output');
}

const singleTagRows = TABLE.rows.filter((r) => /^\([0-9A-F]{4},[0-9A-F]{4}\)$/i.test(r.tag));

describe('Table E.1-1: every row with a single tag', () => {
  test('the vendored table is the 2026c edition with its 656 rows, 652 of them single tags', () => {
    assert.equal(TABLE.rows.length, 656);
    assert.equal(singleTagRows.length, 652);
  });
  for (const row of singleTagRows) {
    describe(`${row.tag} ${row.name}`, () => {
      for (const c of casesOf(row)) {
        const label = `${c.option ?? 'Basic Profile'}: ${c.option ? row[OPTION_COLUMNS.find(([o]) => o === c.option)![1]] : row.basicProfile}`;
        test(`${label}, at the top level`, () => runTopLevel(c));
        test(`${label}, inside a sequence item`, () => runNested(c));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The masked rows: repeating groups and private attributes.

function withInContainer(elements: DicomDataset, nested: boolean): DicomDataset {
  const dataset = baseDataset();
  if (!nested) return { ...dataset, ...elements };
  dataset[CONTAINER] = { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['P-001'] }, '00080102': { vr: 'SH', Value: ['99LOCAL'] }, ...elements }] };
  return dataset;
}

function levelOf(file: DicomFile, nested: boolean): DicomDataset {
  return nested ? ((file.dataset[CONTAINER]?.Value?.[0] ?? {}) as DicomDataset) : file.dataset;
}

function released(run: Run): DicomFile {
  assert.equal(run.outcome.status, 'released', `released, not ${(run.outcome as { reason?: string }).reason}`);
  return run.output!;
}

const inGroups = (ds: DicomDataset, from: number, to: number) =>
  Object.keys(ds).filter((t) => parseInt(t.slice(0, 4), 16) >= from && parseInt(t.slice(0, 4), 16) <= to);

describe('(50xx,xxxx) Curve Data: every attribute of the retired curve groups', () => {
  const curves = (): DicomDataset => ({
    '50000005': { vr: 'US', Value: [1] },
    '50000010': { vr: 'US', Value: [2] },
    '50002500': { vr: 'LO', Value: [PHI_TEXT] },
    '50003000': { vr: 'OW', Value: [bytes(1, 2, 3, 4)] },
    '50020005': { vr: 'US', Value: [1] },
    '50023000': { vr: 'OW', Value: [bytes(5, 6, 7, 8)] },
  });
  for (const nested of [false, true]) {
    const where = nested ? 'inside a sequence item' : 'at the top level';
    test(`Basic Profile: X, ${where}`, () => {
      const out = levelOf(released(deidentifyTwice(part10(withInContainer(curves(), nested)), [])), nested);
      assert.deepEqual(inGroups(out, 0x5000, 0x501e), [], 'no curve attribute is left');
    });
    test(`clean-graphics: C, ${where}`, () => {
      const run = deidentifyTwice(part10(withInContainer(curves(), nested)), ['clean-graphics']);
      const out = levelOf(released(run), nested);
      assert.equal(out['50003000'], undefined, 'curve data bytes are removed: no cleaner can vouch for them');
      assert.equal(out['50023000'], undefined);
      assert.deepEqual(plain(out['50000005']), plain({ vr: 'US', Value: [1] }), 'numbers describing the curve are kept');
      assert.ok(out['50002500'], 'the curve label is cleaned, not removed');
      assert.deepEqual(findText(run.output!.dataset, PHI), [], 'the label is scrubbed of identifying values');
    });
  }
});

function overlay(group: string, withData: boolean): DicomDataset {
  const ds: DicomDataset = {
    [`${group}0010`]: { vr: 'US', Value: [2] },
    [`${group}0011`]: { vr: 'US', Value: [8] },
    [`${group}0040`]: { vr: 'CS', Value: ['G'] },
    [`${group}0050`]: { vr: 'SS', Value: [1, 1] },
    [`${group}0100`]: { vr: 'US', Value: [1] },
    [`${group}0102`]: { vr: 'US', Value: [0] },
    [`${group}4000`]: { vr: 'LT', Value: [PHI_TEXT] },
  };
  if (withData) ds[`${group}3000`] = { vr: 'OW', Value: [bytes(0xff, 0, 0xff, 0)] };
  return ds;
}

describe('(60xx,3000) Overlay Data: the whole Overlay Plane goes with its data', () => {
  for (const nested of [false, true]) {
    const where = nested ? 'inside a sequence item' : 'at the top level';
    for (const option of [undefined, 'clean-graphics'] as const) {
      test(`${option ?? 'Basic Profile'}: ${option ? 'C' : 'X'}, ${where}`, () => {
        const run = deidentifyTwice(part10(withInContainer({ ...overlay('6000', true), ...overlay('6002', true) }, nested)), option ? [option] : []);
        const out = levelOf(released(run), nested);
        assert.deepEqual(inGroups(out, 0x6000, 0x601e), [], 'no attribute of either overlay is left');
      });
    }
  }
});

describe('(60xx,4000) Overlay Comments', () => {
  for (const nested of [false, true]) {
    const where = nested ? 'inside a sequence item' : 'at the top level';
    test(`Basic Profile: X, ${where}`, () => {
      const out = levelOf(released(deidentifyTwice(part10(withInContainer(overlay('6000', false), nested)), [])), nested);
      assert.equal(out['60004000'], undefined, 'the comment is removed');
    });
    test(`clean-graphics: C, ${where}`, () => {
      const run = deidentifyTwice(part10(withInContainer(overlay('6000', false), nested)), ['clean-graphics']);
      const out = levelOf(released(run), nested);
      assert.ok(String(out['60004000']?.Value?.[0]).startsWith('Note on'), 'the comment is cleaned, not removed');
      assert.deepEqual(findText(run.output!.dataset, PHI), [], 'the comment is scrubbed of identifying values');
    });
  }
});

// Table E.3.10-1 names a safe private attribute by group, element offset in the block, and private creator.
function privateVr(vr: string | undefined): string {
  if (!vr) return 'UN';
  return vr.includes('/') ? vr.split('/')[1] : vr;
}

/** "(0019,xx0C)" to ["0019", "0C"]. */
function safeElement(dataElement: string): [string, string] {
  const m = /^\(([0-9A-F]{4}),xx([0-9A-F]{2})\)$/i.exec(dataElement.trim());
  assert.ok(m, `Table E.3.10-1 names an element this test cannot read: ${dataElement}`);
  return [m[1].toUpperCase(), m[2].toUpperCase()];
}

function privateBlock(group: string, block: string, creator: string, offsets: Array<[string, DicomElement]>): DicomDataset {
  const ds: DicomDataset = { [`${group}00${block}`]: { vr: 'LO', Value: [creator] } };
  for (const [offset, element] of offsets) ds[`${group}${block}${offset}`] = element;
  return ds;
}

describe('(gggg,eeee) where gggg is odd: private attributes', () => {
  const unsafe = (): DicomDataset => privateBlock('0009', '10', 'ACME PRIVATE', [['01', { vr: 'LO', Value: [PLAIN_TEXT] }], ['02', { vr: 'DA', Value: [DA] }]]);
  for (const nested of [false, true]) {
    const where = nested ? 'inside a sequence item' : 'at the top level';
    for (const option of [undefined, 'retain-safe-private'] as const) {
      test(`${option ?? 'Basic Profile'}: a private block Table E.3.10-1 does not list is removed with its creator, ${where}`, () => {
        const out = levelOf(released(deidentifyTwice(part10(withInContainer(unsafe(), nested)), option ? [option] : [])), nested);
        assert.deepEqual(inGroups(out, 0x0009, 0x0009), []);
      });
    }
  }

  const first = SAFE_PRIVATE[0];
  const [g0, e0] = safeElement(first['Data Element']);
  test('retain-safe-private: a safe offset under another private creator is removed', () => {
    const ds = privateBlock(g0, '10', 'SOMEONE ELSE', [[e0, sampleElement(first as unknown as Row, `${g0}10${e0}`, privateVr(first.VR), false)]]);
    const out = released(deidentifyTwice(part10({ ...baseDataset(), ...ds }), ['retain-safe-private'])).dataset;
    assert.deepEqual(inGroups(out, parseInt(g0, 16), parseInt(g0, 16)), []);
  });
  test('retain-safe-private: a safe offset without its private creator is removed', () => {
    const ds = privateBlock(g0, '10', first['Private Creator'], [[e0, sampleElement(first as unknown as Row, `${g0}10${e0}`, privateVr(first.VR), false)]]);
    delete ds[`${g0}0010`];
    const out = released(deidentifyTwice(part10({ ...baseDataset(), ...ds }), ['retain-safe-private'])).dataset;
    assert.deepEqual(inGroups(out, parseInt(g0, 16), parseInt(g0, 16)), []);
  });

  describe('Table E.3.10-1: every safe private attribute', () => {
    for (const safe of SAFE_PRIVATE) {
      const [group, offset] = safeElement(safe['Data Element']);
      const creator = safe['Private Creator'];
      const vr = privateVr(safe.VR);
      const listed = new Set(
        SAFE_PRIVATE.filter((s) => s['Private Creator'] === creator && safeElement(s['Data Element'])[0] === group).map((s) => safeElement(s['Data Element'])[1]),
      );
      const unlisted = ['FF', 'FE', 'FD', 'FC'].find((o) => !listed.has(o))!;
      // The block is chosen per data set (PS3.5 7.8.1): 10 at the top level, 42 inside the item.
      const build = (block: string) =>
        privateBlock(group, block, creator, [
          [offset, sampleElement({ name: 'private', tag: '', basicProfile: 'C' }, `${group}${block}${offset}`, vr, false)],
          [unlisted, { vr: 'LO', Value: [PLAIN_TEXT] }],
        ]);
      const dataset = () => {
        const ds = { ...baseDataset(), ...build('10') };
        ds[CONTAINER] = { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['P-001'] }, ...build('42') }] };
        return ds;
      };
      const name = `(${group},xx${offset}) ${creator} ${vr}`;
      test(`${name}: Basic Profile removes it`, () => {
        const out = released(deidentifyTwice(part10(dataset()), [])).dataset;
        const g = parseInt(group, 16);
        assert.deepEqual(inGroups(out, g, g), [], 'top level');
        assert.deepEqual(inGroups(levelOf({ meta: {}, dataset: out }, true), g, g), [], 'inside the item');
      });
      test(`${name}: retain-safe-private keeps it with its private creator`, () => {
        const run = deidentifyTwice(part10(dataset()), ['retain-safe-private']);
        const out = released(run).dataset;
        for (const [level, block, inputLevel] of [
          [out, '10', run.input.dataset],
          [levelOf({ meta: {}, dataset: out }, true), '42', levelOf(run.input, true)],
        ] as const) {
          const g = parseInt(group, 16);
          assert.deepEqual(inGroups(level, g, g).sort(), [`${group}00${block}`, `${group}${block}${offset}`].map((t) => t.toUpperCase()).sort());
          assert.equal(level[`${group}00${block}`.toUpperCase()].Value?.[0], creator, 'the private creator is kept');
          const tag = `${group}${block}${offset}`.toUpperCase();
          if (vr !== 'SQ') assert.deepEqual(plain(level[tag]), plain(inputLevel[tag]), 'the value is kept unchanged');
          else assert.equal(level[tag].Value?.length, 1, 'the private sequence keeps its item');
        }
      });
    }
  });
});
