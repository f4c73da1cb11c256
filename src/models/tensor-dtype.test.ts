import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTrainPython } from '../../test/support/external-tools.js';
import { seededRandom } from '../evaluation/seeded-random.js';
import { float32ToHalf, fromHalfBits, halfBits, halfToFloat32, readFloat32, tensorOf } from './tensor-dtype.js';

const hex = (b: number): string => `0x${b.toString(16).padStart(4, '0')}`;

describe('float16 (IEEE 754 binary16) conversion', () => {
  it('rounds to the nearest half, ties to even, overflows to infinity from 65520 and keeps signed zeros', () => {
    const table: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [65504, 0x7bff], // the largest half
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to the next (non-existent) half: rounds to infinity
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [0, 0x0000],
      [-0, 0x8000],
      [2 ** -14, 0x0400], // the smallest normal
      [2 ** -14 - 2 ** -25, 0x0400], // a tie between the largest subnormal and the smallest normal: the even one
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -25, 0x0000], // a tie between 0 and the smallest subnormal: 0 (even)
      [0.75 * 2 ** -24, 0x0001],
      [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above a tie: up
      [2049, 0x6800], // integers above 2048 are every other one: tie, even
      [2051, 0x6802],
    ];
    for (const [value, bits] of table) assert.equal(hex(halfBits(value)), hex(bits), `halfBits(${value})`);
    assert.ok(Number.isNaN(fromHalfBits(halfBits(NaN))));
  });

  it('rounds a double once, not through float32 first (which would land on a tie and round the other way)', () => {
    const v = 1 + 2 ** -11 + 2 ** -40;
    assert.equal(hex(halfBits(v)), '0x3c01');
    assert.equal(hex(halfBits(Math.fround(v))), '0x3c00');
  });

  it('decodes every one of the 65536 bit patterns exactly, and encodes each value back to its pattern', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const values = halfToFloat32(all);
    for (let b = 0; b < 65536; b++) {
      const v = values[b]!;
      if (!Number.isNaN(v)) assert.ok(Object.is(v, fromHalfBits(b)), `${hex(b)} decodes to ${fromHalfBits(b)}`);
      if (Number.isNaN(v)) assert.ok(((b >> 10) & 0x1f) === 0x1f && (b & 0x3ff) !== 0, `NaN only from NaN patterns (${hex(b)})`);
      else assert.equal(halfBits(v), b, `round trip of ${hex(b)} (${v})`);
    }
    assert.equal(fromHalfBits(0x7bff), 65504);
    assert.equal(fromHalfBits(0x0001), 2 ** -24);
    assert.equal(fromHalfBits(0xfc00), -Infinity);
  });

  it('agrees with numpy\'s float16 casts on 40000 random float32 and float64 values over the whole range', () => {
    const rnd = seededRandom(16);
    const n = 20000;
    const doubles = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const sign = rnd() < 0.5 ? -1 : 1;
      // magnitudes from deep subnormal to beyond the largest half, and some exact ties
      const v = sign * 2 ** (rnd() * 48 - 30) * (1 + rnd());
      // every tenth an exact midpoint between two neighbouring halves (a tie), subnormal ones included
      const b = Math.floor(rnd() * 0x7bff);
      doubles[i] = i % 10 === 0 ? sign * ((fromHalfBits(b) + fromHalfBits(b + 1)) / 2) : v;
    }
    const singles = Float32Array.from(doubles);
    const script = [
      'import sys, numpy as np',
      'raw = open(sys.argv[1], "rb").read()',
      'n = int(sys.argv[2])',
      'f32 = np.frombuffer(raw[:4*n], dtype="<f4")',
      'f64 = np.frombuffer(raw[4*n:], dtype="<f8")',
      'sys.stdout.buffer.write(f32.astype(np.float16).view("<u2").tobytes() + f64.astype(np.float16).view("<u2").tobytes())',
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'anofair-half-'));
    let res: Buffer;
    try {
      writeFileSync(join(dir, 'values.bin'), Buffer.concat([Buffer.from(singles.buffer), Buffer.from(doubles.buffer)]));
      res = runTrainPython(['-W', 'ignore', '-c', script, join(dir, 'values.bin'), String(n)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const expected = new Uint16Array(res.buffer.slice(res.byteOffset, res.byteOffset + res.length));
    assert.equal(expected.length, 2 * n);
    let bad = 0;
    const examples: string[] = [];
    for (let i = 0; i < n; i++) {
      for (const [k, v] of [[i, singles[i]!], [n + i, doubles[i]!]] as const) {
        if (halfBits(v) !== expected[k]) {
          bad++;
          if (examples.length < 5) examples.push(`${v}: ours ${hex(halfBits(v))}, numpy ${hex(expected[k]!)}`);
        }
      }
    }
    assert.equal(bad, 0, examples.join('; '));
  });

  it('converts arrays both ways', () => {
    assert.deepEqual(Array.from(float32ToHalf([1, -2, 0.5])), [0x3c00, 0xc000, 0x3800]);
    assert.deepEqual(Array.from(halfToFloat32(Uint16Array.of(0x3c00, 0xc000, 0x3800))), [1, -2, 0.5]);
  });
});

describe('tensors of the type a model declares', () => {
  it('float32: a Float32Array is used as it is, numbers are converted', () => {
    const data = Float32Array.of(1, 2, 3, 4);
    const t = tensorOf('float32', data, [2, 2]);
    assert.equal(t.type, 'float32');
    assert.equal(t.data, data);
    assert.deepEqual(Array.from(tensorOf('float32', [0.5, 1.5], [2]).data as Float32Array), [0.5, 1.5]);
    assert.equal(readFloat32(t), data);
  });

  it('float16: half bit patterns in a Uint16Array (what onnxruntime-node 1.30 takes and gives on Node 20), read back exactly', () => {
    const t = tensorOf('float16', [1, 0.1, -65504, 70000], [4]);
    assert.equal(t.type, 'float16');
    assert.ok(t.data instanceof Uint16Array || (globalThis as { Float16Array?: unknown }).Float16Array !== undefined);
    assert.deepEqual(Array.from(readFloat32(t)), [1, fromHalfBits(0x2e66), -65504, Infinity]);
  });

  it('int64: a BigInt64Array of the integers, also beyond 32 bits; a fraction or an unsafe integer is refused, naming the input', () => {
    const t = tensorOf('int64', [49406, -3, 2 ** 40, 0], [1, 4], 'input_ids');
    assert.equal(t.type, 'int64');
    assert.ok(t.data instanceof BigInt64Array);
    assert.deepEqual(Array.from(t.data as BigInt64Array), [49406n, -3n, 1099511627776n, 0n]);
    assert.deepEqual(Array.from(readFloat32(t)), [49406, -3, 2 ** 40, 0]);
    assert.throws(() => tensorOf('int64', [1.5], [1], 'timestep'), (e: unknown) => e instanceof RangeError && /timestep: int64 input value 1.5/.test(e.message));
    assert.throws(() => tensorOf('int64', [2 ** 60], [1]), RangeError);
  });

  it('int32: Int32Array, with the int32 range checked', () => {
    const t = tensorOf('int32', Float32Array.of(999, -1), [2]);
    assert.ok(t.data instanceof Int32Array);
    assert.deepEqual(Array.from(t.data as Int32Array), [999, -1]);
    assert.throws(() => tensorOf('int32', [2 ** 31], [1]), RangeError);
  });

  it('refuses a length that does not fit the shape and a type it cannot build', () => {
    assert.throws(() => tensorOf('float32', [1, 2, 3], [2, 2], 'sample'), /sample: 3 values for shape \[2, 2\] \(4\)/);
    assert.throws(() => tensorOf('string', [1], [1]), /not supported/);
  });
});
