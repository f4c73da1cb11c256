import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { readPart10 } from '../dicom/part10.js';
import { asUint16Samples, nativePixelBytes } from '../dicom/pixel-data.js';
import { firstString, type DicomDataset } from '../dicom/dataset.js';
import { FINDING_CLASSES, type FindingLabel } from './findings.js';
import { parseLabels, type ImageLabel } from './labels.js';

/**
 * docs/phantoms.png: example phantoms read back from their DICOM files, each shown twice: with the ground-truth
 * boxes (findings by class, burned-in text in yellow) and as a viewer would display the DICOM (VOI window from
 * the header, MONOCHROME1 inverted, corner annotations).
 */
const COLOURS: Record<FindingLabel, string> = {
  nodule: '#ff4d4d',
  mass: '#ff9f1c',
  effusion: '#3fa7ff',
  cardiomegaly: '#c77dff',
  consolidation: '#2ec27e',
  pneumothorax: '#00e5ff',
};

export interface SheetOptions {
  /** Number of examples (pairs of panels). */
  count: number;
  /** Panel edge in pixels. */
  tile: number;
  columns: number;
}

/** One example per finding class first, then burned-in, normal and the other photometric interpretation. */
export function pickExamples(labels: ImageLabel[], count: number): ImageLabel[] {
  const chosen: ImageLabel[] = [];
  const add = (l: ImageLabel | undefined): void => {
    if (l && !chosen.includes(l) && chosen.length < count) chosen.push(l);
  };
  for (const c of FINDING_CLASSES) add(labels.find((l) => l.findings.some((f) => f.label === c) && !chosen.includes(l)));
  add(labels.find((l) => l.burned_in && l.findings.length > 0 && !chosen.includes(l)));
  add(labels.find((l) => l.findings.length === 0 && !chosen.includes(l)));
  add(labels.find((l) => l.burned_in && !chosen.includes(l)));
  for (const l of labels) add(l);
  return chosen;
}

interface Decoded {
  gray: Buffer;
  rows: number;
  columns: number;
  ds: DicomDataset;
}

/** Window and invert as a viewer does (PS3.3 C.11.2.1.2 linear VOI, then MONOCHROME1 inverted). */
export function decodeForDisplay(bytes: Uint8Array): Decoded {
  const { dataset } = readPart10(bytes);
  const rows = Number(dataset['00280010']?.Value?.[0]);
  const columns = Number(dataset['00280011']?.Value?.[0]);
  const px = asUint16Samples(nativePixelBytes(dataset) ?? new Uint8Array(0), rows * columns);
  const center = Number(firstString(dataset, '00281050'));
  const width = Number(firstString(dataset, '00281051'));
  const mono1 = firstString(dataset, '00280004') === 'MONOCHROME1';
  const gray = Buffer.alloc(rows * columns);
  for (let k = 0; k < gray.length; k++) {
    const v = ((px[k] as number) - (center - 0.5) + 0.5 * (width - 1)) / (width - 1);
    const b = Math.min(1, Math.max(0, v));
    gray[k] = Math.round(255 * (mono1 ? 1 - b : b));
  }
  return { gray, rows, columns, ds: dataset };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function annotatedOverlay(l: ImageLabel, tile: number): string {
  const s = tile / l.columns;
  const parts: string[] = [];
  for (const f of l.findings) {
    const [x0, y0, x1, y1] = f.box;
    const c = COLOURS[f.label];
    parts.push(`<rect x="${x0 * s}" y="${y0 * s}" width="${(x1 - x0) * s}" height="${(y1 - y0) * s}" fill="none" stroke="${c}" stroke-width="2"/>`);
    const ty = y0 * s > 16 ? y0 * s - 4 : y1 * s + 13;
    parts.push(`<text x="${x0 * s + 1}" y="${ty}" font-family="DejaVu Sans" font-size="12" font-weight="bold" fill="${c}" stroke="#000" stroke-width="3" paint-order="stroke">${f.label}</text>`);
  }
  for (const t of l.text_boxes) {
    const [x0, y0, x1, y1] = t.box;
    parts.push(`<rect x="${x0 * s}" y="${y0 * s}" width="${(x1 - x0) * s}" height="${(y1 - y0) * s}" fill="none" stroke="#ffe600" stroke-width="1.5" stroke-dasharray="4 2"/>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${tile}" height="${tile}">${parts.join('')}</svg>`;
}

function viewerOverlay(d: Decoded, l: ImageLabel, tile: number): string {
  const ds = d.ds;
  const name = (firstString(ds, '00100010') ?? '').replace(/\^/g, ' ').trim();
  const lines = {
    tl: [name, `ID ${firstString(ds, '00100020') ?? ''}`, `${firstString(ds, '00080060') ?? ''}  ${firstString(ds, '00081030') ?? ''}`],
    tr: [(firstString(ds, '00080080') ?? '').slice(0, 24), formatDate(firstString(ds, '00080020') ?? '')],
    bl: [] as string[],
    br: [`W ${firstString(ds, '00281051')}  L ${firstString(ds, '00281050')}`, `${firstString(ds, '00280004')}  ${firstString(ds, '00280101')} bit`, `BurnedInAnnotation ${firstString(ds, '00280301')}`],
  };
  const t = (x: number, y: number, anchor: string, s: string): string =>
    `<text x="${x}" y="${y}" text-anchor="${anchor}" font-family="DejaVu Sans" font-size="11" fill="#e8e8a0" stroke="#000" stroke-width="2.5" paint-order="stroke">${esc(s)}</text>`;
  const parts: string[] = [];
  lines.tl.forEach((s, i) => parts.push(t(5, 14 + 13 * i, 'start', s)));
  lines.tr.forEach((s, i) => parts.push(t(tile - 5, 14 + 13 * i, 'end', s)));
  lines.bl.forEach((s, i) => parts.push(t(5, tile - 8 - 13 * (lines.bl.length - 1 - i), 'start', s)));
  lines.br.forEach((s, i) => parts.push(t(tile - 5, tile - 8 - 13 * (lines.br.length - 1 - i), 'end', s)));
  void l;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${tile}" height="${tile}">${parts.join('')}</svg>`;
}

function formatDate(da: string): string {
  return da.length === 8 ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : da;
}

export async function renderContactSheet(datasetDir: string, outPng: string, opts: Partial<SheetOptions> = {}): Promise<void> {
  const { count = 9, tile = 340, columns = 3 } = opts;
  const labels = parseLabels(await readFile(path.join(datasetDir, 'labels.jsonl'), 'utf8'));
  const examples = pickExamples(labels, count);
  const gap = 14;
  const header = 54;
  const pairW = 2 * tile + 4;
  const width = columns * pairW + (columns + 1) * gap;
  const rowsN = Math.ceil(examples.length / columns);
  const height = header + rowsN * (tile + 22) + (rowsN + 1) * gap;
  const composites: sharp.OverlayOptions[] = [];
  for (const [index, l] of examples.entries()) {
    const d = decodeForDisplay(new Uint8Array(await readFile(path.join(datasetDir, l.file))));
    const base = sharp(d.gray, { raw: { width: d.columns, height: d.rows, channels: 1 } }).resize(tile, tile, { kernel: 'lanczos3' });
    const gray = await base.toColourspace('srgb').png().toBuffer();
    const annotated = await sharp(gray).composite([{ input: Buffer.from(annotatedOverlay(l, tile)) }]).png().toBuffer();
    const viewer = await sharp(gray).composite([{ input: Buffer.from(viewerOverlay(d, l, tile)) }]).png().toBuffer();
    const col = index % columns;
    const row = Math.floor(index / columns);
    const left = gap + col * (pairW + gap);
    const top = header + gap + row * (tile + 22 + gap);
    composites.push({ input: annotated, left, top: top + 18 });
    composites.push({ input: viewer, left: left + tile + 4, top: top + 18 });
    const sub = `<svg xmlns="http://www.w3.org/2000/svg" width="${pairW}" height="18"><text x="0" y="13" font-family="DejaVu Sans" font-size="12" fill="#9aa">${esc(`${l.image_id}  ${l.sex} ${l.age}y  ${l.split}${l.findings.length ? '' : '  normal'}${l.burned_in ? '  burned-in text' : ''}`)}</text><text x="${tile + 4}" y="13" font-family="DejaVu Sans" font-size="12" fill="#9aa">${esc(`DICOM ${l.modality}, as a viewer shows it`)}</text></svg>`;
    composites.push({ input: Buffer.from(sub), left, top });
  }
  const legend = FINDING_CLASSES.map((c, i) => `<rect x="${16 + i * 150}" y="34" width="12" height="12" fill="${COLOURS[c]}"/><text x="${32 + i * 150}" y="45" font-family="DejaVu Sans" font-size="13" fill="#ddd">${c}</text>`).join('');
  const title = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${header}"><text x="16" y="22" font-family="DejaVu Sans" font-size="17" font-weight="bold" fill="#fff">AnoFAIR synthetic chest radiograph phantoms: ground-truth boxes and the DICOM as a viewer renders it</text>${legend}<rect x="${16 + 6 * 150}" y="34" width="12" height="12" fill="none" stroke="#ffe600" stroke-dasharray="3 2"/><text x="${32 + 6 * 150}" y="45" font-family="DejaVu Sans" font-size="13" fill="#ddd">burned-in text</text></svg>`;
  composites.push({ input: Buffer.from(title), left: 0, top: 0 });
  await sharp({ create: { width, height, channels: 3, background: '#16181c' } }).composite(composites).png({ compressionLevel: 9 }).toFile(outPng);
}
