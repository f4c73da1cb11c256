/**
 * deidentify(): what a privacy officer signs off, beyond the table rows (confidentiality-table.test.ts): the markers
 * the standard asks for, a new File Meta Information, keyed pseudonyms and date shifts, real cleaning of free text,
 * failing closed on pixels and on leftovers, and a record without PHI. Inputs go through real Part 10 bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dataset, part10, type Spec } from '../../test/support/dicom-builder.js';
import { addDays, findText, firstText } from '../../test/support/dicom-values.js';
import type { DicomDataset, DicomFile } from '../dicom/dataset.js';
import { readPart10, writePart10 } from '../dicom/part10.js';
import { AnofairError } from '../errors/anofair-error.js';
import { PROFILE_OPTIONS, type DeidOutcome, type DeidentifyOptions, type ProfileOption } from './deid-types.js';
import { DEFAULT_DATE_SHIFT_DAYS, deidentify } from './deidentify.js';
import { loadSubjectLookup } from './settings/subject-lookup.js';

const KEY = { id: 'site-key-2026', secret: Buffer.from('a-secret-of-the-hospital-0123456789abcdef') };
const OTHER_KEY = { id: 'other-site', secret: Buffer.from('another-secret-of-another-site-0123456789') };

const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const US_IMAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const SC_IMAGE = '1.2.840.10008.5.1.4.1.1.7';
const uid = (n: string) => `1.2.826.0.1.3680043.8.498.4242.${n}`;

/** A CT image with the identifying values a real one carries, made up. */
function ctSpec(overrides: Spec = {}): Spec {
  return {
    SpecificCharacterSet: ['CS', 'ISO_IR 192'],
    ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: ['UI', CT_IMAGE],
    SOPInstanceUID: ['UI', uid('1.1')],
    StudyDate: ['DA', '20230314'],
    SeriesDate: ['DA', '20230314'],
    AcquisitionDate: ['DA', '20230315'],
    ContentDate: ['DA', '20230314'],
    AcquisitionDateTime: ['DT', '20230315093000.000000+0100'],
    StudyTime: ['TM', '101530'],
    AccessionNumber: ['SH', 'ACC77123'],
    Modality: ['CS', 'CT'],
    Manufacturer: ['LO', 'ACME Medical'],
    InstitutionName: ['LO', 'Saint Elsewhere Hospital'],
    InstitutionAddress: ['ST', '12 Harbour Road, Springfield'],
    ReferringPhysicianName: ['PN', 'Kildare^James'],
    StationName: ['SH', 'CTSCAN01'],
    StudyDescription: ['LO', 'CT for John Smith 12345678 born 1970-01-02'],
    SeriesDescription: ['LO', 'Axial 5mm'],
    PerformingPhysicianName: ['PN', 'House^Gregory'],
    OperatorsName: ['PN', 'Ratched^Mildred'],
    ReferencedImageSequence: ['SQ', { ReferencedSOPClassUID: ['UI', CT_IMAGE], ReferencedSOPInstanceUID: ['UI', uid('1.2')] }],
    PatientName: ['PN', 'Smith^John'],
    PatientID: ['LO', '12345678'],
    IssuerOfPatientID: ['LO', 'SEH'],
    PatientBirthDate: ['DA', '19700102'],
    PatientSex: ['CS', 'M'],
    PatientAge: ['AS', '053Y'],
    OtherPatientIDsSequence: ['SQ', { PatientID: ['LO', 'OTHER998877'], IssuerOfPatientID: ['LO', 'XYZ'] }],
    DeviceSerialNumber: ['LO', 'SN-55-0042'],
    StudyInstanceUID: ['UI', uid('2')],
    SeriesInstanceUID: ['UI', uid('3')],
    StudyID: ['SH', 'S123'],
    SeriesNumber: ['IS', '2'],
    InstanceNumber: ['IS', '1'],
    FrameOfReferenceUID: ['UI', uid('4')],
    SamplesPerPixel: ['US', 1],
    PhotometricInterpretation: ['CS', 'MONOCHROME2'],
    Rows: ['US', 2],
    Columns: ['US', 2],
    BitsAllocated: ['US', 16],
    BitsStored: ['US', 12],
    HighBit: ['US', 11],
    PixelRepresentation: ['US', 0],
    BurnedInAnnotation: ['CS', 'NO'],
    '00090010': ['LO', 'ACME 1.0'],
    '00091001': ['LO', 'John Smith'],
    PixelData: ['OW', Uint8Array.from([1, 0, 2, 0, 3, 0, 4, 0])],
    ...overrides,
  };
}

/** Every identifying value of ctSpec(), as it may appear in text. */
const IDENTIFYING = [
  'Smith', 'John', '12345678', 'SEH', 'OTHER998877', '19700102', '1970-01-02', '20230314', '20230315', 'ACC77123',
  'Saint Elsewhere', 'Harbour Road', 'Kildare', 'House^Gregory', 'Ratched', 'CTSCAN01', 'SN-55-0042', 'ACME 1.0',
  uid('1.1'), uid('1.2'), uid('2'), uid('3'), uid('4'),
];

function without(spec: Spec, ...keywords: string[]): Spec {
  return Object.fromEntries(Object.entries(spec).filter(([k]) => !keywords.includes(k))) as Spec;
}

function bytesOf(spec: Spec, options?: Parameters<typeof part10>[1]): Uint8Array {
  return part10(dataset(spec), options);
}

function run(input: Uint8Array, opts: Partial<DeidentifyOptions> = {}): DeidOutcome {
  return deidentify(readPart10(input), { options: [], key: KEY, ...opts });
}

/** The output as a receiver reads it: written, then read back. */
function releasedFile(outcome: DeidOutcome): DicomFile {
  assert.equal(outcome.status, 'released', `expected a release, got: ${outcome.status === 'quarantined' ? outcome.reason : ''}`);
  return readPart10(writePart10(outcome.file));
}

function releasedBytes(outcome: DeidOutcome): Uint8Array {
  assert.equal(outcome.status, 'released', `expected a release, got: ${outcome.status === 'quarantined' ? outcome.reason : ''}`);
  return writePart10(outcome.file);
}

const value = (ds: DicomDataset, tag: string) => firstText(ds[tag]);
const codes = (ds: DicomDataset) =>
  ((ds['00120064']?.Value ?? []) as DicomDataset[]).map((item) => `${value(item, '00080102')}:${value(item, '00080100')}`);

/** CID 7050, PS3.16: De-identification Method codes, written out here from the standard, not from the engine. */
const CID_7050: Record<ProfileOption | 'basic' | 'clean-pixel-data', string> = {
  basic: '113100',
  'clean-pixel-data': '113101',
  'clean-graphics': '113103',
  'clean-structured-content': '113104',
  'clean-descriptors': '113105',
  'retain-long-full-dates': '113106',
  'retain-long-modified-dates': '113107',
  'retain-patient-characteristics': '113108',
  'retain-device-identity': '113109',
  'retain-uids': '113110',
  'retain-safe-private': '113111',
  'retain-institution-identity': '113112',
};

describe('markers a de-identified instance carries (PS3.15 E.1.1, E.3; PS3.3 C.7.1.1, C.7.6.1)', () => {
  test('Basic Profile: Patient Identity Removed YES, the method in words and as CID 7050 code 113100, temporal information REMOVED', () => {
    const ds = releasedFile(run(bytesOf(ctSpec()))).dataset;
    assert.equal(value(ds, '00120062'), 'YES');
    assert.ok((ds['00120063'].Value ?? []).join(' ').includes('Basic Profile'), 'De-identification Method names the profile');
    assert.deepEqual(codes(ds), ['DCM:113100']);
    const item = (ds['00120064'].Value as DicomDataset[])[0];
    assert.match(value(item, '00080104') ?? '', /Basic Application Confidentiality Profile/);
    assert.equal(value(ds, '00280303'), 'REMOVED', 'Longitudinal Temporal Information Modified');
  });

  for (const option of PROFILE_OPTIONS) {
    test(`${option}: its CID 7050 code ${CID_7050[option]} joins 113100, and the method names it`, () => {
      const ds = releasedFile(run(bytesOf(ctSpec()), { options: [option] })).dataset;
      assert.deepEqual(codes(ds).sort(), ['DCM:113100', `DCM:${CID_7050[option]}`].sort());
      assert.ok((ds['00120063'].Value ?? []).some((v: string) => v.includes(option)), 'De-identification Method names the option');
      const expected = option === 'retain-long-full-dates' ? 'UNMODIFIED' : option === 'retain-long-modified-dates' ? 'MODIFIED' : 'REMOVED';
      assert.equal(value(ds, '00280303'), expected, 'Longitudinal Temporal Information Modified');
    });
  }

  test('all compatible options at once: every code once, each value of the method within 64 characters (LO)', () => {
    const options = PROFILE_OPTIONS.filter((o) => o !== 'retain-long-full-dates');
    const ds = releasedFile(run(bytesOf(ctSpec()), { options })).dataset;
    assert.deepEqual(codes(ds).sort(), ['basic', ...options].map((o) => `DCM:${CID_7050[o as ProfileOption]}`).sort());
    for (const v of ds['00120063'].Value ?? []) assert.ok(String(v).length <= 64, `LO value too long: ${v}`);
  });

  test('pixel cleaning that ran: Clean Pixel Data and Clean Recognizable Visual Features codes, marked as a derived image', () => {
    const ds = releasedFile(run(bytesOf(ctSpec({ BurnedInAnnotation: ['CS', 'YES'], ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'AXIAL', 'MRN12345'] })), { pixelCleaning: 'applied' })).dataset;
    assert.deepEqual(codes(ds).sort(), ['DCM:113100', 'DCM:113101', 'DCM:113102']);
    assert.equal(value(ds, '00280301'), 'NO', 'Burned In Annotation');
    assert.equal(value(ds, '00280302'), 'NO', 'Recognizable Visual Features');
    // PS3.3 C.7.6.1.1.2; a value the standard does not define (here an MRN) is not carried over
    assert.deepEqual(ds['00080008']?.Value, ['DERIVED', 'SECONDARY']);
    assert.match(value(ds, '00082111') ?? '', /^CXR-AnoFAIR pixel anonymization: regions of detected findings kept/);
    const derivation = ds['00089215']?.Value?.[0] as Record<string, { Value?: string[] }>;
    assert.deepEqual([derivation['00080100']?.Value?.[0], derivation['00080102']?.Value?.[0]], ['CXRANOFAIR', '99ANOFAIR']);
  });

  test('without pixel cleaning, none of the derived-image marks', () => {
    const ds = releasedFile(run(bytesOf(ctSpec({ ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'AXIAL'] })))).dataset;
    assert.deepEqual(ds['00080008']?.Value?.slice(0, 2), ['ORIGINAL', 'PRIMARY']);
    assert.equal(ds['00089215'], undefined);
    assert.equal(ds['00280302'], undefined);
  });
});

describe('a new File Meta Information (PS3.10 7.1)', () => {
  const input = bytesOf(ctSpec(), {
    preamble: 0x41,
    meta: {
      SourceApplicationEntityTitle: ['AE', 'PACS_SEH'],
      SendingApplicationEntityTitle: ['AE', 'MODALITY_CT1'],
      ReceivingApplicationEntityTitle: ['AE', 'GATEWAY'],
      PrivateInformationCreatorUID: ['UI', '1.2.826.0.1.3680043.8.498.77'],
      PrivateInformation: ['OB', Uint8Array.from([0x53, 0x6d, 0x69, 0x74])],
    },
  });

  test('the input really has a filled preamble and source AE titles', () => {
    assert.equal(input[0], 0x41);
    const meta = readPart10(input).meta;
    assert.equal(value(meta, '00020016'), 'PACS_SEH');
  });

  test('the written preamble is 128 zero bytes followed by DICM', () => {
    const out = releasedBytes(run(input));
    assert.ok(out.subarray(0, 128).every((b) => b === 0), 'zeroed preamble');
    assert.equal(Buffer.from(out.subarray(128, 132)).toString('latin1'), 'DICM');
  });

  test('Media Storage SOP Instance UID is the new SOP Instance UID; class and transfer syntax follow the data set', () => {
    const out = releasedFile(run(input));
    const sopInstance = value(out.dataset, '00080018');
    assert.match(sopInstance ?? '', /^2\.25\.\d+$/);
    assert.equal(value(out.meta, '00020003'), sopInstance);
    assert.equal(value(out.meta, '00020002'), CT_IMAGE);
    assert.equal(value(out.meta, '00020010'), '1.2.840.10008.1.2.1');
    assert.notEqual(value(out.meta, '00020012'), '1.2.826.0.1.3680043.8.498.999', 'our Implementation Class UID, not the source one');
  });

  test('no source, sending or receiving AE title and no private information in it', () => {
    const meta = releasedFile(run(input)).meta;
    for (const tag of ['00020016', '00020017', '00020018', '00020100', '00020102']) assert.equal(meta[tag], undefined, `(0002,${tag.slice(4)})`);
    const bytes = Buffer.from(releasedBytes(run(input))).toString('latin1');
    for (const ae of ['PACS_SEH', 'MODALITY_CT1', 'GATEWAY']) assert.ok(!bytes.includes(ae), `${ae} left in the bytes`);
  });
});

describe('keyed pseudonyms: the same key gives the same UIDs and subject in every run; another key others', () => {
  const UID_TAGS = ['00080018', '0020000D', '0020000E', '00200052'];
  const input = bytesOf(ctSpec());

  test('two runs with the same key agree on every UID and on the subject', () => {
    const a = releasedFile(run(input)).dataset;
    const b = releasedFile(run(input)).dataset;
    for (const tag of UID_TAGS) {
      assert.match(value(a, tag) ?? '', /^2\.25\.(0|[1-9]\d*)$/, `(${tag}) is a 2.25 UID`);
      assert.equal(value(a, tag), value(b, tag));
    }
    assert.equal(value(a, '00100020'), value(b, '00100020'));
    assert.match(value(a, '00100020') ?? '', /^ANON-[0-9A-Z]{12}$/);
    assert.equal(value(a, '00100010'), value(a, '00100020'), "Patient's Name is the same subject identifier");
  });

  test('another key gives other UIDs and another subject', () => {
    const a = releasedFile(run(input)).dataset;
    const b = releasedFile(run(input, { key: OTHER_KEY })).dataset;
    for (const tag of [...UID_TAGS, '00100020']) assert.notEqual(value(a, tag), value(b, tag), tag);
  });

  test('a reference to another instance, inside a sequence, is the new UID that instance gets', () => {
    const referenced = releasedFile(run(bytesOf(ctSpec({ SOPInstanceUID: ['UI', uid('1.2')], ReferencedImageSequence: ['SQ'] })))).dataset;
    const referring = releasedFile(run(input)).dataset;
    const reference = (referring['00081140'].Value as DicomDataset[])[0];
    assert.equal(value(reference, '00081155'), value(referenced, '00080018'));
    assert.equal(value(reference, '00081150'), CT_IMAGE, 'the SOP Class UID is kept');
  });

  test('the same patient in another study gets the same subject identifier', () => {
    const other = bytesOf(ctSpec({ StudyInstanceUID: ['UI', uid('20')], SOPInstanceUID: ['UI', uid('20.1')], StudyDate: ['DA', '20240101'] }));
    assert.equal(value(releasedFile(run(input)).dataset, '00100020'), value(releasedFile(run(other)).dataset, '00100020'));
  });

  test('the site lookup table (CSV: original Patient ID -> subject ID) gives the subject; others keep a keyed pseudonym', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anofair-lookup-'));
    try {
      const csv = join(dir, 'subjects.csv');
      writeFileSync(csv, 'patient_id,subject_id\n12345678,STUDY42-0007\n99999999,STUDY42-0008\n');
      const subjectLookup = loadSubjectLookup(csv);
      const mapped = releasedFile(run(input, { subjectLookup })).dataset;
      assert.equal(value(mapped, '00100020'), 'STUDY42-0007');
      assert.equal(value(mapped, '00100010'), 'STUDY42-0007');
      const unlisted = releasedFile(run(bytesOf(ctSpec({ PatientID: ['LO', '55555555'] })), { subjectLookup })).dataset;
      assert.match(value(unlisted, '00100020') ?? '', /^ANON-/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the key id is recorded, the key never: not in the record, not in the output bytes', () => {
    const outcome = run(input);
    assert.equal(outcome.record.keyId, KEY.id);
    const bytes = Buffer.from(releasedBytes(outcome)).toString('latin1');
    assert.ok(bytes.includes(KEY.id), 'the key id is in De-identification Method');
    const secret = KEY.secret.toString('latin1');
    assert.ok(!bytes.includes(secret) && !JSON.stringify(outcome.record).includes(secret));
  });
});

describe('date shift under Retain Longitudinal Temporal Information with Modified Dates', () => {
  const MODIFIED: ProfileOption[] = ['retain-long-modified-dates'];

  test('within the configured range and never 0, keyed per patient', () => {
    for (const range of [{ min: -3, max: 3 }, { min: 10, max: 20 }, { min: -20, max: -10 }]) {
      const seen = new Set<number>();
      for (let i = 0; i < 60; i++) {
        const outcome = run(bytesOf(ctSpec({ PatientID: ['LO', `P${1000 + i}`] })), { options: MODIFIED, dateShiftDays: range });
        const days = outcome.record.dateShiftDays!;
        assert.ok(Number.isInteger(days) && days >= range.min && days <= range.max && days !== 0, `${days} outside ${JSON.stringify(range)} or 0`);
        seen.add(days);
      }
      assert.ok(seen.size > 3, `a keyed shift varies between patients, saw ${[...seen]}`);
    }
  });

  test(`the default range is ${DEFAULT_DATE_SHIFT_DAYS.min}..${DEFAULT_DATE_SHIFT_DAYS.max} days`, () => {
    const days = run(bytesOf(ctSpec()), { options: MODIFIED }).record.dateShiftDays!;
    assert.ok(days !== 0 && days >= DEFAULT_DATE_SHIFT_DAYS.min && days <= DEFAULT_DATE_SHIFT_DAYS.max, String(days));
  });

  test('every DA and DT moves by the shift, DT keeps its time and UTC offset, TM stays', () => {
    const outcome = run(bytesOf(ctSpec()), { options: MODIFIED });
    const days = outcome.record.dateShiftDays!;
    const ds = releasedFile(outcome).dataset;
    assert.equal(value(ds, '00080020'), addDays('20230314', days), 'Study Date');
    assert.equal(value(ds, '00080021'), addDays('20230314', days), 'Series Date');
    assert.equal(value(ds, '00080022'), addDays('20230315', days), 'Acquisition Date');
    assert.equal(value(ds, '00080023'), addDays('20230314', days), 'Content Date');
    assert.equal(value(ds, '0008002A'), `${addDays('20230315', days)}093000.000000+0100`, 'Acquisition DateTime');
    assert.equal(value(ds, '00080030'), '101530', 'Study Time');
  });

  test('the same shift for every file of one patient, across studies, so intervals stay true', () => {
    const first = run(bytesOf(ctSpec()), { options: MODIFIED });
    const later = run(
      bytesOf(ctSpec({ StudyInstanceUID: ['UI', uid('30')], SOPInstanceUID: ['UI', uid('30.1')], StudyDate: ['DA', '20240601'] })),
      { options: MODIFIED },
    );
    assert.equal(first.record.dateShiftDays, later.record.dateShiftDays);
    const d1 = value(releasedFile(first).dataset, '00080020')!;
    const d2 = value(releasedFile(later).dataset, '00080020')!;
    const daysBetween = (a: string, b: string) =>
      (Date.UTC(+b.slice(0, 4), +b.slice(4, 6) - 1, +b.slice(6)) - Date.UTC(+a.slice(0, 4), +a.slice(4, 6) - 1, +a.slice(6))) / 86_400_000;
    assert.equal(daysBetween(d1, d2), daysBetween('20230314', '20240601'));
    const otherPatient = run(bytesOf(ctSpec({ PatientID: ['LO', '87654321'] })), { options: MODIFIED, dateShiftDays: { min: 1, max: 100000 } });
    const samePatient = run(bytesOf(ctSpec()), { options: MODIFIED, dateShiftDays: { min: 1, max: 100000 } });
    assert.notEqual(otherPatient.record.dateShiftDays, samePatient.record.dateShiftDays, 'another patient, another shift');
  });

  test("ages stay consistent: with Retain Patient Characteristics the age is kept while every date moves together; the birth date is emptied (Z)", () => {
    const outcome = run(bytesOf(ctSpec()), { options: [...MODIFIED, 'retain-patient-characteristics'] });
    const ds = releasedFile(outcome).dataset;
    assert.equal(value(ds, '00101010'), '053Y');
    assert.equal(value(ds, '00100030') ?? '', '');
    assert.equal(value(ds, '00080020'), addDays('20230314', outcome.record.dateShiftDays!));
  });

  test('the shift is recorded only when dates are shifted', () => {
    assert.equal(run(bytesOf(ctSpec())).record.dateShiftDays, undefined);
    assert.equal(run(bytesOf(ctSpec()), { options: ['retain-long-full-dates'] }).record.dateShiftDays, undefined);
  });
});

describe('Clean Descriptors: identifying values are cleaned out of free text, the rest is kept', () => {
  test('"CT for John Smith 12345678 born 1970-01-02" loses the name, the ID and the birth date', () => {
    const ds = releasedFile(run(bytesOf(ctSpec()), { options: ['clean-descriptors'] })).dataset;
    const description = value(ds, '00081030') ?? '';
    assert.ok(description.startsWith('CT for'), description);
    for (const phi of ['John', 'Smith', '12345678', '1970-01-02', '19700102']) assert.ok(!description.includes(phi), `${phi} in "${description}"`);
    assert.equal(value(ds, '0008103E'), 'Axial 5mm', 'a description without identifying values is kept as is');
  });

  test('without the option the description is removed (X)', () => {
    assert.equal(releasedFile(run(bytesOf(ctSpec()))).dataset['00081030'], undefined);
  });

  test('the cleaning policy per attribute can remove or empty instead of scrub', () => {
    const removed = releasedFile(run(bytesOf(ctSpec()), { options: ['clean-descriptors'], cleaningPolicy: { StudyDescription: 'remove' } }));
    assert.equal(removed.dataset['00081030'], undefined);
    const emptied = releasedFile(run(bytesOf(ctSpec()), { options: ['clean-descriptors'], cleaningPolicy: { StudyDescription: 'empty' } }));
    assert.equal(value(emptied.dataset, '00081030') ?? '', '');
  });
});

describe('fail closed on pixels: burned-in text is never released unless pixels were cleaned', () => {
  test('Burned In Annotation YES: quarantined with the reason, no file', () => {
    const outcome = run(bytesOf(ctSpec({ BurnedInAnnotation: ['CS', 'YES'] })));
    assert.equal(outcome.status, 'quarantined');
    assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /Burned In Annotation \(0028,0301\) is YES/);
    assert.equal(outcome.record.pixels, 'withheld');
    assert.equal('file' in outcome, false);
  });

  for (const [modality, sopClass] of [['US', US_IMAGE], ['OT', SC_IMAGE]]) {
    test(`Burned In Annotation absent on ${modality}: quarantined`, () => {
      const outcome = run(bytesOf(without(ctSpec({ Modality: ['CS', modality], SOPClassUID: ['UI', sopClass] }), 'BurnedInAnnotation')));
      assert.equal(outcome.status, 'quarantined');
      assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /absent/);
    });
  }

  test('Burned In Annotation absent on CT: released (CT does not usually burn text in)', () => {
    assert.equal(run(bytesOf(without(ctSpec(), 'BurnedInAnnotation'))).status, 'released');
  });

  test('Burned In Annotation empty on US: quarantined like absent', () => {
    assert.equal(run(bytesOf(ctSpec({ Modality: ['CS', 'US'], SOPClassUID: ['UI', US_IMAGE], BurnedInAnnotation: ['CS'] }))).status, 'quarantined');
  });

  test('a site that narrows the presumption to nothing releases OT without Burned In Annotation', () => {
    const spec = without(ctSpec({ Modality: ['CS', 'OT'], SOPClassUID: ['UI', SC_IMAGE] }), 'BurnedInAnnotation');
    assert.equal(run(bytesOf(spec), { burnedInPresumption: { modalities: [], sopClassPrefixes: [] } }).status, 'released');
  });

  test("pixel cleaning 'applied': released with Burned In Annotation NO and pixels recorded as cleaned", () => {
    const outcome = run(bytesOf(ctSpec({ Modality: ['CS', 'US'], SOPClassUID: ['UI', US_IMAGE], BurnedInAnnotation: ['CS', 'YES'] })), {
      pixelCleaning: 'applied',
    });
    assert.equal(value(releasedFile(outcome).dataset, '00280301'), 'NO');
    assert.equal(outcome.record.pixels, 'cleaned');
  });
});

describe('the release check: an identifying value left in a retained attribute withholds the instance', () => {
  test("the patient's name in a code meaning the standard keeps: quarantined, naming the attribute, not the value", () => {
    const outcome = run(
      bytesOf(ctSpec({ PerformedProtocolCodeSequence: ['SQ', { CodeValue: ['SH', 'P1'], CodingSchemeDesignator: ['SH', '99SEH'], CodeMeaning: ['LO', 'Protocol for John Smith'] }] })),
    );
    assert.equal(outcome.status, 'quarantined');
    const reason = outcome.status === 'quarantined' ? outcome.reason : '';
    assert.match(reason, /\(0008,0104\)/);
    assert.ok(!/Smith|John/.test(reason), `the reason holds PHI: ${reason}`);
  });

  test("Retain Device Identity keeps the station name; one that holds the patient's name is withheld", () => {
    const outcome = run(bytesOf(ctSpec({ StationName: ['SH', 'SMITH-PC'] })), { options: ['retain-device-identity'] });
    assert.equal(outcome.status, 'quarantined');
    assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /\(0008,1010\)/);
  });

  test('the same station name is released when the option is not chosen (Station Name is removed)', () => {
    assert.equal(run(bytesOf(ctSpec({ StationName: ['SH', 'SMITH-PC'] }))).status, 'released');
  });
});

describe('options that exclude each other', () => {
  test('retain-long-full-dates with retain-long-modified-dates is rejected with a reason', () => {
    assert.throws(
      () => run(bytesOf(ctSpec()), { options: ['retain-long-full-dates', 'retain-long-modified-dates'] }),
      (err: unknown) => err instanceof AnofairError && err.code === 'CONFIG_INVALID' && /retain-long-full-dates/.test(err.message),
    );
  });
});

describe('no identifying value leaves: not in the output, not in the record', () => {
  const OPTION_SETS: ProfileOption[][] = [[], ['clean-descriptors'], ['retain-long-modified-dates', 'clean-descriptors', 'retain-safe-private']];
  for (const options of OPTION_SETS) {
    const label = options.length ? options.join(', ') : 'Basic Profile';
    test(`${label}: the output bytes hold none of the input's identifying values`, () => {
      const bytes = Buffer.from(releasedBytes(run(bytesOf(ctSpec()), { options })));
      for (const encoding of ['utf8', 'latin1'] as const) {
        const text = bytes.toString(encoding);
        const left = IDENTIFYING.filter((v) => text.includes(v));
        assert.deepEqual(left, [], `found as ${encoding}`);
      }
    });
    test(`${label}: the record, serialised, holds none of them`, () => {
      const json = JSON.stringify(run(bytesOf(ctSpec()), { options }).record);
      assert.deepEqual(IDENTIFYING.filter((v) => json.includes(v)), []);
    });
  }

  test('a quarantined outcome: neither reason nor record holds any', () => {
    const outcome = run(bytesOf(ctSpec({ BurnedInAnnotation: ['CS', 'YES'] })));
    const json = JSON.stringify(outcome);
    assert.deepEqual(IDENTIFYING.filter((v) => json.includes(v)), []);
  });

  test('the record says what was done: edition, profile, options, key id, counts per action, pixels', () => {
    const record = run(bytesOf(ctSpec()), { options: ['clean-descriptors'], configHash: 'sha256:abc' }).record;
    assert.equal(record.standard, 'DICOM PS3.15 2026c');
    assert.equal(record.profile, 'Basic Application Level Confidentiality Profile');
    assert.deepEqual(record.options, ['clean-descriptors']);
    assert.equal(record.configHash, 'sha256:abc');
    assert.equal(record.pixels, 'unchanged');
    for (const action of ['X', 'Z', 'D', 'U', 'K']) assert.ok((record.actions[action] ?? 0) > 0, `a count for ${action}`);
  });

  test('changes per attribute, with values, only when asked for (dry runs)', () => {
    assert.equal(run(bytesOf(ctSpec())).changes, undefined);
    const changes = run(bytesOf(ctSpec()), { explain: true }).changes ?? [];
    assert.ok(changes.some((c) => c.path === '(0010,0020)' && c.before === '12345678'));
  });

  test('the same checks against the other side: the PHI is really in the input', () => {
    const text = Buffer.from(bytesOf(ctSpec())).toString('latin1');
    assert.deepEqual(IDENTIFYING.filter((v) => !text.includes(v)), []);
    assert.deepEqual(findText(readPart10(bytesOf(ctSpec())).dataset, ['Smith']).length > 0, true);
  });
});
