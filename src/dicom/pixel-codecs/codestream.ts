/**
 * What a compressed frame says about itself, read from its headers before any decoder runs: the size it will
 * decode to (so a frame that would not fit the data set, or a bomb, is refused before a byte is allocated) and
 * whether its coding is lossy. Only the main header is read; nothing here decodes entropy-coded data.
 *
 *   JPEG (ITU-T T.81): SOFn gives precision, lines, samples per line, components; SOS of a lossless process
 *     gives the predictor (Ss) and the point transform (Al, lossy when > 0).
 *   JPEG-LS (ITU-T T.87): SOF55 gives the same; SOS gives NEAR (near-lossless when > 0) and the interleave mode.
 *   JPEG 2000 / HTJ2K (ITU-T T.800 / T.814): SIZ gives the image and component sizes, precision and signedness;
 *     COD the wavelet (9-7 irreversible = lossy); CAP (Part 15) marks an HTJ2K codestream. A JP2 file-format
 *     wrapper, which some writers put in DICOM against PS3.5 A.4.4, is looked through to its codestream box.
 */

export interface FrameHeader {
  family: 'jpeg' | 'jpeg-ls' | 'j2k';
  width: number;
  height: number;
  components: number;
  /** bits per sample of the coded samples */
  precision: number;
  /** JPEG 2000: the first component is coded signed */
  signed?: boolean;
  /** JPEG: the SOF marker (0xC0 baseline, 0xC1 extended, 0xC3 lossless, ...) */
  sof?: number;
  /** JPEG lossless: predictor (selection value); JPEG-LS: NEAR; JPEG lossless: point transform */
  predictor?: number;
  near?: number;
  pointTransform?: number;
  /** JPEG-LS interleave mode (0 none = planar, 1 line, 2 sample) */
  interleave?: number;
  /** JPEG, JPEG-LS: the number of components in the first scan (fewer than `components`: one scan per component) */
  scanComponents?: number;
  /** JPEG 2000: the multiple component transformation (RCT or ICT) is used */
  mct?: boolean;
  /** JPEG 2000: 5-3 reversible wavelet (true) or 9-7 irreversible (false) */
  reversible?: boolean;
  /** JPEG 2000: a CAP marker (Part 15, HTJ2K) is present */
  highThroughput?: boolean;
  /** the codestream to hand to a decoder (a JP2 wrapper removed) */
  codestream: Uint8Array;
  /** true when the coding itself loses information */
  lossy: boolean;
}

export class CodestreamError extends Error {}

function fail(message: string): never {
  throw new CodestreamError(message);
}

const JPEG_SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const JPEG_LOSSLESS_SOF = new Set([0xc3, 0xc7, 0xcb, 0xcf]);

/** JPEG and JPEG-LS share the marker syntax (T.87 annex C): walk the markers up to the first SOS. */
function jpegFamily(data: Uint8Array): FrameHeader {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) fail('the frame does not start with a JPEG SOI marker');
  let off = 2;
  let header: Omit<FrameHeader, 'codestream' | 'lossy'> | undefined;
  for (;;) {
    // Fill bytes (0xFF) may precede a marker.
    while (off < data.length && data[off] === 0xff && data[off + 1] === 0xff) off++;
    if (off + 4 > data.length) fail('the JPEG header ends before its first scan (truncated frame?)');
    if (data[off] !== 0xff) fail(`no JPEG marker where one is expected (byte ${off})`);
    const marker = data[off + 1]!;
    if (marker === 0xd9) fail('the JPEG stream ends (EOI) before its first scan');
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      off += 2;
      continue;
    }
    const length = view.getUint16(off + 2);
    if (length < 2 || off + 2 + length > data.length) fail('a JPEG marker segment runs past the end of the frame (truncated frame?)');
    const seg = off + 4;
    if (JPEG_SOF.has(marker) || marker === 0xf7) {
      if (length < 8) fail('the JPEG frame header (SOF) is too short');
      const components = data[seg + 5]!;
      if (length < 8 + 3 * components) fail('the JPEG frame header (SOF) is too short for its components');
      header = {
        family: marker === 0xf7 ? 'jpeg-ls' : 'jpeg',
        sof: marker,
        precision: data[seg]!,
        height: view.getUint16(seg + 1),
        width: view.getUint16(seg + 3),
        components,
      };
    } else if (marker === 0xda) {
      if (!header) fail('the JPEG stream has a scan before its frame header (no SOF)');
      const ns = data[seg]!;
      if (length < 6 + 2 * ns) fail('the JPEG scan header (SOS) is too short');
      const after = seg + 1 + 2 * ns;
      header.scanComponents = ns;
      if (header.family === 'jpeg-ls') {
        header.near = data[after]!;
        header.interleave = data[after + 1]!;
        header.pointTransform = data[after + 2]! & 0x0f;
      } else {
        header.predictor = data[after]!;
        header.pointTransform = data[after + 2]! & 0x0f;
      }
      const lossy =
        header.family === 'jpeg-ls'
          ? (header.near ?? 0) > 0 || (header.pointTransform ?? 0) > 0
          : !JPEG_LOSSLESS_SOF.has(header.sof!) || (header.pointTransform ?? 0) > 0;
      return { ...header, codestream: data, lossy };
    }
    off += 2 + length;
  }
}

/** The contiguous codestream box of a JP2 file (ISO/IEC 15444-1 annex I), or the data itself. */
function unwrapJp2(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off + 8 <= data.length) {
    let length = view.getUint32(off);
    const type = String.fromCharCode(data[off + 4]!, data[off + 5]!, data[off + 6]!, data[off + 7]!);
    let headerLength = 8;
    if (length === 1) {
      if (off + 16 > data.length) break;
      const high = view.getUint32(off + 8);
      if (high !== 0) fail('a JP2 box is too large');
      length = view.getUint32(off + 12);
      headerLength = 16;
    } else if (length === 0) {
      length = data.length - off;
    }
    if (length < headerLength || off + length > data.length) fail('a JP2 box runs past the end of the frame (truncated frame?)');
    if (type === 'jp2c') return data.subarray(off + headerLength, off + length);
    off += length;
  }
  fail('the JP2 file has no codestream box (jp2c)');
}

function j2k(input: Uint8Array): FrameHeader {
  const isJp2 = input.length >= 12 && input[0] === 0 && input[1] === 0 && input[2] === 0 && input[3] === 0x0c && input[4] === 0x6a && input[5] === 0x50;
  const data = isJp2 ? unwrapJp2(input) : input;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0x4f) fail('the frame does not start with a JPEG 2000 SOC marker');
  if (data[2] !== 0xff || data[3] !== 0x51) fail('the JPEG 2000 codestream has no SIZ marker after SOC');
  if (data.length < 4 + 40) fail('the JPEG 2000 SIZ marker is truncated');
  const lsiz = view.getUint16(4);
  const siz = 6;
  const xsiz = view.getUint32(siz + 2);
  const ysiz = view.getUint32(siz + 6);
  const xosiz = view.getUint32(siz + 10);
  const yosiz = view.getUint32(siz + 14);
  const csiz = view.getUint16(siz + 34);
  if (csiz < 1 || lsiz < 38 + 3 * csiz || 4 + lsiz > data.length) fail('the JPEG 2000 SIZ marker is inconsistent or truncated');
  const ssiz = data[siz + 36]!;
  const header: FrameHeader = {
    family: 'j2k',
    width: xsiz - xosiz,
    height: ysiz - yosiz,
    components: csiz,
    precision: (ssiz & 0x7f) + 1,
    signed: (ssiz & 0x80) !== 0,
    codestream: data,
    lossy: false,
  };
  for (let c = 1; c < csiz; c++) {
    const s = data[siz + 36 + 3 * c]!;
    const dx = data[siz + 37 + 3 * c]!;
    const dy = data[siz + 38 + 3 * c]!;
    if ((s & 0x7f) + 1 !== header.precision || dx !== 1 || dy !== 1) fail('JPEG 2000 components of different precision or subsampled components are not supported');
  }
  if (data[siz + 37] !== 1 || data[siz + 38] !== 1) fail('subsampled JPEG 2000 components are not supported');
  // The rest of the main header, up to the first tile-part (SOT): COD and CAP.
  let off = 4 + lsiz;
  while (off + 4 <= data.length) {
    if (data[off] !== 0xff) fail(`no JPEG 2000 marker where one is expected (byte ${off})`);
    const marker = data[off + 1]!;
    if (marker === 0x90 || marker === 0x93 || marker === 0xd9) break; // SOT, SOD, EOC: main header done
    const length = view.getUint16(off + 2);
    if (length < 2 || off + 2 + length > data.length) fail('a JPEG 2000 marker segment runs past the end of the frame (truncated frame?)');
    if (marker === 0x50) header.highThroughput = true;
    if (marker === 0x52 && length >= 12) {
      header.mct = data[off + 8] === 1;
      header.reversible = data[off + 13] === 1;
    }
    off += 2 + length;
  }
  if (header.reversible === undefined) fail('the JPEG 2000 main header has no COD marker (truncated frame?)');
  header.lossy = !header.reversible;
  return header;
}

/**
 * A frame must end with its end marker (JPEG and JPEG-LS EOI, JPEG 2000 EOC; both FF D9), after which only padding
 * may follow: fragments have even lengths (PS3.5 A.4), and writers pad with 00 or FF (JPGExtended.dcm does). Decoders fill a truncated frame with grey and
 * call it a warning; here it is refused, so a cut-off image is never passed on as if it were whole.
 */
function requireEnd(data: Uint8Array): void {
  let end = data.length;
  while (end > 2 && (data[end - 1] === 0 || data[end - 1] === 0xff)) end--;
  if (end < 4 || data[end - 2] !== 0xff || data[end - 1] !== 0xd9) fail('the frame does not end with an end-of-image marker (truncated frame?)');
}

/** The header of one compressed frame of the given family. Throws CodestreamError with a reason. */
export function readFrameHeader(family: 'jpeg' | 'jpeg-ls' | 'j2k', data: Uint8Array): FrameHeader {
  const header = family === 'j2k' ? j2k(data) : jpegFamily(data);
  if (header.family !== family) fail(family === 'jpeg-ls' ? 'the frame is JPEG, not JPEG-LS (no SOF55 marker)' : 'the frame is JPEG-LS, not JPEG');
  requireEnd(header.codestream);
  return header;
}
