import { AnofairError } from '../errors/anofair-error.js';
import { CHARSET_VRS, decodeText } from './charset.js';
import { TRANSFER_SYNTAX } from './dataset.js';
import { vrOfTag } from './dictionary.js';
import { DEFAULT_INPUT_LIMITS, inflateBounded, limitExceeded, StructureScanner, type InputLimits } from './input-limits.js';

/**
 * Our layer under dcmjs. dcmjs reads most Part 10 files, but not: files without preamble or File Meta
 * Information (PS3.10 7.1 makes both mandatory, yet older systems write bare data sets), values of odd length
 * (PS3.5 7.1.1 forbids them, real files have them), ISO 2022 code extensions and multi-valued Specific Character
 * Set, or UN of undefined length read as a sequence (PS3.5 6.2.2, CP-246); and it re-fragments encapsulated
 * Pixel Data when it writes it back. This pass walks the elements once, repairs what dcmjs cannot read and hands
 * dcmjs a byte stream it can: every sequence with undefined length, every item with its length (so dcmjs never
 * scans an item for its end, which made its read quadratic in the nesting depth), every value of even length,
 * text re-encoded as UTF-8 (declared ISO_IR 192 where the data set declared a character set), deflated data
 * inflated. The top-level encapsulated Pixel Data is lifted out byte-exact, so the writer can put it back
 * unchanged. It enforces the input limits (src/dicom/input-limits.ts) as it goes: inflated size, sequence depth
 * and element count; beyond one it throws DICOM_LIMIT before dcmjs sees anything.
 */
export interface NormalizedPart10 {
  /** A Part 10 stream dcmjs reads. */
  bytes: Uint8Array;
  /** The transfer syntax of the input. */
  sourceTransferSyntaxUID: string;
  /** The transfer syntax of `bytes` (the source one, except Explicit VR Little Endian for deflated input). */
  transferSyntaxUID: string;
  /** The value of the top-level Pixel Data when encapsulated: its items and the sequence delimiter, byte-exact. */
  encapsulatedPixelData?: Uint8Array;
  /**
   * The top-level native Pixel Data, lifted out: dcmjs copies large values through many small buffers, ten times
   * slower than the rest of a 10 MB radiograph's processing. Always little endian: a view of the input for a
   * little-endian data set; for Explicit VR Big Endian, OW words swapped into a copy (see swapToLittleEndian), so
   * every reader of the pixels sees one byte order and the writer swaps back for a big-endian output.
   */
  nativePixelData?: { vr: string; bytes: Uint8Array };
  /** What was repaired, for the record; tags only, never values. */
  repairs: string[];
}

const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SPACE_PADDED_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UR', 'UT']);
const ITEM = 0xe000;
const ITEM_END = 0xe00d;
const SEQUENCE_END = 0xe0dd;

interface Syntax {
  explicit: boolean;
  little: boolean;
}

interface Scope {
  terms: string[];
  transcode: boolean;
}

const utf8 = new TextEncoder();

/** Text under ISO_IR 192 is already what dcmjs will be told to read; everything else is transcoded. */
function isUtf8(terms: readonly string[]): boolean {
  return terms.length === 1 && terms[0] === 'ISO_IR 192';
}

function hexTag(group: number, element: number): string {
  return (group.toString(16).padStart(4, '0') + element.toString(16).padStart(4, '0')).toUpperCase();
}

function parseError(message: string): AnofairError {
  return new AnofairError('DICOM_PARSE', message);
}

class Walker {
  readonly chunks: Uint8Array[] = [];
  /** Bytes in `chunks`, for the lengths of items written. */
  private written = 0;
  private elements = 0;
  readonly repairs = new Set<string>();
  encapsulatedPixelData?: Uint8Array;
  nativePixelData?: { vr: string; bytes: Uint8Array };
  /** Bits Allocated (0028,0100) of the top-level data set, for the byte order of big-endian Pixel Data. */
  private bitsAllocated?: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly out: Syntax,
    private readonly limits: InputLimits,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private u16(off: number, little: boolean): number {
    if (off + 2 > this.buf.length) throw parseError(`the data ends inside an element header at byte ${off} (truncated file?)`);
    return this.view.getUint16(off, little);
  }

  private u32(off: number, little: boolean): number {
    if (off + 4 > this.buf.length) throw parseError(`the data ends inside an element header at byte ${off} (truncated file?)`);
    return this.view.getUint32(off, little);
  }

  private emit(...chunks: Uint8Array[]): void {
    for (const c of chunks) {
      this.chunks.push(c);
      this.written += c.length;
    }
  }

  private countElement(): void {
    if (++this.elements > this.limits.maxElements) throw limitExceeded('maxElements', this.limits.maxElements);
  }

  private header(group: number, element: number, vr: string, length: number): Uint8Array {
    const { explicit, little } = this.out;
    const long = !explicit || LONG_VRS.has(vr) || group === 0xfffe;
    const h = new Uint8Array(long ? (explicit && group !== 0xfffe ? 12 : 8) : 8);
    const v = new DataView(h.buffer);
    v.setUint16(0, group, little);
    v.setUint16(2, element, little);
    if (group === 0xfffe || !explicit) {
      v.setUint32(4, length, little);
    } else {
      h[4] = vr.charCodeAt(0);
      h[5] = vr.charCodeAt(1);
      if (LONG_VRS.has(vr)) v.setUint32(8, length, little);
      else v.setUint16(6, length, little);
    }
    return h;
  }

  /**
   * Walk a data set from `start` until `end` (defined length) or an Item Delimitation Item (undefined length),
   * `depth` sequences deep (0: the top level). Returns the offset after the data set (after the delimiter, if any).
   */
  dataset(start: number, end: number | null, syntax: Syntax, scope: Scope, depth: number): number {
    const topLevel = depth === 0;
    let off = start;
    let local = scope;
    const limit = end ?? this.buf.length;
    while (off < limit) {
      if (off + 8 > limit) {
        if (topLevel && this.buf.subarray(off, limit).every((b) => b === 0)) {
          this.repairs.add('trailing zero bytes ignored');
          return limit;
        }
        throw parseError(end === null ? 'an item of undefined length has no Item Delimitation Item (truncated file?)' : `the data ends inside an element header at byte ${off} (truncated file?)`);
      }
      const group = this.u16(off, syntax.little);
      const element = this.u16(off + 2, syntax.little);
      if (group === 0xfffe) {
        if (element === ITEM_END && end === null) return off + 8;
        if (element === ITEM_END) {
          off += 8; // a stray delimiter inside a defined-length item: skip it
          this.repairs.add('stray Item Delimitation Item');
          continue;
        }
        throw parseError(`unexpected (FFFE,${element.toString(16).toUpperCase()}) at byte ${off} inside a data set`);
      }
      this.countElement();
      const tag = hexTag(group, element);
      let vr: string;
      let length: number;
      let valueStart: number;
      if (syntax.explicit) {
        vr = String.fromCharCode(this.buf[off + 4] ?? 0, this.buf[off + 5] ?? 0);
        if (!/^[A-Z]{2}$/.test(vr)) throw parseError(`invalid value representation at byte ${off + 4} for (${tag.slice(0, 4)},${tag.slice(4)})`);
        if (LONG_VRS.has(vr) || !KNOWN_SHORT_VRS.has(vr)) {
          length = this.u32(off + 8, syntax.little);
          valueStart = off + 12;
        } else {
          length = this.u16(off + 6, syntax.little);
          valueStart = off + 8;
        }
      } else {
        length = this.u32(off + 4, syntax.little);
        valueStart = off + 8;
        vr = vrOfTag(tag) ?? (length === UNDEFINED ? 'SQ' : 'UN');
        if (vr === 'OB or OW' || vr === 'OW or OB') vr = 'OW';
        if (vr.includes(' or ')) vr = vr.slice(0, 2);
      }

      if (length === UNDEFINED) {
        if (tag === '7FE00010') {
          const after = this.fragments(valueStart, syntax);
          if (topLevel) {
            this.encapsulatedPixelData = this.buf.slice(valueStart, after);
          } else {
            this.emit(this.header(group, element, 'OB', UNDEFINED), this.buf.subarray(valueStart, after));
          }
          off = after;
          continue;
        }
        // A sequence of undefined length; explicit UN of undefined length holds Implicit VR Little Endian items.
        const itemSyntax = vr === 'UN' && syntax.explicit ? { explicit: false, little: true } : syntax;
        if (vr === 'UN') this.repairs.add('UN of undefined length read as a sequence');
        off = this.sequence(group, element, valueStart, null, itemSyntax, local, depth + 1);
        continue;
      }

      const valueEnd = valueStart + length;
      if (valueEnd > this.buf.length) {
        throw parseError(`the value of (${tag.slice(0, 4)},${tag.slice(4)}) runs past the end of the data (truncated file?)`);
      }
      if (vr === 'SQ') {
        this.sequence(group, element, valueStart, valueEnd, syntax, local, depth + 1);
        off = valueEnd;
        continue;
      }
      if (topLevel && tag === '00280100' && length >= 2) this.bitsAllocated = this.u16(valueStart, syntax.little);
      if (topLevel && tag === '7FE00010' && length % 2 === 0) {
        const pixelVr = vr === 'OB' ? 'OB' : 'OW';
        const bytes = this.buf.subarray(valueStart, valueEnd);
        this.nativePixelData = { vr: pixelVr, bytes: syntax.little || pixelVr === 'OB' ? bytes : swapToLittleEndian(bytes, this.bitsAllocated) };
        off = valueEnd;
        continue;
      }

      let value = this.buf.subarray(valueStart, valueEnd);
      const original = value;
      if (tag === '00080005') {
        const terms = new TextDecoder('latin1').decode(value).replace(/\0/g, '').split('\\').map((t) => t.trim());
        local = { terms, transcode: !isUtf8(terms) };
        if (local.transcode) {
          value = utf8.encode('ISO_IR 192');
          this.repairs.add('text re-encoded as UTF-8 (ISO_IR 192)');
        }
      } else if (local.transcode && CHARSET_VRS.has(vr)) {
        value = utf8.encode(decodeText(value, local.terms, vr === 'PN'));
      }
      if (value.length % 2 === 1) {
        const padded = new Uint8Array(value.length + 1);
        padded.set(value);
        padded[value.length] = SPACE_PADDED_VRS.has(vr) ? 0x20 : 0x00;
        if (value === original) this.repairs.add('odd-length value padded');
        value = padded;
      }
      if (this.out.explicit && !LONG_VRS.has(vr) && value.length > 0xffff) {
        throw parseError(`the value of (${tag.slice(0, 4)},${tag.slice(4)}) is too long for its VR ${vr}`);
      }
      // dcmjs reads an explicit UN as the sequence the dictionary names (if it is one): count what it would see.
      if (vr === 'UN' && syntax.explicit && length > 0 && vrOfTag(tag) === 'SQ') this.probeUnknownSequence(valueStart, valueEnd, syntax, depth + 1);
      this.emit(this.header(group, element, vr, value.length), value);
      off = valueEnd;
    }
    if (end === null) throw parseError('an item of undefined length has no Item Delimitation Item (truncated file?)');
    return off;
  }

  /**
   * A UN value that the dictionary calls a sequence, held to the limits as whatever may read it as one: dcmjs
   * does, in the data set's own syntax; a reader following PS3.5 6.2.2 would, in Implicit VR Little Endian.
   */
  private probeUnknownSequence(start: number, end: number, syntax: Syntax, depth: number): void {
    let most = 0;
    for (const [probeSyntax, unknownSequences] of [[syntax, 'same'], [{ explicit: false, little: true }, 'implicit']] as const) {
      const scanner = new StructureScanner({
        syntax: probeSyntax,
        limits: { maxSequenceDepth: this.limits.maxSequenceDepth, maxElements: this.limits.maxElements - this.elements },
        sequenceAtDepth: depth,
        unknownSequences,
      });
      scanner.push(this.buf.subarray(start, end));
      most = Math.max(most, scanner.elements);
    }
    this.elements += most;
  }

  /**
   * A sequence, `depth` levels deep; written back with undefined length and its items with their lengths, which
   * are counted as they are written, so nothing is ever recomputed.
   */
  private sequence(group: number, element: number, start: number, end: number | null, syntax: Syntax, scope: Scope, depth: number): number {
    if (depth > this.limits.maxSequenceDepth) throw limitExceeded('maxSequenceDepth', this.limits.maxSequenceDepth);
    this.emit(this.header(group, element, 'SQ', UNDEFINED));
    let off = start;
    for (;;) {
      if (end !== null && off >= end) break;
      const g = this.u16(off, syntax.little);
      const e = this.u16(off + 2, syntax.little);
      const length = this.u32(off + 4, syntax.little);
      if (g !== 0xfffe) throw parseError(`expected an item at byte ${off} in a sequence`);
      if (e === SEQUENCE_END) {
        off += 8;
        break;
      }
      if (e !== ITEM) throw parseError(`unexpected (FFFE,${e.toString(16).toUpperCase()}) at byte ${off} in a sequence`);
      const item = this.header(0xfffe, ITEM, '', 0);
      this.emit(item);
      const itemStart = this.written;
      if (length === UNDEFINED) {
        off = this.dataset(off + 8, null, syntax, scope, depth);
      } else {
        if (off + 8 + length > this.buf.length) throw parseError(`an item at byte ${off} runs past the end of the data (truncated file?)`);
        this.dataset(off + 8, off + 8 + length, syntax, scope, depth);
        off = off + 8 + length;
      }
      new DataView(item.buffer).setUint32(4, this.written - itemStart, this.out.little);
    }
    if (end !== null) off = end;
    this.emit(this.header(0xfffe, SEQUENCE_END, '', 0));
    return off;
  }

  /** Skip encapsulated fragments (PS3.5 A.4); returns the offset after the Sequence Delimitation Item. */
  private fragments(start: number, syntax: Syntax): number {
    let off = start;
    for (;;) {
      const g = this.u16(off, syntax.little);
      const e = this.u16(off + 2, syntax.little);
      const length = this.u32(off + 4, syntax.little);
      if (g !== 0xfffe) throw parseError(`encapsulated Pixel Data is malformed at byte ${off}`);
      if (e === SEQUENCE_END) return off + 8;
      if (e !== ITEM || length === UNDEFINED) throw parseError(`encapsulated Pixel Data is malformed at byte ${off}`);
      if (off + 8 + length > this.buf.length) throw parseError('an encapsulated Pixel Data fragment runs past the end of the data (truncated file?)');
      off += 8 + length;
    }
  }
}

/**
 * Big-endian OW Pixel Data to little endian, in a copy (and back: the swap is its own inverse). OW is 16-bit words
 * (PS3.5 7.3), also for 8-bit samples; 32-bit samples are swapped whole, as pydicom and dcmtk read them. OB is a
 * byte stream and is never swapped.
 */
export function swapToLittleEndian(bytes: Uint8Array, bitsAllocated: number | undefined): Uint8Array {
  const unit = bitsAllocated === 32 ? 4 : 2;
  const out = new Uint8Array(bytes.length);
  const whole = bytes.length - (bytes.length % unit);
  if (unit === 2) {
    for (let i = 0; i < whole; i += 2) {
      out[i] = bytes[i + 1]!;
      out[i + 1] = bytes[i]!;
    }
  } else {
    for (let i = 0; i < whole; i += 4) {
      out[i] = bytes[i + 3]!;
      out[i + 1] = bytes[i + 2]!;
      out[i + 2] = bytes[i + 1]!;
      out[i + 3] = bytes[i]!;
    }
  }
  out.set(bytes.subarray(whole), whole);
  return out;
}

const KNOWN_SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);

interface MetaElement {
  element: number;
  vr: string;
  value: Uint8Array;
}

/** File Meta Information is always Explicit VR Little Endian (PS3.10 7.1). */
function readMeta(buf: Uint8Array, start: number): { elements: MetaElement[]; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const elements: MetaElement[] = [];
  let off = start;
  while (off + 8 <= buf.length && view.getUint16(off, true) === 0x0002) {
    const element = view.getUint16(off + 2, true);
    const vr = String.fromCharCode(buf[off + 4], buf[off + 5]);
    let length: number;
    let valueStart: number;
    if (LONG_VRS.has(vr)) {
      length = view.getUint32(off + 8, true);
      valueStart = off + 12;
    } else {
      length = view.getUint16(off + 6, true);
      valueStart = off + 8;
    }
    if (valueStart + length > buf.length) throw parseError('the File Meta Information is truncated');
    elements.push({ element, vr, value: buf.subarray(valueStart, valueStart + length) });
    off = valueStart + length;
  }
  return { elements, end: off };
}

function writeMeta(elements: MetaElement[]): Uint8Array {
  const body: Uint8Array[] = [];
  for (const { element, vr, value } of elements) {
    if (element === 0x0000) continue;
    const padded = value.length % 2 ? Uint8Array.from([...value, vr === 'UI' ? 0 : 0x20]) : value;
    const long = LONG_VRS.has(vr);
    const h = new Uint8Array(long ? 12 : 8);
    const v = new DataView(h.buffer);
    v.setUint16(0, 0x0002, true);
    v.setUint16(2, element, true);
    h[4] = vr.charCodeAt(0);
    h[5] = vr.charCodeAt(1);
    if (long) v.setUint32(8, padded.length, true);
    else v.setUint16(6, padded.length, true);
    body.push(h, padded);
  }
  const bodyLength = body.reduce((n, c) => n + c.length, 0);
  const groupLength = new Uint8Array(12);
  const gv = new DataView(groupLength.buffer);
  gv.setUint16(0, 0x0002, true);
  gv.setUint16(2, 0x0000, true);
  groupLength[4] = 0x55; // U
  groupLength[5] = 0x4c; // L
  gv.setUint16(6, 4, true);
  gv.setUint32(8, bodyLength, true);
  return Buffer.concat([groupLength, ...body]);
}

function uidValue(value: string): Uint8Array {
  return utf8.encode(value.length % 2 ? value + '\0' : value);
}

function asciiOf(value: Uint8Array): string {
  return new TextDecoder('latin1').decode(value).replace(/[\0 ]+$/, '');
}

/** Guess the syntax of a bare data set: an explicit VR shows as two upper-case letters after the first tag. */
function guessBareSyntax(buf: Uint8Array): string {
  const vr = String.fromCharCode(buf[4] ?? 0, buf[5] ?? 0);
  return /^[A-Z]{2}$/.test(vr) && (LONG_VRS.has(vr) || KNOWN_SHORT_VRS.has(vr))
    ? TRANSFER_SYNTAX.ExplicitVRLittleEndian
    : TRANSFER_SYNTAX.ImplicitVRLittleEndian;
}

function syntaxOf(uid: string): Syntax {
  if (uid === TRANSFER_SYNTAX.ImplicitVRLittleEndian) return { explicit: false, little: true };
  if (uid === TRANSFER_SYNTAX.ExplicitVRBigEndian) return { explicit: true, little: false };
  return { explicit: true, little: true };
}

export function normalizePart10(input: Uint8Array, limits: InputLimits = DEFAULT_INPUT_LIMITS): NormalizedPart10 {
  const repairs: string[] = [];
  const magicAt = (off: number) => input.length >= off + 4 && asciiOf(input.subarray(off, off + 4)) === 'DICM';
  let metaElements: MetaElement[];
  let datasetStart: number;
  if (magicAt(128)) {
    ({ elements: metaElements, end: datasetStart } = readMeta(input, 132));
  } else if (magicAt(0)) {
    repairs.push('missing preamble');
    ({ elements: metaElements, end: datasetStart } = readMeta(input, 4));
  } else if (input.length >= 8 && input[0] === 0x02 && input[1] === 0x00) {
    repairs.push('missing preamble');
    ({ elements: metaElements, end: datasetStart } = readMeta(input, 0));
  } else {
    if (input.length < 8) throw parseError('the input is too short to be DICOM');
    // A bare data set (no preamble, no File Meta) starts with a low group: command, meta, directory or 0008.
    const firstGroup = input[0] | (input[1] << 8);
    if (![0x0000, 0x0002, 0x0004, 0x0008].includes(firstGroup)) {
      throw parseError('not DICOM: no "DICM" marker at byte 128 and no data set at the start');
    }
    repairs.push('missing File Meta Information');
    metaElements = [
      { element: 0x0001, vr: 'OB', value: Uint8Array.from([0, 1]) },
      { element: 0x0010, vr: 'UI', value: uidValue(guessBareSyntax(input)) },
    ];
    datasetStart = 0;
  }
  const tsElement = metaElements.find((e) => e.element === 0x0010);
  if (!tsElement) throw parseError('the File Meta Information has no Transfer Syntax UID (0002,0010)');
  const sourceTransferSyntaxUID = asciiOf(tsElement.value);

  let data = input.subarray(datasetStart);
  let transferSyntaxUID = sourceTransferSyntaxUID;
  if (sourceTransferSyntaxUID === TRANSFER_SYNTAX.DeflatedExplicitVRLittleEndian) {
    data = inflateBounded(data, limits.maxInflatedBytes);
    transferSyntaxUID = TRANSFER_SYNTAX.ExplicitVRLittleEndian;
    tsElement.value = uidValue(transferSyntaxUID);
    repairs.push('deflated data set inflated');
  }
  if (!metaElements.some((e) => e.element === 0x0001)) {
    metaElements.unshift({ element: 0x0001, vr: 'OB', value: Uint8Array.from([0, 1]) });
  }

  const syntax = syntaxOf(transferSyntaxUID);
  const walker = new Walker(data, syntax, limits);
  walker.dataset(0, data.length, syntax, { terms: [], transcode: true }, 0);
  repairs.push(...walker.repairs);

  const preamble = new Uint8Array(132);
  preamble.set(utf8.encode('DICM'), 128);
  const bytes = Buffer.concat([preamble, writeMeta(metaElements), ...walker.chunks]);
  return {
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    sourceTransferSyntaxUID,
    transferSyntaxUID,
    encapsulatedPixelData: walker.encapsulatedPixelData,
    nativePixelData: walker.nativePixelData,
    repairs,
  };
}
