import { Rng } from './rng.js';

/** Fixed train/validation/test splits by patient, so no patient's images are in two splits (no identity leak). */
export type Split = 'train' | 'val' | 'test';
export const SPLIT_SHARES: Record<Split, number> = { train: 0.7, val: 0.15, test: 0.15 };

/** Exact shares over a seeded shuffle: round(0.15 n) patients each in val and test, the rest in train. */
export function assignSplits(seed: string | number, patients: number): Split[] {
  const order = Rng.derive(seed, 'splits').shuffle(Array.from({ length: patients }, (_, i) => i));
  const nVal = Math.round(patients * SPLIT_SHARES.val);
  const nTest = Math.round(patients * SPLIT_SHARES.test);
  const out: Split[] = new Array(patients).fill('train');
  order.forEach((patient, rank) => {
    if (rank < nVal) out[patient] = 'val';
    else if (rank < nVal + nTest) out[patient] = 'test';
  });
  return out;
}
