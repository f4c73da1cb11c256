/**
 * The release check, as a specification. The strong identifying values of the input (a person's whole name and
 * its long parts, the patient's and the visit's identifiers, full dates, the UIDs the profile replaces) are looked
 * for in every value of the output, of every VR and at every nesting level, in the forms they take in practice;
 * an instance that still holds one is withheld, with a reason that names the attribute and never the value. What
 * merely resembles them is released.
 *
 * Values are planted in attributes that PS3.15 2026c Table E.1-1 does not list, so that the Basic Profile keeps
 * them (Manufacturer, Window Center & Width Explanation, Image Type, Body Part Examined, Software Versions, Code
 * Meaning, Code Value, Coding Scheme UID, Referenced SOP Class UID, Acquisition Number), or in ones that Clean
 * Descriptors cleans (Series Description, Protocol Name). Inputs go through real Part 10 bytes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dataset, part10, type Spec } from '../../test/support/dicom-builder.js';
import { firstText } from '../../test/support/dicom-values.js';
import type { DicomDataset } from '../dicom/dataset.js';
import { readPart10, writePart10 } from '../dicom/part10.js';
import { fold, LeftoverFinder } from './cleaning/release-check.js';
import type { DeidOutcome, ProfileOption } from './deid-types.js';
import { deidentify } from './deidentify.js';
import { collectIdentifyingValues } from './identifying-values.js';

const KEY = { id: 'release-check-test', secret: Buffer.from('release-check-test-key-0123456789abcdef') };
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const uid = (n: string) => `1.2.826.0.1.3680043.8.498.7001.${n}`;

/** A CT image of Hélène Anne Lefèvre, Patient ID 0012345678, born 23 September 1970, studied on 4 March 2021. */
function ctSpec(overrides: Spec = {}): Spec {
  return {
    SpecificCharacterSet: ['CS', 'ISO_IR 192'],
    ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: ['UI', CT_IMAGE],
    SOPInstanceUID: ['UI', uid('1')],
    StudyDate: ['DA', '20210304'],
    AccessionNumber: ['SH', 'ACC77123'],
    Modality: ['CS', 'CT'],
    Manufacturer: ['LO', 'ACME Medical'],
    ReferringPhysicianName: ['PN', 'Okafor^Chidi'],
    PatientName: ['PN', 'Lefèvre^Hélène^Anne'],
    PatientID: ['LO', '0012345678'],
    PatientBirthDate: ['DA', '19700923'],
    PatientSex: ['CS', 'F'],
    BodyPartExamined: ['CS', 'CHEST'],
    SoftwareVersions: ['LO', 'VA20B'],
    StudyInstanceUID: ['UI', uid('2')],
    SeriesInstanceUID: ['UI', uid('3')],
    FrameOfReferenceUID: ['UI', uid('4')],
    AcquisitionNumber: ['IS', '1'],
    SamplesPerPixel: ['US', 1],
    PhotometricInterpretation: ['CS', 'MONOCHROME2'],
    Rows: ['US', 2],
    Columns: ['US', 2],
    BitsAllocated: ['US', 16],
    BitsStored: ['US', 12],
    HighBit: ['US', 11],
    PixelRepresentation: ['US', 0],
    WindowCenterWidthExplanation: ['LO', 'LUNG'],
    BurnedInAnnotation: ['CS', 'NO'],
    PixelData: ['OW', Uint8Array.from([1, 0, 2, 0, 3, 0, 4, 0])],
    ...overrides,
  };
}

function deid(spec: Spec, options: ProfileOption[] = []): DeidOutcome {
  return deidentify(readPart10(part10(dataset(spec))), { options, key: KEY });
}

/** A kept code sequence (Performed Protocol Code Sequence, not listed in Table E.1-1) with one item. */
const protocolCode = (item: Spec): Spec => ({
  PerformedProtocolCodeSequence: ['SQ', { CodeValue: ['SH', 'P-CHEST'], CodingSchemeDesignator: ['SH', '99SITE'], CodeMeaning: ['LO', 'Chest'], ...item }],
});
/** The same, two levels down: Performed Protocol Code Sequence > Protocol Context Sequence > item. */
const protocolContext = (item: Spec): Spec =>
  protocolCode({ ProtocolContextSequence: ['SQ', { ValueType: ['CS', 'TEXT'], ConceptNameCodeSequence: ['SQ', { CodeValue: ['SH', 'C1'], CodingSchemeDesignator: ['SH', '99SITE'], CodeMeaning: ['LO', 'Note'] }], ...item }] });
/** Three levels down: ... > Protocol Context Sequence > Concept Code Sequence > item. */
const conceptCode = (item: Spec): Spec =>
  protocolContext({ ConceptCodeSequence: ['SQ', { CodeValue: ['SH', 'C2'], CodingSchemeDesignator: ['SH', '99SITE'], CodeMeaning: ['LO', 'Value'], ...item }] });

/** The reason of a withheld outcome; it must be the fixed sentence with the attribute's tag and keyword, no value. */
function withheldReason(outcome: DeidOutcome, tag: string): string {
  assert.equal(outcome.status, 'quarantined', 'withheld');
  const reason = outcome.status === 'quarantined' ? outcome.reason : '';
  const formatted = `(${tag.slice(0, 4)},${tag.slice(4)})`;
  assert.match(reason, /^an identifying value remains in \([0-9A-F]{4},[0-9A-F]{4}\)( [A-Za-z]+)? after de-identification$/, 'names the attribute, never the value');
  assert.ok(reason.includes(formatted), `names ${formatted}: ${reason}`);
  return reason;
}

function assertReleased(outcome: DeidOutcome): DicomDataset {
  assert.equal(outcome.status, 'released', outcome.status === 'quarantined' ? outcome.reason : '');
  return readPart10(writePart10(outcome.status === 'released' ? outcome.file : (undefined as never))).dataset;
}

interface Planted {
  what: string;
  spec: Spec;
  options?: ProfileOption[];
  /** The attribute the reason must name. */
  tag: string;
}

function withheldWhen(cases: Planted[]): void {
  for (const c of cases) {
    test(`${c.what}: withheld, the reason names ${`(${c.tag.slice(0, 4)},${c.tag.slice(4)})`}`, () => {
      withheldReason(deid(ctSpec(c.spec), c.options), c.tag);
    });
  }
}

describe('the release check: the baseline instance is released', () => {
  test('the CT of ctSpec(), with nothing planted, is released under the Basic Profile and under Clean Descriptors', () => {
    assertReleased(deid(ctSpec()));
    assertReleased(deid(ctSpec(), ['clean-descriptors']));
  });
});

describe("the release check: the patient's name, in every form, wherever the Basic Profile keeps text", () => {
  withheldWhen([
    { what: 'Manufacturer "Lefèvre^Hélène" (the DICOM ^ form)', spec: { Manufacturer: ['LO', 'Lefèvre^Hélène'] }, tag: '00080070' },
    { what: 'Manufacturer "Hélène Lefèvre" (spaced, given name first)', spec: { Manufacturer: ['LO', 'Hélène Lefèvre'] }, tag: '00080070' },
    { what: 'Manufacturer "LEFÈVRE, HÉLÈNE" (family, given; upper case)', spec: { Manufacturer: ['LO', 'LEFÈVRE, HÉLÈNE'] }, tag: '00080070' },
    { what: 'Manufacturer "Helene Anne Lefevre" (with the middle name, accents dropped)', spec: { Manufacturer: ['LO', 'Helene Anne Lefevre'] }, tag: '00080070' },
    { what: 'Manufacturer "lefevre imaging" (the family name alone, lower case, no accents)', spec: { Manufacturer: ['LO', 'lefevre imaging'] }, tag: '00080070' },
    { what: 'Manufacturer "HELENE" (the given name alone: 4+ letters)', spec: { Manufacturer: ['LO', 'HELENE'] }, tag: '00080070' },
    { what: 'Manufacturer in full-width letters "ＬＥＦＥＶＲＥ" (NFKD compatibility forms)', spec: { Manufacturer: ['LO', 'ＬＥＦＥＶＲＥ'] }, tag: '00080070' },
    { what: 'Window Center & Width Explanation "LUNG Lefevre"', spec: { WindowCenterWidthExplanation: ['LO', 'LUNG', 'Lefevre'] }, tag: '00281055' },
    { what: 'Software Versions "build for Helene Lefevre"', spec: { SoftwareVersions: ['LO', 'build for Helene Lefevre'] }, tag: '00181020' },
    { what: 'Image Type value "LEFEVRE_HELENE" (CS, underscore as separator)', spec: { ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'LEFEVRE_HELENE'] }, tag: '00080008' },
    { what: 'Body Part Examined "LEFEVRE" (CS)', spec: { BodyPartExamined: ['CS', 'LEFEVRE'] }, tag: '00180015' },
    { what: 'a Code Meaning one level down "Chest for Hélène Lefèvre"', spec: protocolCode({ CodeMeaning: ['LO', 'Chest for Hélène Lefèvre'] }), tag: '00080104' },
    { what: 'a Text Value two levels down "protocol of LEFEVRE HELENE"', spec: protocolContext({ TextValue: ['UT', 'protocol of LEFEVRE HELENE'] }), tag: '0040A160' },
    { what: 'a Code Meaning three levels down "Hélène"', spec: conceptCode({ CodeMeaning: ['LO', 'Hélène'] }), tag: '00080104' },
    { what: 'a Code Value equal to the family name "LEFEVRE" (whole value)', spec: protocolCode({ CodeValue: ['SH', 'LEFEVRE'] }), tag: '00080100' },
    { what: 'a Coding Scheme Designator equal to the whole name "LEFEVRE HELENE"', spec: protocolCode({ CodingSchemeDesignator: ['SH', 'LEFEVRE HELENE'] }), tag: '00080102' },
    { what: "the referring physician's given name in Manufacturer \"Chidi\"", spec: { Manufacturer: ['LO', 'Chidi Imaging'] }, tag: '00080070' },
    {
      what: 'Series Description under Clean Descriptors "Thorax HELENE LEFEVRE" (the scrubber cleans the name as written, with accents)',
      spec: { SeriesDescription: ['LO', 'Thorax HELENE LEFEVRE'] },
      options: ['clean-descriptors'],
      tag: '0008103E',
    },
  ]);

  test('Series Description under Clean Descriptors "Thorax Hélène Lefèvre", which the scrubber cleans: released, scrubbed', () => {
    const ds = assertReleased(deid(ctSpec({ SeriesDescription: ['LO', 'Thorax Hélène Lefèvre'] }), ['clean-descriptors']));
    assert.equal(firstText(ds['0008103E']), 'Thorax ***');
  });
});

describe('the release check: short name parts only in the whole name; names inside other words are not names', () => {
  const li = (overrides: Spec) => ctSpec({ PatientName: ['PN', 'Li^Wu^Ann'], ...overrides });

  test('patient "Li^Wu^Ann": Manufacturer "ANN Medical", Body Part Examined "LI", Software Versions "WU 2.1": released', () => {
    assertReleased(deid(li({ Manufacturer: ['LO', 'ANN Medical'], BodyPartExamined: ['CS', 'LI'], SoftwareVersions: ['LO', 'WU 2.1'] })));
  });

  test('patient "Li^Wu^Ann": Manufacturer "Wu Li" (given family): withheld', () => {
    withheldReason(deid(li({ Manufacturer: ['LO', 'Wu Li'] })), '00080070');
  });

  test('patient "Li^Wu^Ann": Manufacturer "LI WU ANN" (the ^ form spaced): withheld', () => {
    withheldReason(deid(li({ Manufacturer: ['LO', 'LI WU ANN'] })), '00080070');
  });

  test('Manufacturer "Lefevres Instruments" (the family name inside a longer word): released', () => {
    assertReleased(deid(ctSpec({ Manufacturer: ['LO', 'Lefevres Instruments'] })));
  });

  test('patient "Test^S R": a Coding Scheme Designator "TEST" names a registry, not the patient: released', () => {
    assertReleased(deid(ctSpec({ PatientName: ['PN', 'Test^S R'], ...protocolCode({ CodingSchemeDesignator: ['SH', 'TEST'] }) })));
  });

  test('a Coding Scheme Designator "LEFEVRE" (a single name part): released; a Code Value "LEFEVRE" is not (above)', () => {
    assertReleased(deid(ctSpec(protocolCode({ CodingSchemeDesignator: ['SH', 'LEFEVRE'] }))));
  });

  test('patient "Yamada^Tarou=山田^太郎=やまだ^たろう": "山田太郎" in Manufacturer, written without a space: withheld', () => {
    const spec = ctSpec({ PatientName: ['PN', { Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }], Manufacturer: ['LO', '山田太郎様'] });
    withheldReason(deid(spec), '00080070');
  });
});

describe("the release check: the patient's ID, with and without leading zeros and separators, in text, codes, numbers and UIDs", () => {
  withheldWhen([
    { what: 'Body Part Examined "12345678" (Patient ID 0012345678 without its leading zeros)', spec: { BodyPartExamined: ['CS', '12345678'] }, tag: '00180015' },
    { what: 'Image Type value "MRN0012345678" (letters attached)', spec: { ImageType: ['CS', 'ORIGINAL', 'PRIMARY', 'MRN0012345678'] }, tag: '00080008' },
    { what: 'Software Versions "0012345678"', spec: { SoftwareVersions: ['LO', '0012345678'] }, tag: '00181020' },
    { what: 'Window Center & Width Explanation "ID 12345678"', spec: { WindowCenterWidthExplanation: ['LO', 'ID 12345678'] }, tag: '00281055' },
    { what: 'a Code Value "12345678" one level down (whole value)', spec: protocolCode({ CodeValue: ['SH', '12345678'] }), tag: '00080100' },
    { what: 'Acquisition Number (IS) 12345678', spec: { AcquisitionNumber: ['IS', '12345678'] }, tag: '00200012' },
    { what: 'a Coding Scheme UID "1.2.840.12345678.1" one level down (a whole component)', spec: protocolCode({ CodingSchemeUID: ['UI', '1.2.840.12345678.1'] }), tag: '0008010C' },
    {
      what: 'a Referenced SOP Class UID "1.2.826.0.1.3680043.8.498.12345678" in Referenced Image Sequence (kept inside a U* sequence)',
      spec: { ReferencedImageSequence: ['SQ', { ReferencedSOPClassUID: ['UI', '1.2.826.0.1.3680043.8.498.12345678'], ReferencedSOPInstanceUID: ['UI', uid('9')] }] },
      tag: '00081150',
    },
    { what: 'a Mapping Resource UID "2.25.12345678" three levels down (a whole component after 2.25)', spec: conceptCode({ MappingResourceUID: ['UI', '2.25.12345678'] }), tag: '00080118' },
    { what: 'the accession number "acc77123" in Software Versions', spec: { SoftwareVersions: ['LO', 'acc77123'] }, tag: '00181020' },
    { what: 'Patient ID "123-456-78", Software Versions "12345678" (the ID without its separators)', spec: { PatientID: ['LO', '123-456-78'], SoftwareVersions: ['LO', '12345678'] }, tag: '00181020' },
    { what: 'Patient ID "123-456-78", Software Versions "123/456/78" (other separators)', spec: { PatientID: ['LO', '123-456-78'], SoftwareVersions: ['LO', '123/456/78'] }, tag: '00181020' },
    { what: 'a Code Meaning one level down "MRN 12345678"', spec: protocolCode({ CodeMeaning: ['LO', 'MRN 12345678'] }), tag: '00080104' },
  ]);

  test("the input's Series Instance UID in a kept Coding Scheme UID (the profile replaces it everywhere else): withheld", () => {
    withheldReason(deid(ctSpec(protocolCode({ CodingSchemeUID: ['UI', uid('3')] }))), '0008010C');
  });

  test('Retain UIDs: a UID the table still replaces (UID (0040,A124)) that recurs in a Referenced SOP Instance UID the option keeps: released', () => {
    const spec = ctSpec({
      ReferencedImageSequence: ['SQ', { ReferencedSOPClassUID: ['UI', CT_IMAGE], ReferencedSOPInstanceUID: ['UI', uid('9')] }],
      ...protocolContext({ UID: ['UI', uid('9')] }),
    });
    assertReleased(deid(spec, ['retain-uids']));
  });

  test('Software Versions "91234567890" (the ID inside a longer number): released', () => {
    assertReleased(deid(ctSpec({ SoftwareVersions: ['LO', '91234567890'] })));
  });

  test('Patient ID "000512" and Acquisition Number 512: numbers are compared with IDs of 6+ significant digits only: released', () => {
    assertReleased(deid(ctSpec({ PatientID: ['LO', '000512'], AcquisitionNumber: ['IS', '512'] })));
  });

  test('Patient ID "113883" and SNOMED CT\'s Coding Scheme UID 2.16.840.1.113883.6.96: a standard UID is not looked into: released', () => {
    assertReleased(deid(ctSpec({ PatientID: ['LO', '113883'], ...protocolCode({ CodingSchemeDesignator: ['SH', 'SCT'], CodingSchemeUID: ['UI', '2.16.840.1.113883.6.96'] }) })));
  });

  test('a Patient ID whose digits occur inside our own keyed 2.25 UIDs: UIDs are matched by whole components: released', () => {
    const first = assertReleased(deid(ctSpec()));
    const digits = String(firstText(first['00080018'])).slice('2.25.'.length);
    const start = [...digits].findIndex((d, i) => i >= 8 && d !== '0');
    const patientId = digits.slice(start, start + 8);
    assert.equal(patientId.length, 8);
    const second = assertReleased(deid(ctSpec({ PatientID: ['LO', patientId] })));
    assert.ok(String(firstText(second['00080018'])).includes(patientId), 'the new SOP Instance UID holds the Patient ID digits');
  });
});

describe('the release check: full dates in their common formats', () => {
  const software = (text: string): Planted => ({ what: `Software Versions "${text}"`, spec: { SoftwareVersions: ['LO', text] }, tag: '00181020' });
  withheldWhen([
    software('build 20210304'),
    software('2021-03-04'),
    software('2021/03/04'),
    software('04.03.2021'),
    software('04/03/2021 (DD/MM/YYYY)'),
    software('03/04/2021 (MM/DD/YYYY)'),
    software('4.3.2021'),
    software('4 March 2021'),
    software('March 4th, 2021'),
    software('4 Mar 2021'),
    software('2021-03-04T09:30'),
    software('20210304093000'),
    software('born 23.09.1970'),
    software('Sept 23 1970'),
    software('DOB 23.09.70'),
    software('DOB 09/23/70'),
    { what: 'Window Center & Width Explanation "19700923"', spec: { WindowCenterWidthExplanation: ['LO', 'LUNG', '19700923'] }, tag: '00281055' },
    {
      what: 'a Coding Scheme UID whose component is the study date and a time "…498.20210304093000"',
      spec: protocolCode({ CodingSchemeUID: ['UI', '1.2.826.0.1.3680043.8.498.20210304093000'] }),
      tag: '0008010C',
    },
    { what: 'Protocol Name under Clean Descriptors "Thorax 4 March 2021"', spec: { ProtocolName: ['LO', 'Thorax 4 March 2021'] }, options: ['clean-descriptors'], tag: '00181030' },
  ]);

  test('Software Versions "2021.03.05", "20210305", "2021-04-03", "3.4.21", "04.03.21" and "23.9.70": other dates, a year-day-month no one writes, a two-digit year of a date other than the birth date, or an unpadded one: released', () => {
    for (const text of ['2021.03.05', '20210305', '2021-04-03', '3.4.21', '04.03.21', '23.9.70']) assertReleased(deid(ctSpec({ SoftwareVersions: ['LO', text] })));
  });

  test('under Modified Dates the shifted study date is kept, and the instance is released', () => {
    assertReleased(deid(ctSpec(), ['retain-long-modified-dates']));
  });
});

describe('the release check: how text is folded before it is compared', () => {
  test('case, accents, compatibility forms and letters NFKD keeps are folded; every other run of characters is one space', () => {
    assert.equal(fold('Lefèvre^Hélène^^^'), 'lefevre helene');
    assert.equal(fold('LEFÈVRE,  Hélène'), 'lefevre helene');
    assert.equal(fold('ＬＥＦＥＶＲＥ_Helene'), 'lefevre helene');
    assert.equal(fold('Søren Ærø, Straße 12-a'), 'soren aero strasse 12 a');
    assert.equal(fold('  山田^太郎 '), '山田 太郎');
    assert.equal(fold('2021-03-04T09:30'), '2021 03 04t09 30');
  });
});

describe('the release check, value by value: PN groups, OB and UN, numbers, UIDs, what is not text', () => {
  const input = dataset(ctSpec({ PatientName: ['PN', { Alphabetic: 'Lefèvre^Hélène^Anne', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }] }));
  const finder = new LeftoverFinder(collectIdentifyingValues(input, () => true));
  const at = (spec: Spec) => finder.findIn(dataset(spec));
  const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

  test('each PN component group is looked at: Alphabetic, Ideographic, Phonetic', () => {
    assert.equal(at({ OperatorsName: ['PN', { Alphabetic: 'Lefevre^Helene' }] }), '00081070');
    assert.equal(at({ OperatorsName: ['PN', { Alphabetic: 'X^Y', Ideographic: '山田^太郎' }] }), '00081070');
    assert.equal(at({ OperatorsName: ['PN', { Alphabetic: 'X^Y', Phonetic: 'やまだ^たろう' }] }), '00081070');
    assert.equal(at({ OperatorsName: ['PN', { Alphabetic: 'X^Y', Ideographic: '山田^花子' }] }), undefined, 'the family name alone, 2 characters: no');
  });

  test('text inside OB and UN values: ASCII between binary bytes, Latin-1, UTF-8', () => {
    assert.equal(at({ '00291010': ['UN', Uint8Array.from([0, 1, 2, ...ascii('LEFEVRE^HELENE'), 0, 0xff])] }), '00291010');
    assert.equal(at({ ICCProfile: ['OB', Uint8Array.from([...ascii('desc\0\0'), ...Buffer.from('Hélène Lefèvre', 'latin1')])] }), '00282000');
    assert.equal(at({ ICCProfile: ['OB', Uint8Array.from(Buffer.from('\u0001Hélène Lefèvre\u0002', 'utf8'))] }), '00282000');
    assert.equal(at({ ICCProfile: ['OB', Uint8Array.from([0x4c, 0x45, 0x46, 0x45, 0x56, 0x52, 0x45, 0x53, 0, 1, 2, 3])] }), undefined, '"LEFEVRES": no');
  });

  test('bulk binary is not text: Pixel Data, Overlay Data, OW values are not looked at', () => {
    assert.equal(at({ PixelData: ['OB', ascii('  LEFEVRE HELENE 0012345678  ')] }), undefined);
    assert.equal(at({ '60003000': ['OB', ascii('  LEFEVRE HELENE  ')] }), undefined);
    assert.equal(at({ '00281201': ['OW', ascii('  LEFEVRE HELENE  ')] }), undefined);
  });

  test('numbers: IS, DS and binary values equal to the ID (6+ significant digits) or to a date', () => {
    assert.equal(at({ AcquisitionNumber: ['IS', '0012345678'] }), '00200012');
    assert.equal(at({ SliceThickness: ['DS', '12345678.0'] }), '00180050');
    assert.equal(at({ '003A0010': ['UL', 12345678] }), '003A0010');
    assert.equal(at({ '003A0010': ['UL', 20210304] }), '003A0010');
    assert.equal(at({ SliceThickness: ['DS', '1234567.8'] }), undefined);
  });

  test('UIDs: a replaced UID of the input, whole, in a kept UID or in text; an ID or a date as a component', () => {
    assert.equal(at({ CodingSchemeUID: ['UI', uid('2')] }), '0008010C', 'the Study Instance UID of the input');
    assert.equal(at({ SoftwareVersions: ['LO', `study ${uid('2')}`] }), '00181020');
    assert.equal(at({ CodingSchemeUID: ['UI', '1.2.3.12345678'] }), '0008010C');
    assert.equal(at({ CodingSchemeUID: ['UI', '1.2.3.202103041230'] }), '0008010C', 'YYYYMMDDhhmm');
    assert.equal(at({ CodingSchemeUID: ['UI', '1.2.3.112345678'] }), undefined, 'the ID inside a component: no');
    assert.equal(at({ CodingSchemeUID: ['UI', '1.2.840.10008.12345678'] }), undefined, "under DICOM's root: no");
  });

  test("our own marks and dummies are not looked for: De-identification Method, ANONYMIZED, 19000101", () => {
    const anonymized = new LeftoverFinder(collectIdentifyingValues(dataset({ PatientName: ['PN', 'ANONYMIZED'], PatientBirthDate: ['DA', '19000101'] }), () => true));
    assert.equal(anonymized.findIn(dataset({ StudyDescription: ['LO', 'ANONYMIZED'], StudyDate: ['DA', '19000101'] })), undefined);
    assert.equal(at({ DeidentificationMethod: ['LO', 'Lefevre Helene 0012345678'] }), undefined);
  });
});
