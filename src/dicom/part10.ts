import dcmjs from 'dcmjs';
import { AnofairError, isAnofairError } from '../errors/anofair-error.js';
import { TRANSFER_SYNTAX, type DicomDataset, type DicomFile } from './dataset.js';
import { inputLimits, type InputLimits } from './input-limits.js';
import { normalizePart10, swapToLittleEndian } from './part10-normalize.js';

const { DicomMessage, DicomDict, ReadBufferStream } = dcmjs.data;

// dcmjs logs to the console (e.g. "Invalid vr type SV"); a gateway's logs are its own, and must stay free of
// anything read from a data set. Its validation warnings are not errors for us: the normaliser already decided.
dcmjs.log.setLevel('silent');
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

// dcmjs reads nested items with a fresh stream whose decoder is Latin-1, whatever the Specific Character Set.
// normalizePart10 hands dcmjs nothing but UTF-8 text, so every string is read as UTF-8.
const UTF8 = new TextDecoder('utf-8');
const readEncodedString = ReadBufferStream.prototype.readEncodedString;
ReadBufferStream.prototype.readEncodedString = function readUtf8(this: { decoder: TextDecoder }, length: number) {
  this.decoder = UTF8;
  return readEncodedString.call(this, length);
};

// dcmjs reads every sequence item through stream.more(), which copied the item's bytes: an item nested n deep
// was copied n times, and every copy lived until its parent was read (time and memory quadratic in the depth).
// The same stream over the same buffers, between two offsets, reads the same bytes without a copy (the
// constructor dcmjs itself has for this, left commented out there).
type SubStream = { offset: number; endOffset: number; increment(n: number): void; setComplete(): void };
ReadBufferStream.prototype.more = function more(this: SubStream, length: number) {
  if (this.offset + length > this.endOffset) throw new Error('Request more than currently allocated buffer');
  const sub = new ReadBufferStream(this, null, { start: this.offset, stop: this.offset + length }) as unknown as SubStream;
  this.increment(length);
  sub.setComplete();
  return sub;
};

const PIXEL_DATA = '7FE00010';

export interface ReadPart10Options {
  /** Input limits (inflated size, sequence depth, element count); absent ones take DEFAULT_INPUT_LIMITS. */
  limits?: Partial<InputLimits>;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * Parse a DICOM Part 10 byte stream (also a bare data set without File Meta Information).
 * Throws AnofairError(DICOM_PARSE) with a reason, or DICOM_LIMIT for input beyond the limits; never returns
 * partial data.
 */
export function readPart10(bytes: Uint8Array, options: ReadPart10Options = {}): DicomFile {
  try {
    const normalized = normalizePart10(bytes, inputLimits(options.limits));
    const dict = DicomMessage.readFile(toArrayBuffer(normalized.bytes));
    const meta = dict.meta as DicomDataset;
    const dataset = dict.dict as DicomDataset;
    if (normalized.nativePixelData) {
      const { vr, bytes } = normalized.nativePixelData;
      // A view into the input, not a copy: a radiograph's pixels are most of its bytes.
      dataset[PIXEL_DATA] = { vr, Value: [bytes] };
    }
    // A bare data set gets its Media Storage SOP Class/Instance from the data set (PS3.10 7.1).
    if (!meta['00020002']?.Value?.[0] && dataset['00080016']?.Value?.[0]) meta['00020002'] = { vr: 'UI', Value: [dataset['00080016'].Value[0]] };
    if (!meta['00020003']?.Value?.[0] && dataset['00080018']?.Value?.[0]) meta['00020003'] = { vr: 'UI', Value: [dataset['00080018'].Value[0]] };
    return {
      meta,
      dataset,
      encapsulatedPixelData: normalized.encapsulatedPixelData,
      sourceTransferSyntaxUID: normalized.sourceTransferSyntaxUID,
      repairs: normalized.repairs,
    };
  } catch (err) {
    if (isAnofairError(err)) throw err;
    throw new AnofairError('DICOM_PARSE', `not a readable DICOM Part 10 object: ${(err as Error).message}`);
  }
}

export function transferSyntaxOf(file: DicomFile): string {
  return String(file.meta['00020010']?.Value?.[0] ?? TRANSFER_SYNTAX.ExplicitVRLittleEndian);
}

/**
 * Serialise to Part 10 bytes in the transfer syntax named by the File Meta Information. Encapsulated Pixel Data
 * that came from readPart10 is written back byte-exact (dcmjs would re-fragment it). Text is written as UTF-8, so
 * callers must leave Specific Character Set as "ISO_IR 192" (the reader sets it) or ASCII.
 */
export function writePart10(file: DicomFile): Uint8Array {
  const chunks = writePart10Chunks(file);
  if (chunks.length === 1) return chunks[0];
  const out = Buffer.concat(chunks);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The same bytes as writePart10, as consecutive pieces (header, then Pixel Data views), for writev or a stream,
 * so the pixels are never copied.
 */
export function writePart10Chunks(file: DicomFile): Uint8Array[] {
  const syntax = transferSyntaxOf(file);
  const dataset: DicomDataset = { ...file.dataset };
  // The pieces after what dcmjs writes, joined once with it at the end: a 10 MB image is copied only once.
  let trailer: Uint8Array[] | undefined;
  const native = dataset[PIXEL_DATA];
  if (!file.encapsulatedPixelData && native && (native.vr === 'OW' || native.vr === 'OB')) {
    // Native Pixel Data goes after what dcmjs writes, as one block: see NormalizedPart10.nativePixelData. It is
    // held little endian; a big-endian output gets its OW words swapped (into a copy).
    const little = syntax !== TRANSFER_SYNTAX.ExplicitVRBigEndian;
    let parts = (native.Value ?? []).map((v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
    if (!little && native.vr === 'OW') {
      const bitsAllocated = Number(file.dataset['00280100']?.Value?.[0]);
      parts = [swapToLittleEndian(parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts)), bitsAllocated)];
    }
    const length = parts.reduce((n, p) => n + p.length, 0);
    for (const tag of Object.keys(dataset)) if (tag >= PIXEL_DATA) delete dataset[tag];
    const explicit = syntax !== TRANSFER_SYNTAX.ImplicitVRLittleEndian;
    const header = new Uint8Array(explicit ? 12 : 8);
    const view = new DataView(header.buffer);
    view.setUint16(0, 0x7fe0, little);
    view.setUint16(2, 0x0010, little);
    if (explicit) {
      header[4] = native.vr.charCodeAt(0);
      header[5] = native.vr.charCodeAt(1);
      view.setUint32(8, length + (length % 2), little);
    } else {
      view.setUint32(4, length + (length % 2), little);
    }
    trailer = [header, ...parts, ...(length % 2 ? [new Uint8Array(1)] : [])];
  } else if (file.encapsulatedPixelData) {
    // Elements after Pixel Data (Data Set Trailing Padding, Digital Signatures) cannot follow the appended
    // pixel element through dcmjs; they carry nothing a receiver needs once the data set has changed.
    for (const tag of Object.keys(dataset)) if (tag >= PIXEL_DATA) delete dataset[tag];
    const header = new Uint8Array(12);
    const view = new DataView(header.buffer);
    const little = syntax !== TRANSFER_SYNTAX.ExplicitVRBigEndian;
    view.setUint16(0, 0x7fe0, little);
    view.setUint16(2, 0x0010, little);
    header[4] = 0x4f; // O
    header[5] = 0x42; // B
    view.setUint32(8, 0xffffffff, little);
    trailer = [header, file.encapsulatedPixelData];
  }
  declareUtf8(dataset);
  const dict = new DicomDict(file.meta);
  dict.dict = dataset;
  // Values as received may break VR length limits (e.g. a 18-character CS); a gateway keeps them rather than fail.
  const body = new Uint8Array(dict.write({ allowInvalidVRLength: true }));
  return trailer ? [body, ...trailer] : [body];
}

const SPECIFIC_CHARACTER_SET = '00080005';

function hasNonAscii(dataset: DicomDataset): boolean {
  for (const [tag, element] of Object.entries(dataset)) {
    if (tag === SPECIFIC_CHARACTER_SET || !element.Value) continue;
    for (const value of element.Value) {
      if (typeof value === 'string') {
        if (/[^\x00-\x7f]/.test(value)) return true;
      } else if (element.vr === 'SQ' && value && typeof value === 'object') {
        if (hasNonAscii(value as DicomDataset)) return true;
      } else if (element.vr === 'PN' && value && typeof value === 'object') {
        if (/[^\x00-\x7f]/.test(Object.values(value as object).join(''))) return true;
      }
    }
  }
  return false;
}

function forceUtf8(dataset: DicomDataset): void {
  for (const [tag, element] of Object.entries(dataset)) {
    if (tag === SPECIFIC_CHARACTER_SET) dataset[tag] = { vr: 'CS', Value: ['ISO_IR 192'] };
    else if (element.vr === 'SQ') for (const item of element.Value ?? []) forceUtf8(item as DicomDataset);
  }
}

/** dcmjs writes text as UTF-8: declare it (PS3.3 C.12.1.1.2) whenever a value is not plain ASCII. */
function declareUtf8(dataset: DicomDataset): void {
  if (!hasNonAscii(dataset)) return;
  forceUtf8(dataset);
  dataset[SPECIFIC_CHARACTER_SET] = { vr: 'CS', Value: ['ISO_IR 192'] };
}
