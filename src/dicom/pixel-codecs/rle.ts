/**
 * RLE Lossless (PS3.5 annex G), decoded here: it is 60 lines of PackBits and needs no codec. A frame is a
 * 64-byte header (the number of segments, then up to 15 segment offsets, little endian) and one segment per
 * byte of each sample: for each sample (colour plane), its most significant byte first. The output is what
 * native Pixel Data holds: samples interleaved by pixel (Planar Configuration 0), little endian.
 */

export class RleError extends Error {}

function fail(message: string): never {
  throw new RleError(message);
}

/** PackBits (PS3.5 G.3.2) into `out`; returns the number of bytes written (at most out.length). */
function unpack(segment: Uint8Array, out: Uint8Array): number {
  let i = 0;
  let o = 0;
  const n = segment.length;
  while (i < n && o < out.length) {
    const h = segment[i++]!;
    if (h < 128) {
      const count = h + 1;
      if (i + count > n) fail('an RLE literal run runs past the end of its segment');
      const take = Math.min(count, out.length - o);
      out.set(segment.subarray(i, i + take), o);
      o += take;
      i += count;
    } else if (h > 128) {
      if (i >= n) fail('an RLE replicate run has no byte to replicate');
      const count = 257 - h;
      const take = Math.min(count, out.length - o);
      out.fill(segment[i++]!, o, o + take);
      o += take;
    }
    // h === 128: no operation
  }
  return o;
}

export function decodeRleFrame(data: Uint8Array, pixels: number, samplesPerPixel: number, bytesPerSample: number): Uint8Array {
  if (data.length < 64) fail('the RLE frame is shorter than its 64-byte header');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (segments !== expected) fail(`the RLE header declares ${segments} segments, the image needs ${expected}`);
  const offsets = Array.from({ length: segments }, (_, i) => view.getUint32(4 + 4 * i, true));
  const out = new Uint8Array(pixels * expected);
  const plane = new Uint8Array(pixels);
  for (let s = 0; s < segments; s++) {
    const start = offsets[s]!;
    const end = s + 1 < segments ? offsets[s + 1]! : data.length;
    if (start < 64 || end > data.length || end < start) fail('an RLE segment offset lies outside the frame');
    plane.fill(0);
    const written = unpack(data.subarray(start, end), plane);
    if (written < pixels) fail(`an RLE segment decodes to ${written} bytes, Rows x Columns is ${pixels}`);
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample); // segment 0 of a sample is its most significant byte
    const stride = expected;
    let at = sample * bytesPerSample + byteInSample;
    for (let p = 0; p < pixels; p++, at += stride) out[at] = plane[p]!;
  }
  return out;
}
