import sharp from 'sharp';
import { greyBytes, type GreyImage } from '../anonymizer/pixel/image-resize.js';

/** A before/after picture for the report: the image at a small size, the kept boxes outlined in green and the
 * burned-in text boxes cut out of them in red, as a PNG data URI. */

type Box = readonly number[];

const KEPT: [number, number, number] = [80, 220, 100];
const TEXT: [number, number, number] = [240, 70, 90];

export async function outlinedPng(img: GreyImage, kept: readonly Box[], text: readonly Box[], size = 220): Promise<string> {
  // sharp may hand a grey image back with more channels than it was given: take the first of each pixel
  const { data: grey, info } = await sharp(greyBytes(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).resize(size, size).raw().toBuffer({ resolveWithObject: true });
  const rgb = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i * info.channels]!;
  const sx = size / img.width;
  const sy = size / img.height;
  const put = (x: number, y: number, c: readonly number[]): void => {
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    rgb.set(c, 3 * (y * size + x));
  };
  const outline = (b: Box, c: readonly number[]): void => {
    const [x0, y0] = [Math.round(b[0]! * sx), Math.round(b[1]! * sy)];
    const [x1, y1] = [Math.max(x0, Math.round(b[2]! * sx) - 1), Math.max(y0, Math.round(b[3]! * sy) - 1)];
    for (let x = x0; x <= x1; x++) [put(x, y0, c), put(x, y1, c)];
    for (let y = y0; y <= y1; y++) [put(x0, y, c), put(x1, y, c)];
  };
  for (const b of kept) outline(b, KEPT);
  for (const b of text) outline(b, TEXT);
  const png = await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
