import type { DicomDataset } from './dataset.js';

/**
 * Access to native (uncompressed) Pixel Data (7FE0,0010). The reader keeps it as a view into the bytes it read;
 * values set by code may be ArrayBuffers or typed arrays. These functions give one view whatever the form.
 */
export function nativePixelBytes(dataset: DicomDataset): Uint8Array | undefined {
  const values = dataset['7FE00010']?.Value;
  if (!values || values.length === 0) return undefined;
  const parts = values.map((v: ArrayBuffer | ArrayBufferView) =>
    v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
  );
  return parts.length === 1 ? parts[0] : new Uint8Array(Buffer.concat(parts));
}

/** 16-bit samples (little-endian data on a little-endian host); copies only when the view is misaligned. */
export function asUint16Samples(bytes: Uint8Array, count = Math.floor(bytes.byteLength / 2)): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  return new Uint16Array(bytes.slice(0, count * 2).buffer);
}
