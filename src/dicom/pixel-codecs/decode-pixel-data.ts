import { AnofairError } from '../../errors/anofair-error.js';
import { firstString, TRANSFER_SYNTAX, type DicomDataset, type DicomFile } from '../dataset.js';
import { transferSyntaxOf } from '../part10.js';
import { nativePixelBytes } from '../pixel-data.js';
import { CodestreamError, readFrameHeader, type FrameHeader } from './codestream.js';
import { FragmentError, splitFrames, type StartMarker } from './fragments.js';
import { decodeRleFrame, RleError } from './rle.js';
import { CodecCheckError, CodecError, decodeWithJpegLossless, decodeWithLibjpeg3, decodeWithWasm, type FrameInfo, type WasmCodec } from './wasm-codecs.js';

/**
 * Pixel Data in any encoding a hospital stores, as native little-endian samples: the one door through which the
 * pixel step reads an image. Everything about an image is checked before a decoder runs: the attributes make
 * sense, the decoded size fits the memory bound, every frame's own header agrees with the data set. A damaged
 * frame is an AnofairError(PIXEL_DECODE), never a crash; messages name attributes and sizes, never values.
 * docs/PIXEL-CODECS.md lists the syntaxes, the decoder of each and why.
 */

/** The Image Pixel Module attributes that describe the samples (PS3.3 C.7.6.3). */
export interface PixelGeometry {
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: 0 | 1;
  /** Photometric Interpretation of the decoded samples (a YBR JPEG decoded to RGB says RGB) */
  photometricInterpretation: string;
  planarConfiguration: 0 | 1;
}

export interface DecodedPixelData extends PixelGeometry {
  /** transfer syntax the Pixel Data was read in */
  sourceTransferSyntaxUID: string;
  /** true when the source encoding was lossy (JPEG baseline/extended, lossy J2K/HTJ2K, JPEG-LS near-lossless) */
  lossy: boolean;
  /** the pixels as native Explicit VR Little Endian Pixel Data would hold them: frames one after another, little-endian samples */
  bytes: Uint8Array;
}

export const DEFAULT_MAX_DECODED_BYTES = 512 * 1024 * 1024;

type Kind = 'jpeg' | 'jpeg-ls' | 'j2k' | 'htj2k' | 'rle';

/** The encapsulated syntaxes decoded, and whether the syntax itself is always lossy. */
const COMPRESSED: Record<string, { kind: Kind; lossy: boolean; name: string }> = {
  '1.2.840.10008.1.2.4.50': { kind: 'jpeg', lossy: true, name: 'JPEG Baseline (Process 1)' },
  '1.2.840.10008.1.2.4.51': { kind: 'jpeg', lossy: true, name: 'JPEG Extended (Process 2 & 4)' },
  '1.2.840.10008.1.2.4.57': { kind: 'jpeg', lossy: false, name: 'JPEG Lossless (Process 14)' },
  '1.2.840.10008.1.2.4.70': { kind: 'jpeg', lossy: false, name: 'JPEG Lossless (Process 14, SV1)' },
  '1.2.840.10008.1.2.4.80': { kind: 'jpeg-ls', lossy: false, name: 'JPEG-LS Lossless' },
  '1.2.840.10008.1.2.4.81': { kind: 'jpeg-ls', lossy: false, name: 'JPEG-LS Near-Lossless' },
  '1.2.840.10008.1.2.4.90': { kind: 'j2k', lossy: false, name: 'JPEG 2000 (Lossless Only)' },
  '1.2.840.10008.1.2.4.91': { kind: 'j2k', lossy: false, name: 'JPEG 2000' },
  '1.2.840.10008.1.2.4.201': { kind: 'htj2k', lossy: false, name: 'HTJ2K (Lossless Only)' },
  '1.2.840.10008.1.2.4.202': { kind: 'htj2k', lossy: false, name: 'HTJ2K with RPCL Options (Lossless Only)' },
  '1.2.840.10008.1.2.4.203': { kind: 'htj2k', lossy: false, name: 'HTJ2K' },
  '1.2.840.10008.1.2.5': { kind: 'rle', lossy: false, name: 'RLE Lossless' },
};

const NATIVE: ReadonlySet<string> = new Set(Object.values(TRANSFER_SYNTAX));

export function isSupportedPixelSyntax(uid: string): boolean {
  return NATIVE.has(uid) || uid in COMPRESSED;
}

function unsupported(message: string): AnofairError {
  return new AnofairError('PIXEL_UNSUPPORTED', message);
}

function decodeError(message: string, cause?: unknown): AnofairError {
  return new AnofairError('PIXEL_DECODE', message, undefined, cause === undefined ? undefined : { cause });
}

function integer(ds: DicomDataset, tag: string): number | undefined {
  const s = firstString(ds, tag);
  if (s === undefined || s === '') return undefined;
  const v = Number(s.split('\\')[0]);
  return Number.isInteger(v) ? v : Number.NaN;
}

type Geometry = PixelGeometry;

/** The Image Pixel Module attributes (PS3.3 C.7.6.3), each checked for sense. */
function geometry(ds: DicomDataset): Geometry {
  const required = (tag: string, name: string): number => {
    const v = integer(ds, tag);
    if (v === undefined) throw unsupported(`${name} (${tag.slice(0, 4)},${tag.slice(4)}) is absent`);
    if (!Number.isInteger(v) || v < 1) throw unsupported(`${name} (${tag.slice(0, 4)},${tag.slice(4)}) is not a positive integer`);
    return v;
  };
  const rows = required('00280010', 'Rows');
  const columns = required('00280011', 'Columns');
  const bitsAllocated = required('00280100', 'Bits Allocated');
  const samplesPerPixel = integer(ds, '00280002') ?? 1;
  const frames = integer(ds, '00280008') ?? 1;
  const bitsStored = integer(ds, '00280101') ?? bitsAllocated;
  const highBit = integer(ds, '00280102') ?? bitsStored - 1;
  const pixelRepresentation = integer(ds, '00280103') ?? 0;
  const planar = integer(ds, '00280006') ?? 0;
  const photometricInterpretation = (firstString(ds, '00280004') ?? '').trim();
  if (![1, 8, 16, 32].includes(bitsAllocated)) throw unsupported(`Bits Allocated ${bitsAllocated} is not 1, 8, 16 or 32`);
  if (!Number.isInteger(samplesPerPixel) || (samplesPerPixel !== 1 && samplesPerPixel !== 3)) throw unsupported(`Samples per Pixel ${samplesPerPixel} is not 1 or 3`);
  if (!Number.isInteger(frames) || frames < 1) throw unsupported('Number of Frames is not a positive integer');
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > bitsAllocated) throw unsupported(`Bits Stored ${bitsStored} does not fit Bits Allocated ${bitsAllocated}`);
  if (!Number.isInteger(highBit) || highBit < bitsStored - 1 || highBit >= bitsAllocated) throw unsupported(`High Bit ${highBit} does not fit Bits Stored ${bitsStored} and Bits Allocated ${bitsAllocated}`);
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) throw unsupported('Pixel Representation is neither 0 nor 1');
  if (planar !== 0 && planar !== 1) throw unsupported('Planar Configuration is neither 0 nor 1');
  if (!photometricInterpretation) throw unsupported('Photometric Interpretation (0028,0004) is absent');
  const monochrome = photometricInterpretation === 'MONOCHROME1' || photometricInterpretation === 'MONOCHROME2' || photometricInterpretation === 'PALETTE COLOR';
  if (monochrome !== (samplesPerPixel === 1)) throw unsupported(`Photometric Interpretation ${photometricInterpretation} does not go with Samples per Pixel ${samplesPerPixel}`);
  return { rows, columns, frames, samplesPerPixel, bitsAllocated, bitsStored, highBit, pixelRepresentation, photometricInterpretation, planarConfiguration: samplesPerPixel > 1 ? planar : 0 };
}

function frameBytes(g: Geometry): number {
  return g.bitsAllocated === 1 ? Math.ceil((g.rows * g.columns * g.samplesPerPixel) / 8) : g.rows * g.columns * g.samplesPerPixel * (g.bitsAllocated / 8);
}

function totalBytes(g: Geometry): number {
  return g.bitsAllocated === 1 ? Math.ceil((g.rows * g.columns * g.samplesPerPixel * g.frames) / 8) : frameBytes(g) * g.frames;
}

/** The syntax the held Pixel Data is encoded in, and the one to report (deflated input is held inflated). */
function syntaxes(file: DicomFile): { held: string; source: string } {
  const held = transferSyntaxOf(file);
  const source = file.sourceTransferSyntaxUID;
  const consistent = source === held || (source === TRANSFER_SYNTAX.DeflatedExplicitVRLittleEndian && held === TRANSFER_SYNTAX.ExplicitVRLittleEndian);
  return { held, source: source && consistent ? source : held };
}

function binary(ds: DicomDataset, tag: string): Uint8Array | undefined {
  const v = ds[tag]?.Value?.[0] as ArrayBuffer | ArrayBufferView | undefined;
  if (!v) return undefined;
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Decode the Pixel Data of `file` (every frame) to native little-endian samples. Throws AnofairError:
 * PIXEL_UNSUPPORTED when an attribute makes no sense or the decoded image would exceed `maxDecodedBytes`
 * (default 512 MiB; checked before anything is decoded), PIXEL_DECODE for a syntax not decoded here or a damaged
 * frame. For native input the bytes are a view into the file's Pixel Data, not a copy.
 */
export async function decodePixelData(file: DicomFile, limits: { maxDecodedBytes?: number } = {}): Promise<DecodedPixelData> {
  const { held, source } = syntaxes(file);
  const ds = file.dataset;
  const compressed = COMPRESSED[held];
  if (!compressed && !NATIVE.has(held)) throw decodeError(`the transfer syntax ${held} is not one this gateway decodes`);
  if (!file.encapsulatedPixelData && !ds['7FE00010']) throw unsupported('the data set has no Pixel Data (7FE0,0010)');
  const g = geometry(ds);
  const max = limits.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES;
  const total = totalBytes(g);
  if (total > max) {
    throw unsupported(`the decoded image would take ${total} bytes (${g.rows} x ${g.columns} x ${g.samplesPerPixel} samples x ${g.frames} frames x ${g.bitsAllocated} bits), more than the limit of ${max}`);
  }
  if (!compressed) {
    if (file.encapsulatedPixelData) throw decodeError(`the Pixel Data is encapsulated, yet the transfer syntax ${held} is native`);
    return decodeNative(ds, g, source, total);
  }
  if (!file.encapsulatedPixelData) throw decodeError(`the transfer syntax is ${compressed.name}, yet the Pixel Data is not encapsulated`);
  if (g.bitsAllocated === 1 || (g.bitsAllocated === 32 && compressed.kind !== 'rle')) throw unsupported(`Bits Allocated ${g.bitsAllocated} cannot be ${compressed.name}`);
  if (g.photometricInterpretation === 'PALETTE COLOR' && compressed.kind === 'jpeg' && compressed.lossy) throw unsupported('lossy JPEG of PALETTE COLOR is not allowed (PS3.5 8.2.1)');

  let frames: Uint8Array[];
  try {
    const marker: StartMarker = compressed.kind === 'rle' ? 'none' : compressed.kind === 'jpeg' || compressed.kind === 'jpeg-ls' ? 'jpeg' : 'j2k';
    const eot = binary(ds, '7FE00001');
    frames = splitFrames(file.encapsulatedPixelData, g.frames, marker, eot ? { offsets: eot, lengths: binary(ds, '7FE00002') } : undefined);
  } catch (err) {
    if (err instanceof FragmentError) throw decodeError(err.message, err);
    throw err;
  }

  const out = new Uint8Array(total);
  const size = frameBytes(g);
  // JPEG 2000 and HTJ2K (4.91, 4.203) may be lossy with the reversible wavelet too (layers dropped to a rate, as
  // GDCM does); only the data set's Lossy Image Compression (0028,2110) can tell, so "01" there counts as lossy.
  // (In the lossless-only syntaxes it says an earlier lossy step, not this encoding: it is not counted.)
  const declaredLossy = (held === '1.2.840.10008.1.2.4.91' || held === '1.2.840.10008.1.2.4.203') && firstString(ds, '00282110') === '01';
  let lossy = compressed.lossy || declaredLossy;
  let photometric = g.photometricInterpretation;
  for (let f = 0; f < frames.length; f++) {
    const where = frames.length > 1 ? ` (frame ${f + 1} of ${frames.length})` : '';
    try {
      const r = await decodeFrame(compressed.kind, frames[f]!, g, declaredLossy);
      if (r.pixels.length !== size) throw decodeError(`the frame decodes to ${r.pixels.length} bytes, the data set needs ${size}`);
      out.set(r.pixels, f * size);
      lossy ||= r.lossy;
      photometric = r.photometric;
    } catch (err) {
      if (err instanceof AnofairError) throw new AnofairError(err.code, err.message + where, err.details, { cause: err.cause });
      if (err instanceof CodestreamError || err instanceof RleError || err instanceof CodecError || err instanceof CodecCheckError) {
        throw decodeError(`${compressed.name}: ${err.message}${where}`, err);
      }
      throw decodeError(`${compressed.name}: the frame cannot be decoded${where}`, err);
    }
  }
  return { ...g, sourceTransferSyntaxUID: source, lossy, photometricInterpretation: photometric, planarConfiguration: 0, bytes: out };
}

/** Native Pixel Data: the reader holds it little endian whatever the syntax (big endian is swapped on reading). */
function decodeNative(ds: DicomDataset, g: Geometry, source: string, total: number): DecodedPixelData {
  if (/^YBR_(FULL_422|PARTIAL_42[02])$/.test(g.photometricInterpretation)) {
    throw unsupported(`native Pixel Data with Photometric Interpretation ${g.photometricInterpretation} (subsampled chrominance) is not supported`);
  }
  const bytes = nativePixelBytes(ds);
  if (!bytes) throw unsupported('the Pixel Data (7FE0,0010) has no value');
  if (bytes.length < total) throw decodeError(`the Pixel Data holds ${bytes.length} bytes, the image needs ${total} (truncated?)`);
  return { ...g, sourceTransferSyntaxUID: source, lossy: false, bytes: bytes.subarray(0, total) };
}

interface FrameResult {
  pixels: Uint8Array;
  lossy: boolean;
  photometric: string;
}

function checkHeader(h: FrameHeader, g: Geometry): void {
  if (h.width !== g.columns || h.height !== g.rows) {
    throw decodeError(`the frame is ${h.width} x ${h.height} pixels, the data set says ${g.columns} x ${g.rows} (Columns x Rows)`);
  }
  if (h.components !== g.samplesPerPixel) throw decodeError(`the frame has ${h.components} components, Samples per Pixel is ${g.samplesPerPixel}`);
  if (h.precision > g.bitsAllocated) throw decodeError(`the frame has ${h.precision}-bit samples, Bits Allocated is ${g.bitsAllocated}`);
}

/** The codec's own reading of the frame must agree with the data set (checked again after decoding). */
function checkInfo(g: Geometry): (info: FrameInfo) => void {
  return (info) => {
    if (info.width !== g.columns || info.height !== g.rows || info.componentCount !== g.samplesPerPixel) {
      throw new CodecCheckError(`the decoder reads a ${info.width} x ${info.height} frame of ${info.componentCount} components, the data set says ${g.columns} x ${g.rows} of ${g.samplesPerPixel}`);
    }
  };
}

async function decodeFrame(kind: Kind, data: Uint8Array, g: Geometry, declaredLossy: boolean): Promise<FrameResult> {
  const bytesPerSample = g.bitsAllocated / 8;
  const pixels = g.rows * g.columns;
  if (kind === 'rle') {
    return { pixels: decodeRleFrame(data, pixels, g.samplesPerPixel, bytesPerSample), lossy: false, photometric: g.photometricInterpretation };
  }

  if (kind === 'jpeg') {
    const h = readFrameHeader('jpeg', data);
    checkHeader(h, g);
    const colourTransform = h.lossy && g.samplesPerPixel === 3;
    const photometric = colourTransform ? 'RGB' : g.photometricInterpretation;
    const lossless = h.sof === 0xc3 || h.sof === 0xc7;
    let samples: Uint8Array;
    let codecBytes: number;
    if (!lossless && h.precision <= 8) {
      const r = await decodeWithWasm('libjpeg', data, checkInfo(g));
      samples = r.bytes;
      codecBytes = r.bytesPerSample;
    } else {
      codecBytes = h.precision > 8 ? 2 : 1;
      const jsCan = lossless && (h.pointTransform ?? 0) === 0 && h.scanComponents === h.components && (h.components === 1 || h.precision <= 8);
      samples = jsCan
        ? decodeWithJpegLossless(data, codecBytes)
        : await decodeWithLibjpeg3(data, {
            rows: g.rows,
            columns: g.columns,
            samplesPerPixel: g.samplesPerPixel,
            bitsAllocated: codecBytes * 8,
            bitsStored: h.precision,
            pixelRepresentation: g.pixelRepresentation,
            photometricInterpretation: g.photometricInterpretation,
            convertToRgb: colourTransform,
          });
    }
    return { pixels: toContainer(samples, codecBytes, g, { signed: false, lossy: h.lossy }), lossy: h.lossy, photometric };
  }

  if (kind === 'jpeg-ls') {
    const h = readFrameHeader('jpeg-ls', data);
    checkHeader(h, g);
    const r = await decodeWithWasm('charls', data, checkInfo(g));
    let samples = r.bytes;
    if (g.samplesPerPixel > 1 && (r.interleave ?? h.interleave) === 0) samples = interleavePlanes(samples, pixels, g.samplesPerPixel, r.bytesPerSample);
    return { pixels: toContainer(samples, r.bytesPerSample, g, { signed: false, lossy: h.lossy }), lossy: h.lossy, photometric: g.photometricInterpretation };
  }

  // JPEG 2000 and HTJ2K
  const h = readFrameHeader('j2k', data);
  checkHeader(h, g);
  const codec: WasmCodec = kind === 'htj2k' && h.highThroughput ? 'openjph' : 'openjpeg';
  const r = await decodeWithWasm(codec, h.codestream, checkInfo(g));
  // OpenJPEG and OpenJPH undo the RCT/ICT colour transform: the samples are RGB.
  const photometric = g.samplesPerPixel === 3 && h.mct && /^YBR_(RCT|ICT)$/.test(g.photometricInterpretation) ? 'RGB' : g.photometricInterpretation;
  return { pixels: toContainer(r.bytes, r.bytesPerSample, g, { signed: r.info.isSigned ?? h.signed ?? false, lossy: h.lossy || declaredLossy }), lossy: h.lossy, photometric };
}

/** Component planes (JPEG-LS interleave mode none) to pixel-interleaved samples. */
function interleavePlanes(planes: Uint8Array, pixels: number, components: number, bytes: number): Uint8Array {
  const out = new Uint8Array(planes.length);
  for (let c = 0; c < components; c++) {
    for (let p = 0; p < pixels; p++) {
      for (let b = 0; b < bytes; b++) out[(p * components + c) * bytes + b] = planes[(c * pixels + p) * bytes + b]!;
    }
  }
  return out;
}

/**
 * Decoder samples into the data set's container (8-bit samples widened when Bits Allocated is 16), each made a
 * value that Bits Stored and Pixel Representation can hold, so that bits above High Bit are what a native reader
 * expects (a sign extension for signed data, zero otherwise):
 *   - a codestream that codes samples as unsigned (JPEG and JPEG-LS always, JPEG 2000 from some writers) carries
 *     signed data as its bit pattern: the low Bits Stored bits, sign-extended for signed data (and masked for
 *     unsigned data, whose lossless codestream may carry bits above High Bit);
 *   - a lossy decode may overshoot the range (GDCM, for one, writes 16-bit JPEG 2000 for 14-bit data, and ringing
 *     goes past 16383): such values are clamped to the range, never wrapped.
 */
function toContainer(samples: Uint8Array, codecBytes: number, g: Geometry, stream: { signed: boolean; lossy: boolean }): Uint8Array {
  const bytes = g.bitsAllocated / 8;
  if (codecBytes > bytes) throw decodeError(`the frame decodes to ${codecBytes * 8}-bit samples, Bits Allocated is ${g.bitsAllocated}`);
  const count = samples.length / codecBytes;
  const bits = g.bitsStored;
  const signed = g.pixelRepresentation === 1;
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const mask = 2 ** bits - 1;
  const value = (raw: number): number => {
    if (stream.signed || (stream.lossy && !signed)) return Math.min(hi, Math.max(lo, raw));
    const v = raw & mask;
    return signed && v > hi ? v - 2 ** bits : v;
  };
  if (bytes === 1) {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = value(stream.signed ? (samples[i]! << 24) >> 24 : samples[i]!) & 0xff;
    return out;
  }
  const out = new Uint8Array(count * 2);
  const view = new DataView(out.buffer);
  const input = new DataView(samples.buffer, samples.byteOffset, samples.byteLength);
  for (let i = 0; i < count; i++) {
    const raw = codecBytes === 2 ? (stream.signed ? input.getInt16(2 * i, true) : input.getUint16(2 * i, true)) : stream.signed ? input.getInt8(i) : input.getUint8(i);
    view.setUint16(2 * i, value(raw) & 0xffff, true);
  }
  return out;
}

const PIXEL_DATA = '7FE00010';

function us(value: number): { vr: string; Value: number[] } {
  return { vr: 'US', Value: [value] };
}

/**
 * A copy of `file` whose Pixel Data is `bytes` (native, little endian), written as Explicit VR Little Endian: File
 * Meta transfer syntax updated, encapsulated data removed, Photometric/Planar/Bits as given. The Extended Offset
 * Table, which only encapsulated data may have, goes. When `pixels` says it was decoded from a lossy encoding (a
 * DecodedPixelData does), Lossy Image Compression (0028,2110) becomes "01": once lossy, an image stays marked so
 * (PS3.3 C.7.6.1.1.5). Throws PIXEL_UNSUPPORTED when `bytes` is not the size the data set's Rows, Columns and
 * Number of Frames need.
 */
export function withNativePixelData(
  file: DicomFile,
  pixels: Pick<DecodedPixelData, 'bytes' | 'photometricInterpretation' | 'planarConfiguration' | 'bitsAllocated' | 'bitsStored' | 'highBit' | 'pixelRepresentation' | 'samplesPerPixel'> & {
    lossy?: boolean;
  },
): DicomFile {
  const dataset: DicomDataset = { ...file.dataset };
  const rows = integer(dataset, '00280010');
  const columns = integer(dataset, '00280011');
  const frames = integer(dataset, '00280008') ?? 1;
  if (!rows || !columns || !Number.isInteger(rows) || !Number.isInteger(columns) || !Number.isInteger(frames) || frames < 1) {
    throw unsupported('Rows, Columns and Number of Frames must be positive integers to hold native Pixel Data');
  }
  const expected =
    pixels.bitsAllocated === 1 ? Math.ceil((rows * columns * pixels.samplesPerPixel * frames) / 8) : rows * columns * pixels.samplesPerPixel * frames * (pixels.bitsAllocated / 8);
  if (pixels.bytes.length !== expected) throw unsupported(`the pixels are ${pixels.bytes.length} bytes, Rows x Columns x Samples x Frames x Bits Allocated need ${expected}`);
  dataset['00280002'] = us(pixels.samplesPerPixel);
  dataset['00280004'] = { vr: 'CS', Value: [pixels.photometricInterpretation] };
  if (pixels.samplesPerPixel > 1) dataset['00280006'] = us(pixels.planarConfiguration);
  else delete dataset['00280006'];
  dataset['00280100'] = us(pixels.bitsAllocated);
  dataset['00280101'] = us(pixels.bitsStored);
  dataset['00280102'] = us(pixels.highBit);
  dataset['00280103'] = us(pixels.pixelRepresentation);
  if (pixels.lossy) dataset['00282110'] = { vr: 'CS', Value: ['01'] };
  delete dataset['7FE00001'];
  delete dataset['7FE00002'];
  dataset[PIXEL_DATA] = { vr: pixels.bitsAllocated > 8 ? 'OW' : 'OB', Value: [pixels.bytes] };
  const meta: DicomDataset = { ...file.meta, '00020010': { vr: 'UI', Value: [TRANSFER_SYNTAX.ExplicitVRLittleEndian] } };
  const out: DicomFile = { meta, dataset };
  if (file.sourceTransferSyntaxUID) out.sourceTransferSyntaxUID = file.sourceTransferSyntaxUID;
  if (file.repairs) out.repairs = [...file.repairs];
  return out;
}
