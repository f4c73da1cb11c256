import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The top-level fields of an ONNX file (ModelProto) that onnxruntime-node does not expose: producer, IR version,
 * opset imports and metadata_props, where ultralytics keeps a YOLOv8 export's class names (`names`), `imgsz`,
 * `stride` and `task`. Read straight from the protobuf wire format with a few positioned reads: the graph (field 7,
 * the weights) is skipped by its length, so a multi-gigabyte file costs nothing.
 */

export interface OnnxFileInfo {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  /** opset imports: domain ('' = ai.onnx) -> version */
  opsets: Record<string, number>;
  /** metadata_props, key -> value */
  metadata: Record<string, string>;
}

class Reader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    public pos = 0,
  ) {}

  private fill(need: number): void {
    if (this.pos >= this.bufStart && this.pos + need <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(need, 1 << 16), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    const got = readSync(this.fd, this.buf, 0, len, this.pos);
    this.buf = this.buf.subarray(0, got);
    this.bufStart = this.pos;
    if (got < need) throw new Error(`truncated at byte ${this.pos}`);
  }

  byte(): number {
    this.fill(1);
    return this.buf[this.pos++ - this.bufStart]!;
  }

  varint(): number {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * shift;
      if (!(b & 0x80)) return result;
      shift *= 128;
    }
    throw new Error(`bad varint at byte ${this.pos}`);
  }

  bytes(n: number): Buffer {
    if (n > 64 * 1024 * 1024) throw new Error(`field of ${n} bytes where a string was expected`);
    this.fill(n);
    const out = this.buf.subarray(this.pos - this.bufStart, this.pos - this.bufStart + n);
    this.pos += n;
    return Buffer.from(out);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const n = this.varint(); // read first: `this.pos += this.varint()` would add to the position before the length
      this.pos += n;
    }
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire} at byte ${this.pos}`);
    if (this.pos > this.size) throw new Error('truncated');
  }
}

/** Fields of a small embedded message (StringStringEntryProto, OperatorSetIdProto): number -> string | number. */
function fields(buf: Buffer): Map<number, string | number> {
  const out = new Map<number, string | number>();
  let i = 0;
  const varint = (): number => {
    let r = 0;
    let s = 1;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated embedded message');
      const b = buf[i++]!;
      r += (b & 0x7f) * s;
      if (!(b & 0x80)) return r;
      s *= 128;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) out.set(field, varint());
    else if (wire === 2) {
      const n = varint();
      out.set(field, buf.subarray(i, i + n).toString('utf8'));
      i += n;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

/** Throws an Error saying where the file stops being an ONNX ModelProto. */
export function readOnnxFileInfo(path: string): OnnxFileInfo {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new Error('the file is empty');
    const r = new Reader(fd, size);
    const info: OnnxFileInfo = { opsets: {}, metadata: {} };
    let sawGraph = false;
    while (r.pos < size) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) throw new Error(`field number 0 at byte ${r.pos}: not a protobuf message`);
      const str = (): string => r.bytes(r.varint()).toString('utf8');
      if (field === 1 && wire === 0) info.irVersion = r.varint();
      else if (field === 2 && wire === 2) info.producerName = str();
      else if (field === 3 && wire === 2) info.producerVersion = str();
      else if (field === 4 && wire === 2) info.domain = str();
      else if (field === 5 && wire === 0) info.modelVersion = r.varint();
      else if (field === 6 && wire === 2) info.docString = str();
      else if (field === 7 && wire === 2) {
        sawGraph = true;
        r.skip(2);
      } else if (field === 8 && wire === 2) {
        const f = fields(r.bytes(r.varint()));
        info.opsets[String(f.get(1) ?? '')] = Number(f.get(2) ?? 0);
      } else if (field === 14 && wire === 2) {
        const f = fields(r.bytes(r.varint()));
        info.metadata[String(f.get(1) ?? '')] = String(f.get(2) ?? '');
      } else r.skip(wire);
    }
    if (info.irVersion === undefined || !sawGraph) throw new Error(`no ${info.irVersion === undefined ? 'ir_version' : 'graph'} field: not an ONNX model`);
    return info;
  } finally {
    closeSync(fd);
  }
}

/**
 * ultralytics' `names` metadata, a Python dict literal ("{0: 'person', 1: 'bicycle'}"), as a list by index; also
 * accepts JSON ({"0": "person"} or ["person"]). Undefined when it is not one of these.
 */
export function parseClassNames(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  try {
    const json = JSON.parse(text) as unknown;
    if (Array.isArray(json) && json.every((v) => typeof v === 'string')) return json as string[];
    if (json && typeof json === 'object') return byIndex(Object.entries(json as Record<string, unknown>));
  } catch {
    // a Python literal: below
  }
  const entries: [string, unknown][] = [];
  const re = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (const m of text.matchAll(re)) entries.push([m[1]!, (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1')]);
  return entries.length ? byIndex(entries) : undefined;
}

function byIndex(entries: [string, unknown][]): string[] | undefined {
  if (!entries.every(([k, v]) => /^\d+$/.test(k) && typeof v === 'string')) return undefined;
  const sorted = entries.map(([k, v]) => [Number(k), v as string] as const).sort((a, b) => a[0] - b[0]);
  if (sorted.some(([k], i) => k !== i)) return undefined;
  return sorted.map(([, v]) => v);
}

/** ultralytics' `imgsz` metadata ("[640, 640]") as [height, width]. */
export function parseImageSize(text: string | undefined): [number, number] | undefined {
  if (!text) return undefined;
  const nums = [...text.matchAll(/\d+/g)].map((m) => Number(m[0]));
  if (nums.length === 1) return [nums[0]!, nums[0]!];
  if (nums.length === 2) return [nums[0]!, nums[1]!];
  return undefined;
}
