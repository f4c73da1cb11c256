import { noiseMaskResponse } from '../anonymizer/pixel/image-noise.js';
import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import { rocAuc } from './roc-auc.js';

/**
 * Can the kept mask be read off a released image? The kept-region attack grants the attacker the mask; without
 * it, an attacker would look for where the grain changes, since a decoder draws smoother pixels than a detector
 * records. This measures that cue: every block wholly kept or wholly regenerated is scored by its grain (the
 * median magnitude of the noise estimator's 3x3 mask inside it, image-noise.ts), and the ROC-AUC of that score for "kept" says how well the
 * grain gives the mask away (0.5: not at all; above: kept blocks are grainier; below: regenerated ones are).
 */

export interface MaskFromGrain {
  /** NaN when no image has both kept and regenerated blocks */
  auc: number;
  block: number;
  keptBlocks: number;
  regeneratedBlocks: number;
}

function grain(data: Float32Array, width: number, x0: number, y0: number, block: number): number {
  const r: number[] = [];
  for (let y = y0 + 1; y < y0 + block - 1; y++) {
    for (let x = x0 + 1; x < x0 + block - 1; x++) {
      r.push(Math.abs(noiseMaskResponse(data, width, y * width + x)));
    }
  }
  r.sort((a, b) => a - b);
  return r[r.length >> 1]!;
}

export function maskFromGrain(images: readonly { anonymized: GreyImage; kept: Uint8Array }[], block = 8): MaskFromGrain {
  const labels: boolean[] = [];
  const scores: number[] = [];
  for (const { anonymized: img, kept } of images) {
    for (let y = 0; y + block <= img.height; y += block) {
      for (let x = 0; x + block <= img.width; x += block) {
        let k = 0;
        for (let j = 0; j < block; j++) for (let i = 0; i < block; i++) k += kept[(y + j) * img.width + x + i]!;
        if (k !== 0 && k !== block * block) continue;
        labels.push(k !== 0);
        scores.push(grain(img.data, img.width, x, y, block));
      }
    }
  }
  const keptBlocks = labels.filter(Boolean).length;
  return { auc: Math.round(rocAuc(labels, scores) * 10000) / 10000, block, keptBlocks, regeneratedBlocks: labels.length - keptBlocks };
}
