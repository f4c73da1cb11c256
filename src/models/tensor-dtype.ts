import * as ort from 'onnxruntime-node';

/**
 * Tensors of the type a model declares, from the Float32Array / number[] the pipelines compute in, and any output
 * back as Float32Array. Never assume float32: an fp16 export declares float16 inputs and outputs, exporters differ
 * on int32/int64 ids and on a float or integer UNet timestep.
 *
 * float16: Node 20 has no Float16Array, and onnxruntime-common 1.30 then stores 'float16' tensors as Uint16Array of
 * IEEE 754 binary16 bit patterns (it accepts a Uint16Array for 'float16' also where a Float16Array exists, and then
 * hands outputs back as Float16Array): halfBits() / fromHalfBits() convert, rounding to nearest, ties to even.
 */

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array | Int8Array | readonly number[];

/** The element types models declare that these helpers build and read. */
export const SUPPORTED_TYPES = ['float32', 'float16', 'float64', 'int32', 'int64', 'uint8', 'int8', 'bool'] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

export function isSupportedType(type: string): type is SupportedType {
  return (SUPPORTED_TYPES as readonly string[]).includes(type);
}

const TWO_POW_24 = 2 ** 24;

function roundHalfEven(m: number): number {
  const f = Math.floor(m);
  const d = m - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * The binary16 bit pattern nearest to a number (a JS double, or a float32 value read from a Float32Array):
 * rounded once, to nearest with ties to even, as IEEE 754 and numpy do; beyond the largest half (65504) values
 * round to infinity from 65520 up; NaN stays NaN (0x7e00), the sign of zero is kept.
 */
export function halfBits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity || a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // subnormal: a multiple of 2^-24 (rounding up to 1024 gives the smallest normal, 0x0400, correctly)
    return sign | roundHalfEven(a * TWO_POW_24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e) * 1024); // 1024 .. 2048, exact scaling by a power of two
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** The value of a binary16 bit pattern (exact in float32 and in a double). */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

let halfTable: Float32Array | undefined;

/** binary16 bit patterns -> Float32Array (exact). */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) halfTable[b] = fromHalfBits(b);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]!]!;
  return out;
}

/** Numbers -> binary16 bit patterns, each rounded once to nearest even. */
export function float32ToHalf(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i]!);
  return out;
}

function toNumbers(data: TensorData): ArrayLike<number> {
  if (data instanceof BigInt64Array) return Array.from(data, (v) => Number(v));
  return data as ArrayLike<number>;
}

function integers(name: string, type: string, data: TensorData, min: number, max: number): number[] {
  const values = toNumbers(data);
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name}: ${type} input value ${v} (index ${i}) is not an integer in the ${type} range`);
    out[i] = v;
  }
  return out;
}

/**
 * A tensor of the given element type (the model's declared one) from numbers: float types are converted (float16
 * rounded to nearest even), integer types must hold integers (a RangeError names the input otherwise), int64 is
 * a BigInt64Array. A typed array that already is the storage of that type is used as is (no copy).
 */
export function tensorOf(type: string, data: TensorData, dims: readonly number[], name = 'input'): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`${name}: ${data.length} values for shape [${dims.join(', ')}] (${count})`);
  switch (type) {
    case 'float32':
      return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(toNumbers(data)), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToHalf(toNumbers(data)), dims);
    case 'float64':
      return new ort.Tensor('float64', data instanceof Float64Array ? data : Float64Array.from(toNumbers(data)), dims);
    case 'int32':
      return new ort.Tensor('int32', data instanceof Int32Array ? data : Int32Array.from(integers(name, type, data, -(2 ** 31), 2 ** 31 - 1)), dims);
    case 'int64':
      return new ort.Tensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(integers(name, type, data, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), (v) => BigInt(v)), dims);
    case 'uint8':
      return new ort.Tensor('uint8', data instanceof Uint8Array ? data : Uint8Array.from(integers(name, type, data, 0, 255)), dims);
    case 'int8':
      return new ort.Tensor('int8', data instanceof Int8Array ? data : Int8Array.from(integers(name, type, data, -128, 127)), dims);
    case 'bool':
      return new ort.Tensor('bool', Uint8Array.from(toNumbers(data), (v) => (v ? 1 : 0)), dims);
    default:
      throw new RangeError(`${name}: element type ${type} is not supported (supported: ${SUPPORTED_TYPES.join(', ')})`);
  }
}

/** Any numeric tensor's values as a Float32Array: float32 data as is (no copy), float16 decoded exactly, others converted. */
export function readFloat32(tensor: ort.Tensor): Float32Array {
  const data = tensor.data as unknown;
  switch (tensor.type) {
    case 'float32':
      return data as Float32Array;
    case 'float16':
      // Uint16Array of bit patterns (no Float16Array in this runtime), else a Float16Array of values
      return data instanceof Uint16Array ? halfToFloat32(data) : Float32Array.from(data as ArrayLike<number>);
    case 'int64':
    case 'uint64':
      return Float32Array.from(data as BigInt64Array, (v) => Number(v));
    case 'string':
      throw new RangeError('a string tensor has no numeric values');
    default:
      return Float32Array.from(data as ArrayLike<number>);
  }
}
