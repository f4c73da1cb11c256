/**
 * Encapsulated Pixel Data (PS3.5 A.4) cut into frames. The value is a sequence of items: the Basic Offset Table
 * first (possibly empty), then the fragments, then a Sequence Delimitation Item. Which fragments make a frame:
 *   - an Extended Offset Table (7FE0,0001)/(7FE0,0002) (PS3.3 C.7.6.3.1.8), when present, says it;
 *   - else a non-empty Basic Offset Table: the offset of each frame's first fragment item;
 *   - else one frame: every fragment; as many fragments as frames: one each (always so for RLE, PS3.5 A.4.2);
 *   - else (more fragments than frames, no table) a fragment that starts with the codestream's start marker
 *     (SOI for JPEG and JPEG-LS, SOC or a JP2 signature for JPEG 2000) starts a frame (PS3.5 A.4.1, 8.2).
 */

export class FragmentError extends Error {}

function fail(message: string): never {
  throw new FragmentError(message);
}

interface Fragment {
  /** offset of the item tag, from the first byte of the first fragment's item tag */
  offset: number;
  value: Uint8Array;
}

function items(encapsulated: Uint8Array): { table: Uint8Array; fragments: Fragment[] } {
  const view = new DataView(encapsulated.buffer, encapsulated.byteOffset, encapsulated.byteLength);
  const found: Array<{ at: number; value: Uint8Array }> = [];
  let off = 0;
  for (;;) {
    if (off + 8 > encapsulated.length) fail('the encapsulated Pixel Data ends without a Sequence Delimitation Item');
    const group = view.getUint16(off, true);
    const element = view.getUint16(off + 2, true);
    const length = view.getUint32(off + 4, true);
    if (group !== 0xfffe) fail('the encapsulated Pixel Data holds something that is not an item');
    if (element === 0xe0dd) break;
    if (element !== 0xe000 || length === 0xffffffff) fail('the encapsulated Pixel Data holds an item of undefined length or an unexpected delimiter');
    if (off + 8 + length > encapsulated.length) fail('an encapsulated Pixel Data fragment runs past the end of the data');
    found.push({ at: off, value: encapsulated.subarray(off + 8, off + 8 + length) });
    off += 8 + length;
  }
  if (found.length === 0) fail('the encapsulated Pixel Data has no Basic Offset Table item');
  const first = found[1]?.at ?? 0;
  return { table: found[0]!.value, fragments: found.slice(1).map((f) => ({ offset: f.at - first, value: f.value })) };
}

function join(parts: Fragment[]): Uint8Array {
  if (parts.length === 1) return parts[0]!.value;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.value.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p.value, at);
    at += p.value.length;
  }
  return out;
}

export type StartMarker = 'jpeg' | 'j2k' | 'none';

function startsFrame(value: Uint8Array, marker: StartMarker): boolean {
  if (marker === 'jpeg') return value[0] === 0xff && value[1] === 0xd8;
  if (marker === 'j2k') return (value[0] === 0xff && value[1] === 0x4f) || (value[0] === 0 && value[1] === 0 && value[2] === 0 && value[3] === 0x0c && value[4] === 0x6a);
  return false;
}

export interface ExtendedOffsetTable {
  offsets: Uint8Array;
  lengths?: Uint8Array;
}

function uint64s(bytes: Uint8Array, what: string): number[] {
  if (bytes.length % 8 !== 0) fail(`the ${what} is not a list of 64-bit values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    const value = view.getBigUint64(i, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`the ${what} holds an impossible value`);
    out.push(Number(value));
  }
  return out;
}

/** The compressed bytes of each of `frames` frames (views where a frame is one fragment). */
export function splitFrames(encapsulated: Uint8Array, frames: number, marker: StartMarker, extended?: ExtendedOffsetTable): Uint8Array[] {
  const { table, fragments } = items(encapsulated);
  const nonEmpty = fragments.filter((f) => f.value.length > 0);
  if (nonEmpty.length === 0) fail('the encapsulated Pixel Data has no fragment');
  const indexAt = (offset: number, what: string): number => {
    const i = fragments.findIndex((f) => f.offset === offset);
    if (i < 0) fail(`the ${what} points between fragments`);
    return i;
  };

  if (extended && extended.offsets.length > 0) {
    const offsets = uint64s(extended.offsets, 'Extended Offset Table');
    const lengths = extended.lengths ? uint64s(extended.lengths, 'Extended Offset Table Lengths') : undefined;
    if (offsets.length !== frames || (lengths && lengths.length !== frames)) fail(`the Extended Offset Table lists ${offsets.length} frames, Number of Frames is ${frames}`);
    return offsets.map((offset, f) => {
      const start = indexAt(offset, 'Extended Offset Table');
      const end = f + 1 < frames ? indexAt(offsets[f + 1]!, 'Extended Offset Table') : fragments.length;
      if (end <= start) fail('the Extended Offset Table is not in increasing order');
      const bytes = join(fragments.slice(start, end));
      const length = lengths?.[f];
      if (length !== undefined && length > bytes.length) fail('a frame is shorter than its Extended Offset Table Lengths entry');
      return length === undefined ? bytes : bytes.subarray(0, length);
    });
  }

  if (table.length > 0) {
    if (table.length % 4 !== 0) fail('the Basic Offset Table is not a list of 32-bit offsets');
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const offsets = Array.from({ length: table.length / 4 }, (_, i) => view.getUint32(4 * i, true));
    if (offsets.length !== frames) fail(`the Basic Offset Table lists ${offsets.length} frames, Number of Frames is ${frames}`);
    return offsets.map((offset, f) => {
      const start = indexAt(offset, 'Basic Offset Table');
      const end = f + 1 < frames ? indexAt(offsets[f + 1]!, 'Basic Offset Table') : fragments.length;
      if (end <= start) fail('the Basic Offset Table is not in increasing order');
      return join(fragments.slice(start, end));
    });
  }

  if (frames === 1) return [join(fragments)];
  if (nonEmpty.length === frames) return nonEmpty.map((f) => f.value);
  if (nonEmpty.length < frames) fail(`${frames} frames are declared, the encapsulated Pixel Data has ${nonEmpty.length} fragments`);
  if (marker === 'none') fail(`${nonEmpty.length} fragments for ${frames} frames and no offset table (RLE needs one fragment per frame)`);
  const groups: Fragment[][] = [];
  for (const f of nonEmpty) {
    if (startsFrame(f.value, marker) || groups.length === 0) groups.push([f]);
    else groups[groups.length - 1]!.push(f);
  }
  if (groups.length !== frames) fail(`${frames} frames are declared, the fragments hold ${groups.length} codestreams`);
  return groups.map(join);
}
