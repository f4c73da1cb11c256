import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';

/**
 * Test inputs for the input limits (docs/INPUT-LIMITS.md), made in memory: instances with sequences nested N
 * levels deep and deflate bombs, as an attacker would send them. Not a test file itself; the tests import it.
 */

export type ProbeSyntax = 'explicit' | 'implicit' | 'deflated';

const TS: Record<ProbeSyntax, string> = {
  explicit: '1.2.840.10008.1.2.1',
  implicit: '1.2.840.10008.1.2',
  deflated: '1.2.840.10008.1.2.1.99',
};
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const LONG = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

export interface ProbeUids {
  study: string;
  series: string;
  instance: string;
}

/** Fresh UIDs (2.25 + 128 random bits, PS3.5 B.2). */
export function probeUids(): ProbeUids {
  const uid = (): string => `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
  return { study: uid(), series: uid(), instance: uid() };
}

function padded(value: string, vr: string): Buffer {
  const b = Buffer.from(value, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([vr === 'UI' ? 0 : 0x20])]) : b;
}

/** One element header (tag, VR in explicit syntaxes, length) in little endian. */
function header(tag: number, vr: string, length: number, explicit: boolean): Buffer {
  const long = !explicit || LONG.has(vr) || tag >>> 16 === 0xfffe;
  const h = Buffer.alloc(explicit && tag >>> 16 !== 0xfffe && LONG.has(vr) ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  if (!explicit || tag >>> 16 === 0xfffe) {
    h.writeUInt32LE(length >>> 0, 4);
  } else {
    h.write(vr, 4, 'latin1');
    if (long) h.writeUInt32LE(length >>> 0, 8);
    else h.writeUInt16LE(length, 6);
  }
  return h;
}

function element(tag: number, vr: string, value: Buffer, explicit: boolean): Buffer {
  return Buffer.concat([header(tag, vr, value.length, explicit), value]);
}

function meta(syntax: ProbeSyntax, uids: ProbeUids): Buffer {
  const body = Buffer.concat([
    element(0x00020001, 'OB', Buffer.from([0, 1]), true),
    element(0x00020002, 'UI', padded(SECONDARY_CAPTURE, 'UI'), true),
    element(0x00020003, 'UI', padded(uids.instance, 'UI'), true),
    element(0x00020010, 'UI', padded(TS[syntax], 'UI'), true),
    element(0x00020012, 'UI', padded('2.25.1', 'UI'), true),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x00020000, 'UL', length, true), body]);
}

/** The top-level attributes before the nesting: enough for a PACS to file the instance. */
function identification(uids: ProbeUids, explicit: boolean): Buffer {
  return Buffer.concat([
    element(0x00080016, 'UI', padded(SECONDARY_CAPTURE, 'UI'), explicit),
    element(0x00080018, 'UI', padded(uids.instance, 'UI'), explicit),
    element(0x00080060, 'CS', padded('OT', 'CS'), explicit),
    element(0x00100010, 'PN', padded('Probe^Nesting', 'PN'), explicit),
    element(0x00100020, 'LO', padded('PROBE', 'LO'), explicit),
    element(0x0020000d, 'UI', padded(uids.study, 'UI'), explicit),
    element(0x0020000e, 'UI', padded(uids.series, 'UI'), explicit),
  ]);
}

export interface NestedOptions {
  /** Sequences nested in one another: Content Sequence (0040,A730) in each item, one item each. */
  depth: number;
  syntax?: ProbeSyntax;
  uids?: ProbeUids;
  /** Bytes of an OB value (0042,0011) in the deepest item. */
  payloadBytes?: number;
  /** Sequences and items with their lengths instead of delimiters. */
  definedLengths?: boolean;
  /** Declare the outermost sequence UN (explicit syntaxes): its items then read as Implicit VR (PS3.5 6.2.2). */
  outermostAsUN?: boolean;
}

/** An instance whose Content Sequences nest `depth` levels deep; written in one pass, linear in the depth. */
export function nestedInstance(o: NestedOptions): Buffer {
  const syntax = o.syntax ?? 'explicit';
  const uids = o.uids ?? probeUids();
  const explicit = syntax !== 'implicit';
  const undef = !o.definedLengths;
  // Inside a UN value everything is Implicit VR Little Endian: all below the outermost sequence's own header.
  const explicitAt = (level: number): boolean => explicit && !(o.outermostAsUN && level > 0);
  const inside = explicit && !o.outermostAsUN;
  const relationship = (): Buffer => element(0x0040a040, 'CS', padded('CONTAINER', 'CS'), inside);
  const payload = (): Buffer => (o.payloadBytes ? element(0x00420011, 'OB', Buffer.alloc(o.payloadBytes), inside) : Buffer.alloc(0));
  // Sizes from the inside out: content[i] is what the item of level i holds, seq[i] the sequence element of level i.
  const seq: number[] = new Array(o.depth + 1).fill(0);
  const content: number[] = new Array(o.depth).fill(0);
  const last = o.depth - 1;
  const payloadLength = payload().length;
  const rel = relationship();
  for (let i = last; i >= 0; i--) {
    content[i] = rel.length + (i === last ? payloadLength : seq[i + 1]!);
    seq[i] = (explicitAt(i) ? 12 : 8) + 8 + content[i]! + (undef ? 16 : 0);
  }
  const nested = Buffer.alloc(seq[0]!);
  let off = 0;
  const put = (b: Buffer): void => {
    b.copy(nested, off);
    off += b.length;
  };
  for (let i = 0; i < o.depth; i++) {
    const vr = o.outermostAsUN && i === 0 ? 'UN' : 'SQ';
    put(header(0x0040a730, vr, undef ? 0xffffffff : 8 + content[i]!, explicitAt(i)));
    put(header(0xfffee000, '', undef ? 0xffffffff : content[i]!, false));
    put(rel);
    if (i === last && payloadLength) put(payload());
  }
  if (undef) {
    for (let i = 0; i < o.depth; i++) {
      put(header(0xfffee00d, '', 0, false));
      put(header(0xfffee0dd, '', 0, false));
    }
  }
  if (off !== nested.length) throw new Error(`nestedInstance: wrote ${off} of ${nested.length} bytes`);
  const dataset = Buffer.concat([identification(uids, explicit), nested]);
  return Buffer.concat([meta(syntax, uids), syntax === 'deflated' ? deflateRawSync(dataset) : dataset]);
}

/**
 * A Deflated Explicit VR Little Endian instance whose data set inflates to about `inflatedBytes` (an OB value of
 * zeros): about 1 KiB per MiB. Built from independently deflated blocks (sync-flushed, so they can follow each
 * other), never holding the inflated bytes.
 */
export function deflateBomb(inflatedBytes: number, uids: ProbeUids = probeUids()): Buffer {
  const MiB = 1024 * 1024;
  const mebibytes = Math.ceil(inflatedBytes / MiB);
  const sync = { finishFlush: constants.Z_SYNC_FLUSH };
  const head = Buffer.concat([identification(uids, true), header(0x00420011, 'OB', mebibytes * MiB, true)]);
  const zeros = deflateRawSync(Buffer.alloc(MiB), sync);
  const blocks = [deflateRawSync(head, sync), ...new Array<Buffer>(mebibytes).fill(zeros), deflateRawSync(Buffer.alloc(0))];
  return Buffer.concat([meta('deflated', uids), ...blocks]);
}
