import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { anonymizeRadiograph, promptConfigOf } from '../src/anonymizer/pixel/cxr-anofair.js';
import { readGreyPixels, toDisplay, type GreyPixels } from '../src/anonymizer/pixel/grey-pixels.js';
import { greyBytes } from '../src/anonymizer/pixel/image-resize.js';
import { SdInpaintPipeline } from '../src/anonymizer/pixel/sd-inpaint-pipeline.js';
import { YoloDetector } from '../src/anonymizer/pixel/yolo-detector.js';
import { readPart10 } from '../src/dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../src/phantoms/generate.js';
import { parseLabels, type ImageLabel } from '../src/phantoms/labels.js';

const USAGE = `npm run docs:pixels -- [--models DIR] [--out docs/pixel-anonymization.png] [--images N]

Before and after pictures of CXR-AnoFAIR on phantoms the models never saw (new seed): the original as a viewer
shows it with the ground-truth boxes, the regions the detector kept (green) and the text it found (yellow),
and the released image. Phantoms only: a picture of real originals would be PHI.
`;

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function png(display: Float32Array, w: number, h: number, tile: number): Promise<Buffer> {
  return sharp(greyBytes(display), { raw: { width: w, height: h, channels: 1 } }).resize(tile, tile, { kernel: 'lanczos3' }).toColourspace('srgb').png().toBuffer();
}

function boxes(list: { box: readonly number[]; colour: string; dash?: boolean }[], scale: number, tile: number): Buffer {
  const rects = list
    .map(({ box: [x0, y0, x1, y1], colour, dash }) => `<rect x="${x0! * scale}" y="${y0! * scale}" width="${(x1! - x0!) * scale}" height="${(y1! - y0!) * scale}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ' stroke-dasharray="4 2"' : ''}/>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${tile}" height="${tile}">${rects}</svg>`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: join(ROOT, 'models', 'demo') },
      out: { type: 'string', default: join(ROOT, 'docs', 'pixel-anonymization.png') },
      images: { type: 'string', default: '4' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const n = Number(values.images);
  const dir = mkdtempSync(join(tmpdir(), 'anofair-pixel-picture-'));
  const detector = await YoloDetector.load(join(values.models!, 'detector'));
  const inpainter = await SdInpaintPipeline.load(join(values.models!, 'inpaint'));
  try {
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: dir, patients: 6, seed: 'pixel-picture', burnedInShare: 0.5, normalShare: 0.2, force: false });
    const labels = parseLabels(readFileSync(join(dir, 'labels.jsonl'), 'utf8'));
    // a mix: burned-in text with findings first, then findings without text
    const chosen: ImageLabel[] = [
      ...labels.filter((l) => l.burned_in && l.findings.length > 0).slice(0, Math.ceil(n / 2)),
      ...labels.filter((l) => !l.burned_in && l.findings.length > 0),
    ].slice(0, n);
    const tile = 300;
    const gap = 12;
    const header = 40;
    const labelH = 20;
    const width = 3 * tile + 4 * gap;
    const height = header + chosen.length * (tile + labelH + gap) + gap;
    const composites: sharp.OverlayOptions[] = [];
    const title = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${header}"><text x="${gap}" y="26" font-family="DejaVu Sans" font-size="16" font-weight="bold" fill="#fff">CXR-AnoFAIR on unseen phantoms: original, what was kept, released</text></svg>`;
    composites.push({ input: Buffer.from(title), left: 0, top: 0 });
    for (const [row, label] of chosen.entries()) {
      const px: GreyPixels = readGreyPixels(readPart10(readFileSync(join(dir, label.file))).dataset);
      const { stored, record } = await anonymizeRadiograph(px, { detector, inpainter }, { seed: `picture-${label.image_id}`, modelSize: inpainter.imageSize, prompt: promptConfigOf(join(values.models!, 'inpaint')) });
      const before = toDisplay(px);
      const after = toDisplay({ ...px, stored });
      const scale = tile / px.columns;
      const top = header + row * (tile + labelH + gap);
      const original = await png(before.data, px.columns, px.rows, tile);
      const truth = [...label.findings.map((f) => ({ box: f.box, colour: '#ff5050' })), ...label.text_boxes.map((t) => ({ box: t.box, colour: '#ffe600', dash: true }))];
      composites.push({ input: await sharp(original).composite([{ input: boxes(truth, scale, tile) }]).png().toBuffer(), left: gap, top: top + labelH });
      const kept = [...record.kept.map((k) => ({ box: k.box, colour: '#40e070' })), ...record.textRegions.map((t) => ({ box: t, colour: '#ffe600', dash: true }))];
      composites.push({ input: await sharp(original).composite([{ input: boxes(kept, scale, tile) }]).png().toBuffer(), left: 2 * gap + tile, top: top + labelH });
      composites.push({ input: await png(after.data, px.columns, px.rows, tile), left: 3 * gap + 2 * tile, top: top + labelH });
      const clip = (t: string): string => (t.length > 52 ? `${t.slice(0, 51)}…` : t);
      const text = [
        clip(`${label.image_id}: truth ${label.findings.map((f) => f.label).join(', ') || 'normal'} (red)${label.burned_in ? ', text (yellow)' : ''}`),
        clip(`kept ${record.kept.length} (green), text found ${record.textRegions.length}, regenerated ${Math.round(record.regeneratedFraction * 100)}%`),
        clip(`released: "${record.prompt}"`),
      ];
      const sub = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${labelH}">${text.map((t, i) => `<text x="${gap + i * (tile + gap)}" y="14" font-family="DejaVu Sans" font-size="10" fill="#aab">${t.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`).join('')}</svg>`;
      composites.push({ input: Buffer.from(sub), left: 0, top });
    }
    await sharp({ create: { width, height, channels: 3, background: '#16181c' } }).composite(composites).png({ compressionLevel: 9 }).toFile(values.out!);
    process.stdout.write(`wrote ${values.out}\n`);
  } finally {
    await detector.release();
    await inpainter.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`docs:pixels: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
