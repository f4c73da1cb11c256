import { createHash } from 'node:crypto';

/**
 * A small seeded PRNG (sfc32) and the helpers the generator draws from. Every random choice of the phantom
 * generator comes from an Rng derived from the dataset seed and a label, never from Math.random, so the same
 * seed and arguments give byte-identical output and one patient's draws do not depend on how many came before.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  constructor(a: number, b: number, c: number, d: number) {
    this.a = a >>> 0;
    this.b = b >>> 0;
    this.c = c >>> 0;
    this.d = d >>> 0;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** An independent stream named by `labels` under `seed` (SHA-256 of both, so streams never overlap in practice). */
  static derive(seed: string | number, ...labels: Array<string | number>): Rng {
    const h = createHash('sha256').update(`${seed}`);
    for (const l of labels) h.update(`\u0000${l}`);
    const digest = h.digest();
    return new Rng(digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12));
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box-Muller, polar form). */
  normal(mean = 0, sd = 1): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return mean + sd * s;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * m;
    return mean + sd * u * m;
  }

  /** Normal truncated to [lo, hi] by clamping (the tails are rare enough not to matter here). */
  clampedNormal(mean: number, sd: number, lo: number, hi: number): number {
    return Math.min(hi, Math.max(lo, this.normal(mean, sd)));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Fisher-Yates, returning a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

/** A hex digest of the labels under the seed, for identifiers (UIDs, MRNs) that must be stable and unique. */
export function digestHex(seed: string | number, ...labels: Array<string | number>): string {
  const h = createHash('sha256').update(`${seed}`);
  for (const l of labels) h.update(`\u0000${l}`);
  return h.digest('hex');
}

/** A 2.25 UID (PS3.5 B.2: the decimal form of a 128-bit UUID-like integer) derived from the seed and labels. */
export function derivedUid(seed: string | number, ...labels: Array<string | number>): string {
  const hex = digestHex(seed, 'uid', ...labels).slice(0, 32);
  // Mark it as a version-8 (custom) UUID so the integer is a well-formed UUID value.
  const bytes = Buffer.from(hex, 'hex');
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}
