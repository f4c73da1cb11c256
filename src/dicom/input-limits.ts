import { inflateRawSync, inflateSync } from 'node:zlib';
import { AnofairError } from '../errors/anofair-error.js';
import { vrOfTag } from './dictionary.js';

/**
 * Limits on what one DICOM data set may make the gateway (and the PACS behind it) do, so that no upload can
 * exhaust memory, stall the event loop or crash a parser: the size a deflated data set may inflate to, how deep
 * sequences may nest and how many data elements a data set may hold. Every reader applies them: readPart10 (the
 * research path, the release workers, `anofair deidentify`) and the STOW-RS part inspector (the clinical relay
 * and the de-identify-only endpoint). docs/INPUT-LIMITS.md says why each default is what it is.
 */
export interface InputLimits {
  /** Largest data set after inflating Deflated Explicit VR Little Endian (PS3.5 A.5), bytes. */
  maxInflatedBytes: number;
  /** Deepest nesting of sequences: a sequence in the top-level data set is level 1, one in its items level 2. */
  maxSequenceDepth: number;
  /** Most data elements in one data set, those in sequence items included. */
  maxElements: number;
}

const MiB = 1024 * 1024;

/**
 * The defaults, shared by the gateway's `limits:` configuration section and `anofair deidentify` (which has no
 * such section and always uses these). Measured reasons in docs/INPUT-LIMITS.md.
 */
export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxInflatedBytes: 256 * MiB,
  maxSequenceDepth: 32,
  maxElements: 250_000,
});

/** The limits to apply: the given ones over the defaults. */
export function inputLimits(given?: Partial<InputLimits>): InputLimits {
  return { ...DEFAULT_INPUT_LIMITS, ...given };
}

export type InputLimitName = keyof InputLimits;

const WHAT: Record<InputLimitName, (limit: number) => string> = {
  maxInflatedBytes: (limit) => `the deflated data set inflates to more than ${limit} bytes`,
  maxSequenceDepth: (limit) => `sequences are nested more than ${limit} levels deep`,
  maxElements: (limit) => `the data set holds more than ${limit} data elements`,
};

/** The error for input beyond a limit: DICOM_LIMIT (413), naming the limit and its configuration key, no values. */
export function limitExceeded(limit: InputLimitName, value: number, where?: string): AnofairError {
  return new AnofairError('DICOM_LIMIT', `${where ? `${where}: ` : ''}${WHAT[limit](value)} (limits.${limit})`, { limit: `limits.${limit}`, value });
}

function isBufferTooLarge(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Inflate a deflated data set (PS3.5 A.5: raw deflate, RFC 1951; some writers wrongly add a zlib header, RFC
 * 1950), never to more than `maxBytes`: zlib stops at the bound (maxOutputLength), so a bomb costs at most that.
 */
export function inflateBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  const options = { maxOutputLength: maxBytes, chunkSize: 256 * 1024 };
  for (const inflate of [inflateRawSync, inflateSync]) {
    try {
      return inflate(data, options);
    } catch (err) {
      if (isBufferTooLarge(err)) throw limitExceeded('maxInflatedBytes', maxBytes);
    }
  }
  throw new AnofairError('DICOM_PARSE', 'the deflated data set cannot be inflated');
}

export interface ScanSyntax {
  explicit: boolean;
  little: boolean;
}

export const IMPLICIT_LITTLE: Readonly<ScanSyntax> = Object.freeze({ explicit: false, little: true });

const UNDEFINED = 0xffffffff;
const ITEM = 0xe000;
const ITEM_END = 0xe00d;
const SEQUENCE_END = 0xe0dd;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);

/** Whether a data set without File Meta Information starts with an explicit VR: two letters of a VR after the tag. */
export function looksExplicit(start: Uint8Array): boolean {
  const vr = String.fromCharCode(start[4] ?? 0, start[5] ?? 0);
  return /^[A-Z]{2}$/.test(vr) && (LONG_VRS.has(vr) || SHORT_VRS.has(vr));
}

interface Frame {
  kind: 'dataset' | 'sequence' | 'fragments';
  /** Offset where the frame ends (defined length); null: it ends with a delimiter, or with the stream. */
  end: number | null;
  syntax: ScanSyntax;
  /** Sequences around this frame (a sequence frame counts itself). */
  depth: number;
  /**
   * A UN value that the data dictionary calls a sequence, followed as one in case a reader does: when it does not
   * read as a sequence it is just bytes, and the scan skips to its end instead of giving up.
   */
  probe?: boolean;
}

export interface StructureScannerOptions {
  syntax: ScanSyntax;
  limits: Pick<InputLimits, 'maxSequenceDepth' | 'maxElements'>;
  /** Start inside a sequence's value (its items) at this depth, instead of in a top-level data set. */
  sequenceAtDepth?: number;
  /**
   * How to follow a UN element of defined length whose tag the dictionary calls SQ: 'implicit' as PS3.5 6.2.2
   * encodes UN (Implicit VR Little Endian), 'same' in the data set's own syntax (what dcmjs does), 'no' not at all.
   */
  unknownSequences?: 'implicit' | 'same' | 'no';
  /** Top-level elements (tag as a number, group << 16 | element) whose values go to onValue, up to 1 KiB each. */
  capture?: ReadonlySet<number>;
  onValue?: (tag: number, value: Uint8Array) => void;
  /** Prefix of limit messages, e.g. "part 3". */
  where?: string;
}

/**
 * Follows the structure of a data set as its bytes arrive (any chunking), touching element headers only: values
 * are skipped, never held, so memory is a few frames whatever the size, and time is linear in the bytes. It
 * throws DICOM_LIMIT the moment the data set goes past maxSequenceDepth or maxElements. Bytes it cannot follow
 * as DICOM stop the scan (`broken` says why, `brokenAt` where): that is for the caller to judge, not a limit.
 */
export class StructureScanner {
  private readonly stack: Frame[];
  private pos = 0;
  private skip = 0;
  private readonly head = new Uint8Array(12);
  private headLength = 0;
  private elementCount = 0;
  private capturing?: { tag: number; chunks: Uint8Array[] };
  broken?: string;
  brokenAt?: number;

  constructor(private readonly o: StructureScannerOptions) {
    this.stack =
      o.sequenceAtDepth === undefined
        ? [{ kind: 'dataset', end: null, syntax: o.syntax, depth: 0 }]
        : [{ kind: 'sequence', end: null, syntax: o.syntax, depth: o.sequenceAtDepth }];
    if (o.sequenceAtDepth !== undefined) this.checkDepth(o.sequenceAtDepth);
  }

  /** Bytes scanned so far. */
  get offset(): number {
    return this.pos;
  }

  get elements(): number {
    return this.elementCount;
  }

  /**
   * The bytes have all been pushed: whether they end where the data set may end (not inside a header, a value,
   * an item or a sequence). False after bytes that could not be followed.
   */
  finish(): boolean {
    if (this.broken || this.skip > 0 || this.headLength > 0 || !this.closeEnded()) return false;
    return this.stack.length === 1;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    for (;;) {
      if (this.broken) return;
      if (this.skip > 0) {
        if (i >= chunk.length) return;
        const n = Math.min(this.skip, chunk.length - i);
        if (this.capturing) this.capturing.chunks.push(chunk.slice(i, i + n));
        i += n;
        this.pos += n;
        this.skip -= n;
        if (this.skip === 0) this.finishCapture();
        continue;
      }
      if (this.headLength === 0 && !this.closeEnded()) return;
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        if (i < chunk.length) this.fail('there are bytes after the end of the data set');
        return;
      }
      const need = this.headLength < 8 ? 8 : this.headerSize(top);
      if (this.headLength < need) {
        if (i >= chunk.length) return;
        const n = Math.min(need - this.headLength, chunk.length - i);
        this.head.set(chunk.subarray(i, i + n), this.headLength);
        this.headLength += n;
        i += n;
        this.pos += n;
        continue;
      }
      this.headLength = 0;
      this.header(top, need);
    }
  }

  /** Pop the frames whose defined length ends here; false when an element ran past the end of its item. */
  private closeEnded(): boolean {
    for (let top = this.stack.at(-1); top && top.end !== null && this.pos >= top.end; top = this.stack.at(-1)) {
      if (this.pos > top.end) {
        this.fail('an element runs past the end of its item or sequence');
        return false;
      }
      this.stack.pop();
    }
    return true;
  }

  private headerSize(top: Frame): number {
    if (top.kind !== 'dataset' || !top.syntax.explicit) return 8;
    const group = top.syntax.little ? this.head[0]! | (this.head[1]! << 8) : (this.head[0]! << 8) | this.head[1]!;
    if (group === 0xfffe) return 8;
    const vr = String.fromCharCode(this.head[4]!, this.head[5]!);
    return LONG_VRS.has(vr) || !SHORT_VRS.has(vr) ? 12 : 8;
  }

  private header(top: Frame, size: number): void {
    const little = top.syntax.little;
    const view = new DataView(this.head.buffer);
    const group = view.getUint16(0, little);
    const element = view.getUint16(2, little);
    if (top.kind !== 'dataset') {
      const length = view.getUint32(4, little);
      if (group !== 0xfffe) return this.fail('a sequence holds something other than items');
      if (element === SEQUENCE_END) {
        if (top.end === null) this.stack.pop();
        else this.skip = top.end - this.pos; // a delimiter in a defined-length sequence: the length decides
        return;
      }
      if (element !== ITEM) return this.fail('a sequence holds an unexpected delimiter');
      if (top.kind === 'fragments') {
        if (length === UNDEFINED) return this.fail('an encapsulated Pixel Data fragment has undefined length');
        this.skip = length;
        return;
      }
      if (length !== UNDEFINED && top.end !== null && this.pos + length > top.end) return this.fail('an item runs past the end of its sequence');
      this.stack.push({ kind: 'dataset', end: length === UNDEFINED ? null : this.pos + length, syntax: top.syntax, depth: top.depth });
      return;
    }
    if (group === 0xfffe) {
      if (element !== ITEM_END) return this.fail('a data set holds an item or sequence delimiter');
      if (top.end === null && this.stack.length > 1) this.stack.pop(); // end of an item of undefined length
      return; // else a stray delimiter, which readers skip
    }
    this.elementCount++;
    if (this.elementCount > this.o.limits.maxElements) throw limitExceeded('maxElements', this.o.limits.maxElements, this.o.where);
    let vr: string;
    let length: number;
    const tag = ((group << 16) | element) >>> 0;
    if (top.syntax.explicit) {
      vr = String.fromCharCode(this.head[4]!, this.head[5]!);
      if (!/^[A-Z]{2}$/.test(vr)) return this.fail('an element has no valid value representation');
      length = size === 12 ? view.getUint32(8, little) : view.getUint16(6, little);
    } else {
      length = view.getUint32(4, little);
      vr = (tag !== 0x7fe00010 && vrOfTagNumber(tag)) || (length === UNDEFINED ? 'SQ' : 'UN');
    }
    if (length === UNDEFINED) {
      if (tag === 0x7fe00010) {
        this.stack.push({ kind: 'fragments', end: null, syntax: top.syntax, depth: top.depth });
        return;
      }
      // Any other element of undefined length is a sequence; explicit UN holds Implicit VR items (PS3.5 6.2.2).
      this.openSequence(top, null, vr === 'UN' && top.syntax.explicit ? IMPLICIT_LITTLE : top.syntax, false);
      return;
    }
    if (top.end !== null && this.pos + length > top.end) return this.fail('an element runs past the end of its item');
    if (vr === 'SQ') {
      this.openSequence(top, this.pos + length, top.syntax, false);
      return;
    }
    const unknownSequences = this.o.unknownSequences ?? 'implicit';
    if (vr === 'UN' && top.syntax.explicit && length > 0 && unknownSequences !== 'no' && vrOfTagNumber(tag) === 'SQ') {
      this.openSequence(top, this.pos + length, unknownSequences === 'same' ? top.syntax : IMPLICIT_LITTLE, true);
      return;
    }
    if (this.stack.length === 1 && this.o.capture?.has(tag) && length <= 1024) this.capturing = { tag, chunks: [] };
    this.skip = length;
    if (length === 0) this.finishCapture();
  }

  private openSequence(top: Frame, end: number | null, syntax: ScanSyntax, probe: boolean): void {
    const depth = top.depth + 1;
    this.checkDepth(depth);
    this.stack.push({ kind: 'sequence', end, syntax, depth, probe });
  }

  private checkDepth(depth: number): void {
    if (depth > this.o.limits.maxSequenceDepth) throw limitExceeded('maxSequenceDepth', this.o.limits.maxSequenceDepth, this.o.where);
  }

  private finishCapture(): void {
    const c = this.capturing;
    if (!c) return;
    this.capturing = undefined;
    this.o.onValue?.(c.tag, c.chunks.length === 1 ? c.chunks[0]! : Buffer.concat(c.chunks));
  }

  private fail(reason: string): void {
    // Inside a probed UN value, bytes that are no sequence are just bytes: skip to the end of the value.
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const frame = this.stack[i]!;
      if (frame.probe && frame.end !== null && frame.end >= this.pos) {
        this.stack.length = i;
        this.skip = frame.end - this.pos;
        this.headLength = 0;
        return;
      }
    }
    this.broken = reason;
    this.brokenAt = this.pos;
  }
}

const vrCache = new Map<number, string | undefined>();

function vrOfTagNumber(tag: number): string | undefined {
  if (vrCache.has(tag)) return vrCache.get(tag);
  const vr = vrOfTag(tag.toString(16).padStart(8, '0').toUpperCase());
  if (vrCache.size < 4096) vrCache.set(tag, vr);
  return vr;
}
