import { firstNumber, firstString, type DicomDataset } from '../../dicom/dataset.js';
import { nativePixelBytes } from '../../dicom/pixel-data.js';
import { AnofairError } from '../../errors/anofair-error.js';
import type { GreyImage } from './image-resize.js';

/**
 * A single-frame greyscale radiograph's stored values and how a viewer shows them (the "display01" rendering
 * the models are trained on: modality LUT, the first linear VOI window of PS3.3 C.11.2.1.2.1, MONOCHROME1
 * inverted), with the inverse, so regenerated pixels go back into the stored representation they came from.
 */

export interface GreyPixels {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  signed: boolean;
  monochrome1: boolean;
  slope: number;
  intercept: number;
  window?: { center: number; width: number };
  stored: Int32Array;
}

/**
 * Stored values of single-frame MONOCHROME1/2 Pixel Data; anything else is refused with the reason. `pixelBytes`
 * are native little-endian samples (the data set's own native Pixel Data by default; for compressed or big-endian
 * instances, what src/dicom/pixel-codecs decoded).
 */
export function readGreyPixels(ds: DicomDataset, pixelBytes: Uint8Array | undefined = nativePixelBytes(ds)): GreyPixels {
  const photometric = (firstString(ds, '00280004') ?? '').trim();
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') throw new AnofairError('PIXEL_UNSUPPORTED', `pixel anonymization needs a greyscale image; Photometric Interpretation is ${photometric || 'absent'}`);
  const rows = firstNumber(ds, '00280010');
  const columns = firstNumber(ds, '00280011');
  const bitsAllocated = firstNumber(ds, '00280100');
  if (!rows || !columns || (bitsAllocated !== 8 && bitsAllocated !== 16)) throw new AnofairError('PIXEL_UNSUPPORTED', `pixel anonymization needs Rows, Columns and Bits Allocated 8 or 16 (Bits Allocated ${bitsAllocated ?? 'absent'})`);
  if ((firstNumber(ds, '00280008') ?? 1) !== 1) throw new AnofairError('PIXEL_UNSUPPORTED', 'pixel anonymization handles single-frame images only (Number of Frames > 1)');
  if ((firstNumber(ds, '00280002') ?? 1) !== 1) throw new AnofairError('PIXEL_UNSUPPORTED', 'pixel anonymization needs one sample per pixel');
  const bytes = pixelBytes;
  const count = rows * columns;
  if (!bytes || bytes.byteLength < count * (bitsAllocated / 8)) throw new AnofairError('PIXEL_UNSUPPORTED', 'Pixel Data is absent, compressed or shorter than Rows x Columns (decompress before pixel anonymization)');
  const bitsStored = firstNumber(ds, '00280101') ?? bitsAllocated;
  const signed = firstNumber(ds, '00280103') === 1;
  const stored = new Int32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mask = 2 ** bitsStored - 1;
  for (let i = 0; i < count; i++) {
    let v = bitsAllocated === 16 ? view.getUint16(2 * i, true) & mask : view.getUint8(i) & mask;
    if (signed && v >= 2 ** (bitsStored - 1)) v -= 2 ** bitsStored;
    stored[i] = v;
  }
  const center = firstNumber(ds, '00281050');
  const width = firstNumber(ds, '00281051');
  return {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    signed,
    monochrome1: photometric === 'MONOCHROME1',
    slope: firstNumber(ds, '00281053') ?? 1,
    intercept: firstNumber(ds, '00281052') ?? 0,
    ...(center !== undefined && width !== undefined && width >= 1 ? { window: { center, width } } : {}),
    stored,
  };
}

/** The display rendering, 0 black .. 1 white. */
export function toDisplay(px: GreyPixels): GreyImage {
  const data = new Float32Array(px.stored.length);
  const full = 2 ** px.bitsStored - 1;
  for (let i = 0; i < data.length; i++) {
    const x = px.stored[i]! * px.slope + px.intercept;
    let y: number;
    if (px.window) {
      const { center: c, width: w } = px.window;
      y = w > 1 ? (x - (c - 0.5)) / (w - 1) + 0.5 : x > c ? 1 : 0;
    } else y = x / full;
    y = Math.min(1, Math.max(0, y));
    data[i] = px.monochrome1 ? 1 - y : y;
  }
  return { data, width: px.columns, height: px.rows };
}

/** The stored values Bits Stored and Pixel Representation allow. */
export function storedRange(px: Pick<GreyPixels, 'bitsStored' | 'signed'>): { lo: number; hi: number } {
  return px.signed ? { lo: -(2 ** (px.bitsStored - 1)), hi: 2 ** (px.bitsStored - 1) - 1 } : { lo: 0, hi: 2 ** px.bitsStored - 1 };
}

/** Stored values that display as the given image (clamped to the representable range). */
export function fromDisplay(px: GreyPixels, display: Float32Array): Int32Array {
  const out = new Int32Array(display.length);
  const full = 2 ** px.bitsStored - 1;
  const { lo, hi } = storedRange(px);
  for (let i = 0; i < display.length; i++) {
    const y = px.monochrome1 ? 1 - display[i]! : display[i]!;
    let x: number;
    if (px.window) {
      const { center: c, width: w } = px.window;
      x = w > 1 ? (y - 0.5) * (w - 1) + c - 0.5 : c;
    } else x = y * full;
    const s = Math.round((x - px.intercept) / px.slope);
    out[i] = Math.min(hi, Math.max(lo, s));
  }
  return out;
}

/** The stored values as Pixel Data bytes in the original layout (little endian, bits above Bits Stored zero). */
export function storedToBytes(px: GreyPixels, stored: Int32Array): Uint8Array {
  const mask = 2 ** px.bitsStored - 1;
  if (px.bitsAllocated === 8) return Uint8Array.from(stored, (v) => v & mask);
  const bytes = new Uint8Array(stored.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < stored.length; i++) view.setUint16(2 * i, stored[i]! & mask, true);
  return bytes;
}
