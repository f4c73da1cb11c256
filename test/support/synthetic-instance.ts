import { createHash } from 'node:crypto';
import dcmjs from 'dcmjs';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

/**
 * A small, valid Part 10 instance for gateway tests: a Digital X-Ray (DX) or CR image of 8x8 (or rows x columns) 16-bit pixels with
 * made-up patient data. Attributes in `overrides` (naturalized keywords, as dcmjs names them) replace the
 * defaults; a value of null removes the attribute. UIDs are derived from `seed` so a test can rebuild the same
 * instance. Nothing here is real patient data.
 */
export interface SyntheticInstanceOptions {
  seed?: string;
  overrides?: Record<string, unknown>;
  rows?: number;
  columns?: number;
}

/** A deterministic UID under the 2.25 (UUID-derived) root, from a seed. */
export function uidFromSeed(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex').slice(0, 30);
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

const SOP_CLASS = {
  DX: '1.2.840.10008.5.1.4.1.1.1.1', // Digital X-Ray Image Storage - For Presentation
  CR: '1.2.840.10008.5.1.4.1.1.1', // Computed Radiography Image Storage
  CT: '1.2.840.10008.5.1.4.1.1.2',
  MR: '1.2.840.10008.5.1.4.1.1.4',
} as const;

export function syntheticDataset(options: SyntheticInstanceOptions = {}): Record<string, unknown> {
  const seed = options.seed ?? 'instance-1';
  const modality = (options.overrides?.Modality as string | undefined) ?? 'DX';
  const rows = options.rows ?? 8;
  const cols = options.columns ?? 8;
  const pixels = new Uint16Array(rows * cols);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 4096;
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SOP_CLASS[modality as keyof typeof SOP_CLASS] ?? SOP_CLASS.DX,
    SOPInstanceUID: uidFromSeed(`${seed}/sop`),
    StudyInstanceUID: uidFromSeed(`${(options.overrides?.__study as string | undefined) ?? seed}/study`),
    SeriesInstanceUID: uidFromSeed(`${(options.overrides?.__study as string | undefined) ?? seed}/series`),
    StudyDate: '20240131',
    StudyTime: '101500',
    SeriesDate: '20240131',
    ContentDate: '20240131',
    ContentTime: '101501',
    AccessionNumber: 'ACC0001',
    Modality: modality,
    Manufacturer: 'ACME Imaging',
    InstitutionName: 'Example Hospital',
    ReferringPhysicianName: 'Doctor^Example',
    StationName: 'XR01',
    StudyDescription: 'XR CHEST PA',
    SeriesDescription: 'PA',
    PatientName: 'Doe^Jane',
    PatientID: 'PAT0001',
    PatientBirthDate: '19700101',
    PatientSex: 'F',
    PatientAge: '054Y',
    BodyPartExamined: 'CHEST',
    ViewPosition: 'PA',
    StudyID: '1',
    SeriesNumber: '1',
    InstanceNumber: '1',
    PatientOrientation: ['A', 'R'],
    BurnedInAnnotation: 'NO',
    ImageType: ['ORIGINAL', 'PRIMARY'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: cols,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    PresentationIntentType: 'FOR PRESENTATION',
    PixelData: pixels.buffer,
    _vrMap: { PixelData: 'OW' },
  };
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (key.startsWith('__')) continue;
    if (value === null) delete ds[key];
    else ds[key] = value;
  }
  return ds;
}

/** Part 10 bytes (Explicit VR Little Endian) of a synthetic instance. */
export function syntheticInstance(options: SyntheticInstanceOptions = {}): Uint8Array {
  const natural = syntheticDataset(options);
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: natural.SOPClassUID,
    MediaStorageSOPInstanceUID: natural.SOPInstanceUID,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.1234567890',
    ImplementationVersionName: 'ANOFAIR_TEST',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(natural);
  return new Uint8Array(dict.write());
}

/** A study of `count` instances sharing Study/Series Instance UIDs. */
export function syntheticStudy(studySeed: string, count: number, overrides: Record<string, unknown> = {}): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    syntheticInstance({ seed: `${studySeed}/${i}`, overrides: { ...overrides, __study: studySeed, InstanceNumber: String(i + 1) } }),
  );
}
