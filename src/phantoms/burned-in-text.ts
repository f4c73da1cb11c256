import { drawText, GLYPH_HEIGHT, textWidth } from './bitmap-font.js';
import type { PatientDemographics } from './demographics.js';
import type { Box } from './findings.js';
import type { Rng } from './rng.js';

/**
 * Patient name, ID and date burned into the pixels, as older CR readers and secondary captures do: the case
 * PS3.15 calls Burned In Annotation, which header de-identification cannot remove. Each line's box is recorded
 * so a text detector can be trained and the removal checked.
 */
export type TextKind = 'name' | 'id' | 'date';
export const TEXT_CLASSES: readonly TextKind[] = ['name', 'id', 'date'];

export interface TextBox {
  kind: TextKind;
  box: Box;
}

export interface BurnedInText {
  lines: Array<{ kind: TextKind; text: string }>;
  boxes: TextBox[];
}

type Corner = 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';

/** Choose the wording and place it; draw into display brightness (1 = white) in place. */
export function burnInText(
  rng: Rng,
  display: Float32Array,
  size: number,
  p: PatientDemographics,
  studyDate: string,
  studyTime: string,
): BurnedInText {
  const scale = Math.max(1, Math.round(size / 256));
  const name = rng.pick([
    `${p.familyName}^${p.givenName}`,
    `${p.familyName}, ${p.givenName}`,
    `${p.familyName} ${p.givenName} ${p.middleName.slice(0, 1)}`,
  ]);
  const id = rng.pick([`ID ${p.mrn}`, `MRN: ${p.mrn}`, `#${p.mrn}`, p.mrn]);
  const y = studyDate.slice(0, 4);
  const m = studyDate.slice(4, 6);
  const d = studyDate.slice(6, 8);
  const date = rng.pick([
    `${y}-${m}-${d}`,
    `${d}.${m}.${y} ${studyTime.slice(0, 2)}:${studyTime.slice(2, 4)}`,
    `${m}/${d}/${y}`,
    `${d}/${m}/${y} ${studyTime.slice(0, 2)}:${studyTime.slice(2, 4)}`,
  ]);
  const lines: Array<{ kind: TextKind; text: string }> = [
    { kind: 'name', text: name },
    { kind: 'id', text: id },
    { kind: 'date', text: date },
  ];
  // Layout: all three lines in one corner, or name and ID in one corner and the date in another.
  const corners: Corner[] = ['top-left', 'top-right', 'bottom-left', 'bottom-right'];
  const first = rng.pick(corners);
  const split = rng.chance(0.5);
  const second = split ? rng.pick(corners.filter((c) => c !== first)) : first;
  const groups = new Map<Corner, Array<{ kind: TextKind; text: string }>>();
  for (const line of lines) {
    const corner = line.kind === 'date' ? second : first;
    groups.set(corner, [...(groups.get(corner) ?? []), line]);
  }
  const backing = rng.chance(0.35);
  const value = rng.uniform(0.9, 1);
  const margin = Math.round(rng.uniform(3, 8) * scale);
  const lineHeight = (GLYPH_HEIGHT + 3) * scale;
  const boxes: TextBox[] = [];
  for (const [corner, group] of groups) {
    const bottom = corner.startsWith('bottom');
    const right = corner.endsWith('right');
    group.forEach((line, index) => {
      const w = textWidth(line.text, scale);
      const x0 = right ? size - margin - w : margin;
      const row = bottom ? group.length - 1 - index : index;
      const y0 = bottom ? size - margin - GLYPH_HEIGHT * scale - row * lineHeight : margin + row * lineHeight;
      // The box is 1 px around the glyphs (the backing plate, when drawn, is the same box).
      const box: Box = [Math.max(0, x0 - scale), Math.max(0, y0 - scale), Math.min(size, x0 + w + scale), Math.min(size, y0 + GLYPH_HEIGHT * scale + scale)];
      if (backing) {
        for (let yy = box[1]; yy < box[3]; yy++) for (let xx = box[0]; xx < box[2]; xx++) display[yy * size + xx] = 0.02;
      }
      drawText(line.text, x0, y0, scale, (x, yy) => {
        if (x >= 0 && yy >= 0 && x < size && yy < size) display[yy * size + x] = value;
      });
      boxes.push({ kind: line.kind, box });
    });
  }
  boxes.sort((a, b) => TEXT_CLASSES.indexOf(a.kind) - TEXT_CLASSES.indexOf(b.kind));
  return { lines, boxes };
}
