/**
 * The in-memory model of a DICOM data set: dcmjs's "denaturalized" dictionary. Keys are tags as 8 upper-case
 * hex digits ("00100010"); sequences hold arrays of nested data sets; PN values are {Alphabetic, Ideographic,
 * Phonetic} objects; binary values are ArrayBuffers, except the top-level native Pixel Data, which the reader
 * keeps as a Uint8Array view into the bytes it read (so a 10 MB image is never copied; big-endian OW Pixel Data is
 * the one exception, swapped to little endian into a copy). Text is always decoded to JavaScript strings (the reader
 * converts every Specific Character Set), and the writer encodes it as UTF-8 (ISO_IR 192).
 */
export type Tag = string;

export interface PersonName {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

export interface DicomElement {
  vr: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  Value?: any[];
  /** dcmjs keeps the unformatted value here to write it back byte-identical when unchanged. */
  _rawValue?: unknown;
}

export type DicomDataset = Record<Tag, DicomElement>;

export interface DicomFile {
  /** File Meta Information, group 0002. */
  meta: DicomDataset;
  /** The data set; without the top-level Pixel Data when that is encapsulated (see encapsulatedPixelData). */
  dataset: DicomDataset;
  /** Top-level encapsulated Pixel Data, byte-exact: its items (offset table, fragments) and delimiter. */
  encapsulatedPixelData?: Uint8Array;
  /** Transfer syntax of the bytes that were read (deflated input is held and written as Explicit VR LE). */
  sourceTransferSyntaxUID?: string;
  /** What the reader repaired (tags and kinds, never values). */
  repairs?: string[];
}

export const TRANSFER_SYNTAX = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
} as const;

const NATIVE_SYNTAXES: ReadonlySet<string> = new Set(Object.values(TRANSFER_SYNTAX));

export function isEncapsulatedSyntax(uid: string): boolean {
  return !NATIVE_SYNTAXES.has(uid);
}

/** "(0010,0010)" or "0010,0010" or "00100010" to "00100010". */
export function normalizeTag(tag: string): Tag {
  const hex = tag.replace(/[(),\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{8}$/.test(hex)) throw new Error(`not a DICOM tag: ${tag}`);
  return hex;
}

export function formatTag(tag: Tag): string {
  return `(${tag.slice(0, 4)},${tag.slice(4)})`;
}

export function groupOf(tag: Tag): number {
  return parseInt(tag.slice(0, 4), 16);
}

export function elementOf(tag: Tag): number {
  return parseInt(tag.slice(4), 16);
}

export function isPrivateTag(tag: Tag): boolean {
  return (groupOf(tag) & 1) === 1;
}

/** The first value of a string-like element, trimmed; PN gives its Alphabetic group. */
export function firstString(ds: DicomDataset, tag: Tag): string | undefined {
  const value = ds[tag]?.Value?.[0];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !(value instanceof ArrayBuffer)) {
    const pn = value as PersonName;
    return pn.Alphabetic ?? pn.Ideographic ?? pn.Phonetic;
  }
  return String(value).trim();
}

/** The first value of a numeric element (US, IS, DS...) as a number; undefined when absent, empty or not a number. */
export function firstNumber(ds: DicomDataset, tag: Tag): number | undefined {
  const s = firstString(ds, tag);
  if (s === undefined || s === '') return undefined;
  const v = Number(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

export function setString(ds: DicomDataset, tag: Tag, vr: string, value: string): void {
  ds[tag] = { vr, Value: [value] };
}
