import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readPart10, writePart10 } from '../src/dicom/part10.js';
import { generateCorpus, prng } from './cr-corpus.js';

/**
 * One study of N chest radiographs for the proxy benchmark: a generated CR (bench/cr-corpus.ts) copied N times
 * with one Study and Series Instance UID and a new SOP Instance UID per copy, written to files so that requests
 * stream from disk (the benchmark measures the gateway's memory, not the client's).
 */
export interface StudyFiles {
  studyInstanceUID: string;
  files: string[];
  bytes: number;
}

function uid(rand: () => number): string {
  let n = 0n;
  for (let i = 0; i < 4; i++) n = (n << 30n) | BigInt(Math.floor(rand() * 2 ** 30));
  return `2.25.${n}`;
}

export async function makeStudy(dir: string, instances: number, spec: { rows: number; cols: number; seed: number }): Promise<StudyFiles> {
  await mkdir(dir, { recursive: true });
  const [template] = await generateCorpus(join(dir, 'template'), { files: 1, rows: spec.rows, cols: spec.cols, seed: spec.seed });
  const base = readPart10(await readFile(template!.path));
  const rand = prng(spec.seed + 1);
  const study = uid(rand);
  const series = uid(rand);
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < instances; i++) {
    const sop = uid(rand);
    const dataset = { ...base.dataset };
    dataset['0020000D'] = { vr: 'UI', Value: [study] };
    dataset['0020000E'] = { vr: 'UI', Value: [series] };
    dataset['00080018'] = { vr: 'UI', Value: [sop] };
    dataset['00200013'] = { vr: 'IS', Value: [i + 1] };
    const meta = { ...base.meta, '00020003': { vr: 'UI', Value: [sop] } };
    const out = writePart10({ meta, dataset });
    const path = join(dir, `i-${String(i + 1).padStart(5, '0')}.dcm`);
    await writeFile(path, out);
    files.push(path);
    bytes += out.byteLength;
  }
  return { studyInstanceUID: study, files, bytes };
}

/** A multipart/related STOW-RS body streamed from files (PS3.18 10.5.1.1). */
export function stowBody(files: readonly string[], boundary: string): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    for (const file of files) {
      yield Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
      for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return Readable.from(parts());
}
