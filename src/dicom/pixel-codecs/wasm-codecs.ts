import { createRequire } from 'node:module';

/**
 * The WebAssembly decoders, each instantiated lazily, once per thread (a module-level promise: every worker
 * thread has its own), and dropped after a failure so that a decoder left in a bad state by a damaged frame is
 * never used again. Their console output is discarded: a gateway's logs are its own.
 *
 * Which package decodes what, and why (docs/PIXEL-CODECS.md says more):
 *   - JPEG 8-bit lossy (4.50, 4.51 with 8-bit precision): @cornerstonejs/codec-libjpeg-turbo-8bit, libjpeg-turbo;
 *     it converts YCbCr to RGB as libjpeg decides from the stream (JFIF/Adobe markers, component ids).
 *   - JPEG 12-bit lossy (4.51 with 12-bit precision): dcmjs-codecs, a WebAssembly build of libjpeg-turbo 3 with its
 *     12-bit data path. The cornerstone family has no 12-bit package: cornerstone3D decodes these with a pdf.js
 *     derived JavaScript decoder that ships only inside @cornerstonejs/dicom-image-loader, whose peer dependencies
 *     (@cornerstonejs/core, vtk.js) are a browser viewer. jpeg-js clamps to 8 bits. dcmjs-codecs' libjpeg gives the
 *     same values as GDCM's IJG 12-bit decoder (the decode tests say so).
 *   - JPEG lossless (4.57, 4.70): jpeg-lossless-decoder-js (the decoder cornerstone uses), except what it cannot do
 *     (a point transform, colour of more than 8 bits, more than one scan), which goes to dcmjs-codecs' libjpeg-turbo,
 *     whose libjpeg 3 has the lossless process too.
 *   - JPEG-LS (4.80, 4.81): @cornerstonejs/codec-charls (CharLS).
 *   - JPEG 2000 (4.90, 4.91): @cornerstonejs/codec-openjpeg (OpenJPEG).
 *   - HTJ2K (4.201-4.203): @cornerstonejs/codec-openjph (OpenJPH); a Part 1 (non-HT) codestream, which these
 *     syntaxes allow, goes to OpenJPEG.
 */

const require = createRequire(import.meta.url);

export interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array | Uint8ClampedArray | Uint16Array | Int16Array | Int8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getInterleaveMode?(): number;
  delete(): void;
}

type WasmModule = Record<string, new () => WasmDecoder>;

const PACKAGES = {
  libjpeg: { spec: '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', decoder: 'JPEGDecoder' },
  charls: { spec: '@cornerstonejs/codec-charls/decodewasmjs', decoder: 'JpegLSDecoder' },
  openjpeg: { spec: '@cornerstonejs/codec-openjpeg/decodewasmjs', decoder: 'J2KDecoder' },
  openjph: { spec: '@cornerstonejs/codec-openjph/wasmjs', decoder: 'HTJ2KDecoder' },
} as const;

export type WasmCodec = keyof typeof PACKAGES;

const instances = new Map<WasmCodec, Promise<WasmModule>>();

const quiet = { print: () => undefined, printErr: () => undefined };

function instance(codec: WasmCodec): Promise<WasmModule> {
  let p = instances.get(codec);
  if (!p) {
    const factory = require(PACKAGES[codec].spec) as (arg: object) => Promise<WasmModule>;
    p = factory({ ...quiet });
    p.catch(() => instances.delete(codec));
    instances.set(codec, p);
  }
  return p;
}

/** A codec rejected the frame (or trapped): its message is about stream structure, never pixel values. */
export class CodecError extends Error {}

/** The codec's output disagrees with the data set: the frame is refused, the module stays usable. */
export class CodecCheckError extends Error {}

function describe(err: unknown): string {
  if (typeof err === 'number') return 'the decoder rejected the frame';
  if (err instanceof Error) return err.message.slice(0, 200);
  return String(err).slice(0, 200);
}

export interface DecodedFrame {
  info: FrameInfo;
  /** the decoded samples, little endian, `bytesPerSample` each, copied out of the WebAssembly memory */
  bytes: Uint8Array;
  bytesPerSample: number;
  /** JPEG-LS interleave mode as decoded (0: one plane per component) */
  interleave?: number;
}

/**
 * Decode one frame with a WebAssembly codec. The caller has read the frame's header itself before (the codecs'
 * readHeader does not fill the frame info in every package); `check` sees the codec's frame info after decoding
 * and may throw CodecCheckError.
 */
export async function decodeWithWasm(codec: WasmCodec, data: Uint8Array, check?: (info: FrameInfo) => void): Promise<DecodedFrame> {
  const module = await instance(codec);
  let decoder: WasmDecoder | undefined;
  try {
    decoder = new module[PACKAGES[codec].decoder]!();
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    const info = { ...decoder.getFrameInfo() };
    check?.(info);
    // Every package hands back a byte view of its output, whatever the sample size.
    const decoded = decoder.getDecodedBuffer();
    const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
    const expected = info.width * info.height * info.componentCount * bytesPerSample;
    if (decoded.byteLength !== expected) throw new CodecCheckError(`the decoder gave ${decoded.byteLength} bytes for a ${info.width} x ${info.height} frame of ${info.componentCount} ${info.bitsPerSample}-bit components`);
    const bytes = new Uint8Array(expected);
    bytes.set(new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength));
    const interleave = decoder.getInterleaveMode?.();
    return { info, bytes, bytesPerSample, ...(interleave !== undefined ? { interleave } : {}) };
  } catch (err) {
    if (err instanceof CodecCheckError) throw err;
    // A trap or abort may leave the module's memory inconsistent: the next frame gets a fresh instance.
    instances.delete(codec);
    throw new CodecError(describe(err));
  } finally {
    try {
      decoder?.delete();
    } catch {
      instances.delete(codec);
    }
  }
}

// dcmjs-codecs: one WebAssembly module for many codecs; only its libjpeg-turbo 3 is used here.
interface DcmjsCodecsContext {
  getDecodedBuffer(): Uint8Array | undefined;
  getWidth(): number | undefined;
  getHeight(): number | undefined;
  getBitsAllocated(): number | undefined;
  getSamplesPerPixel(): number | undefined;
}
interface DcmjsCodecs {
  NativeCodecs: {
    initializeAsync(opts?: { logCodecsInfo?: boolean; logCodecsTrace?: boolean }): Promise<void>;
    decodeJpeg(context: DcmjsCodecsContext, parameters?: { convertColorspaceToRgb?: boolean }): DcmjsCodecsContext;
  };
  Context: new (attrs: Record<string, unknown>) => DcmjsCodecsContext;
  log: { setLevel(level: string): void };
}

let libjpeg3: Promise<DcmjsCodecs> | undefined;

function dcmjsCodecs(): Promise<DcmjsCodecs> {
  if (!libjpeg3) {
    libjpeg3 = (async () => {
      const codecs = require('dcmjs-codecs') as DcmjsCodecs;
      codecs.log.setLevel('silent');
      await codecs.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
      return codecs;
    })();
    libjpeg3.catch(() => (libjpeg3 = undefined));
  }
  return libjpeg3;
}

export interface JpegFrameSpec {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  photometricInterpretation: string;
  /** lossy colour: YCbCr to RGB (lossless JPEG has no colour transform) */
  convertToRgb: boolean;
}

/** A JPEG frame through dcmjs-codecs' libjpeg-turbo 3 (8, 12 and 16-bit, lossy and lossless). */
export async function decodeWithLibjpeg3(data: Uint8Array, spec: JpegFrameSpec): Promise<Uint8Array> {
  const codecs = await dcmjsCodecs();
  try {
    const context = new codecs.Context({
      width: spec.columns,
      height: spec.rows,
      bitsAllocated: spec.bitsAllocated,
      bitsStored: spec.bitsStored,
      samplesPerPixel: spec.samplesPerPixel,
      pixelRepresentation: spec.pixelRepresentation,
      planarConfiguration: 0,
      photometricInterpretation: spec.photometricInterpretation,
      encodedBuffer: data,
    });
    const out = codecs.NativeCodecs.decodeJpeg(context, { convertColorspaceToRgb: spec.convertToRgb }).getDecodedBuffer();
    if (!out) throw new CodecError('the decoder gave no pixels');
    return Uint8Array.from(out);
  } catch (err) {
    if (err instanceof CodecError) throw err;
    libjpeg3 = undefined;
    throw new CodecError(describe(err));
  }
}

type LosslessDecoder = { decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array };
let losslessModule: { Decoder: new () => LosslessDecoder } | undefined;

/** JPEG lossless (process 14) through jpeg-lossless-decoder-js: pure JavaScript, nothing to instantiate. */
export function decodeWithJpegLossless(data: Uint8Array, bytesPerSample: number): Uint8Array {
  losslessModule ??= require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  try {
    const out = new losslessModule.Decoder().decode(data.buffer, data.byteOffset, data.byteLength, bytesPerSample);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new CodecError(describe(err));
  }
}
