import { createInflateRaw, type InflateRaw } from 'node:zlib';
import { TRANSFER_SYNTAX } from '../../dicom/dataset.js';
import { limitExceeded, looksExplicit, StructureScanner, type InputLimits, type ScanSyntax } from '../../dicom/input-limits.js';
import { AnofairError, isAnofairError } from '../../errors/anofair-error.js';
import { IDENTITY_TAGS, identityOf, uidText, type InstanceIdentity } from './instance-identity.js';

export interface PartInspection {
  /** For a Part 10 object (preamble and "DICM"): the identifiers found at its top level. */
  identity?: InstanceIdentity;
  /** Why the part could not be followed to its end as DICOM (not DICOM, truncated, malformed); absent when it could. */
  unreadable?: string;
}

/** File Meta Information beyond this is not followed (real ones are a few hundred bytes). */
const META_MAX_BYTES = 64 * 1024;
const TRANSFER_SYNTAX_UID = 0x00020010;
/** An Item tag (FFFE,E000), little and big endian. */
const ITEM_TAGS = [Buffer.from([0xfe, 0xff, 0x00, 0xe0]), Buffer.from([0xff, 0xfe, 0xe0, 0x00])];

function syntaxOf(uid: string | undefined, datasetStart: Uint8Array): ScanSyntax {
  if (uid === TRANSFER_SYNTAX.ImplicitVRLittleEndian) return { explicit: false, little: true };
  if (uid === TRANSFER_SYNTAX.ExplicitVRBigEndian) return { explicit: true, little: false };
  if (uid === undefined) return { explicit: looksExplicit(datasetStart), little: true };
  return { explicit: true, little: true };
}

/**
 * One STOW-RS part, checked against the input limits as its bytes arrive (src/dicom/input-limits.ts): the
 * File Meta Information is read, a deflated data set is inflated as a stream with a running count, and the data
 * set's structure is followed element header by element header. push() and end() throw DICOM_LIMIT the moment the
 * part goes past a limit, so a caller relaying the part can stop before the upstream has all of it. Memory is a
 * few KiB whatever the part's size; nothing is parsed twice, and the identity the STOW answer needs comes out of
 * the same pass.
 *
 * A part that cannot be followed as DICOM is no limit's business (the upstream judges it), with one exception:
 * from where the structure is lost, its Item tags are counted, and a part with more of them than
 * limits.maxSequenceDepth is refused as if too deep, since a reader that does follow it could nest that far.
 */
export class PartInspector {
  private phase: 'prefix' | 'meta' | 'dataset' | 'opaque' = 'prefix';
  private prefix: Buffer[] = [];
  private prefixLength = 0;
  private metaStart = 0;
  private part10 = false;
  private readonly values = new Map<number, Uint8Array>();
  private scanner?: StructureScanner;
  private inflater?: InflateRaw;
  private readonly inflateWaits: (() => void)[] = [];
  private inflated = 0;
  /** The first inflater write, made while reading the File Meta Information. */
  private firstWrite?: Promise<void>;
  private failure?: AnofairError;
  private unreadable?: string;
  private items = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly limits: InputLimits,
    /** Names the part in messages, e.g. "part 3". */
    private readonly where: string,
  ) {}

  /** The next bytes of the part. Throws DICOM_LIMIT when the part goes past a limit. */
  async push(data: Buffer): Promise<void> {
    this.throwIfFailed();
    if (this.phase === 'prefix' || this.phase === 'meta') {
      this.prefix.push(data);
      this.prefixLength += data.length;
      this.readPrefix(false);
      await this.firstWrite;
    } else if (this.inflater) {
      await this.inflate(data);
    } else {
      this.dataset(data);
    }
    this.throwIfFailed();
  }

  /** The part is complete. Throws DICOM_LIMIT when it went past a limit. */
  async end(): Promise<PartInspection> {
    this.throwIfFailed();
    if (this.phase === 'prefix' || this.phase === 'meta') this.readPrefix(true);
    await this.firstWrite;
    const inflater = this.inflater;
    if (inflater && !inflater.destroyed) {
      // the flush may inflate past a limit too
      await this.inflaterWait((done) => {
        inflater.once('end', done);
        inflater.once('close', done);
        inflater.end();
      });
    }
    this.throwIfFailed();
    if (!this.unreadable && this.scanner && !this.scanner.finish()) this.unreadable = 'the data set ends inside an element, item or sequence (truncated?)';
    return { ...(this.part10 ? { identity: identityOf(this.values) } : {}), ...(this.unreadable ? { unreadable: this.unreadable } : {}) };
  }

  /** Stop (the part will not be finished); frees the inflater. */
  destroy(): void {
    this.inflater?.destroy();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private fail(err: unknown): void {
    this.failure ??= isAnofairError(err) ? err : new AnofairError('INTERNAL', `${this.where}: the part could not be inspected`);
    this.inflater?.destroy();
    // a destroyed zlib stream may neither call back nor close in time (Node 20.20): release the waits on it
    for (const release of this.inflateWaits.splice(0)) release();
  }

  /** Preamble, "DICM" and File Meta Information (PS3.10 7.1), also their variants readers accept. */
  private readPrefix(atEnd: boolean): void {
    const buf = this.prefix.length === 1 ? this.prefix[0]! : Buffer.concat(this.prefix);
    this.prefix = [buf];
    const magicAt = (off: number): boolean => buf.length >= off + 4 && buf.toString('latin1', off, off + 4) === 'DICM';
    if (this.phase === 'prefix') {
      if (buf.length < 132 && !atEnd) return;
      if (magicAt(128)) {
        this.metaStart = 132;
        this.part10 = true;
      } else if (magicAt(0)) {
        this.metaStart = 4;
      } else if (buf.length >= 8 && buf[0] === 0x02 && buf[1] === 0x00) {
        this.metaStart = 0;
      } else if (buf.length >= 8 && [0x0000, 0x0004, 0x0008].includes(buf.readUInt16LE(0))) {
        // A bare data set: the normaliser and DCMTK read these too.
        this.startDataset(buf, 0, syntaxOf(undefined, buf), false);
        return;
      } else {
        this.opaque(buf, 'not DICOM: no "DICM" marker at byte 128 and no data set at the start');
        return;
      }
      this.phase = 'meta';
    }
    let off = this.metaStart;
    while (off + 8 <= buf.length && buf.readUInt16LE(off) === 0x0002) {
      const vr = buf.toString('latin1', off + 4, off + 6);
      const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL', 'OV', 'SV', 'UV'].includes(vr);
      if (long && off + 12 > buf.length) break;
      const length = long ? buf.readUInt32LE(off + 8) : buf.readUInt16LE(off + 6);
      const valueStart = off + (long ? 12 : 8);
      if (valueStart + length > buf.length) break;
      const tag = ((0x0002 << 16) | buf.readUInt16LE(off + 2)) >>> 0;
      if (tag === IDENTITY_TAGS.mediaStorageSOPClassUID || tag === TRANSFER_SYNTAX_UID) this.values.set(tag, buf.subarray(valueStart, valueStart + length));
      off = valueStart + length;
    }
    const metaEnded = (off + 2 <= buf.length && buf.readUInt16LE(off) !== 0x0002) || (atEnd && off === buf.length);
    if (metaEnded) {
      const uid = uidText(this.values.get(TRANSFER_SYNTAX_UID));
      const deflated = uid === TRANSFER_SYNTAX.DeflatedExplicitVRLittleEndian;
      this.startDataset(buf, off, deflated ? { explicit: true, little: true } : syntaxOf(uid, buf.subarray(off)), deflated);
    } else if (atEnd) {
      this.unreadable = 'the File Meta Information is truncated';
    } else if (buf.length - this.metaStart > META_MAX_BYTES) {
      this.opaque(buf.subarray(this.metaStart), `the File Meta Information is longer than ${META_MAX_BYTES} bytes`);
    }
  }

  private startDataset(buf: Buffer, start: number, syntax: ScanSyntax, deflated: boolean): void {
    this.phase = 'dataset';
    this.prefix = [];
    this.scanner = new StructureScanner({
      syntax,
      limits: this.limits,
      capture: new Set([IDENTITY_TAGS.sopClassUID, IDENTITY_TAGS.sopInstanceUID, IDENTITY_TAGS.studyInstanceUID]),
      onValue: (tag, value) => this.values.set(tag, value),
      where: this.where,
    });
    const rest = buf.subarray(start);
    if (deflated) {
      // Streamed through zlib (its thread pool, not the event loop) with a running count: a bomb stops at the bound.
      const inflater = createInflateRaw({ chunkSize: 64 * 1024 });
      inflater.on('data', (out: Buffer) => {
        this.inflated += out.length;
        if (this.inflated > this.limits.maxInflatedBytes) this.fail(limitExceeded('maxInflatedBytes', this.limits.maxInflatedBytes, this.where));
        else this.dataset(out);
      });
      inflater.on('error', () => {
        this.unreadable ??= 'the deflated data set cannot be inflated';
      });
      this.inflater = inflater;
      if (rest.length > 0) this.firstWrite = this.inflate(rest);
    } else if (rest.length > 0) {
      this.dataset(rest);
    }
  }

  private inflate(data: Buffer): Promise<void> {
    const inflater = this.inflater!;
    if (inflater.destroyed || this.failure) return Promise.resolve();
    // Resolves once zlib has taken the chunk and emitted what it inflates to, or once the inflater is gone (a
    // limit or an error destroyed it; the write's callback may then never come).
    return this.inflaterWait((done) => {
      inflater.once('close', done);
      inflater.write(data, done);
    });
  }

  /**
   * A wait on the inflater that start() begins, given the function that ends it. fail() ends it too: a destroyed
   * zlib stream may neither call back nor close in time (Node 20.20).
   */
  private inflaterWait(start: (done: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        this.inflater?.off('close', done);
        const k = this.inflateWaits.indexOf(done);
        if (k >= 0) this.inflateWaits.splice(k, 1);
        resolve();
      };
      this.inflateWaits.push(done);
      start(done);
    });
  }

  /** Data set bytes (inflated, for a deflated one). */
  private dataset(bytes: Uint8Array): void {
    if (this.failure) return;
    const scanner = this.scanner!;
    try {
      if (!scanner.broken) {
        const before = scanner.offset;
        scanner.push(bytes);
        if (!scanner.broken) return;
        this.unreadable = `${scanner.broken} at byte ${scanner.brokenAt} of the data set`;
        bytes = bytes.subarray(scanner.offset - before);
      }
      this.countItems(bytes);
    } catch (err) {
      this.fail(err);
    }
  }

  private opaque(bytes: Uint8Array, reason: string): void {
    this.phase = 'opaque';
    this.prefix = [];
    this.unreadable = reason;
    this.scanner = new StructureScanner({ syntax: { explicit: true, little: true }, limits: this.limits });
    this.scanner.broken = reason;
    this.countItems(bytes);
  }

  private countItems(bytes: Uint8Array): void {
    // The last 3 bytes of the previous chunk go first, for a tag split between chunks; too short to hold one.
    const buf = Buffer.concat([this.tail, bytes]);
    for (const tag of ITEM_TAGS) for (let at = buf.indexOf(tag); at !== -1; at = buf.indexOf(tag, at + 1)) this.items++;
    this.tail = Buffer.from(buf.subarray(Math.max(0, buf.length - 3)));
    if (this.items > this.limits.maxSequenceDepth) {
      this.fail(
        new AnofairError(
          'DICOM_LIMIT',
          `${this.where}: ${this.unreadable}; past that point it holds more than ${this.limits.maxSequenceDepth} item tags, so a reader could find sequences nested deeper than that (limits.maxSequenceDepth)`,
          { limit: 'limits.maxSequenceDepth', value: this.limits.maxSequenceDepth },
        ),
      );
    }
  }
}
