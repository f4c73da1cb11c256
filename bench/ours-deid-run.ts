import { readFileSync } from 'node:fs';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { basename, dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { releaseInstance } from '../src/anonymizer/release-instance.js';
import { readPart10, writePart10Chunks } from '../src/dicom/part10.js';
import { writeChunksToFile } from '../src/dicom/part10-file.js';
import { maxRssBytes, RssSampler } from './memory-probe.js';

/**
 * Our side of the de-identification benchmark, run in a child process of its own so that its peak RSS belongs to
 * one corpus size: file -> readPart10 -> deidentify (Basic Profile) -> writePart10 -> file, one instance after
 * the other, with the file I/O of `anofair deidentify` (read whole file; write a .partial file, then rename).
 * The first output is kept for the parent's sanity check; the others are deleted as soon as they are written
 * (after the clock stops), so the run needs no more disk than the corpus.
 */

export interface OursRunRequest {
  files: string[];
  outDir: string;
  /** Write a V8 CPU profile of the timed loop (only) to this .cpuprofile file. */
  cpuProfile?: string;
}

export interface StageTimes {
  readFile: number;
  parse: number;
  deidentify: number;
  serialise: number;
  writeFile: number;
}

export interface OursRunResult {
  instances: number;
  released: number;
  quarantined: { file: string; reason: string }[];
  inputBytes: number;
  outputBytes: number;
  wallSeconds: number;
  /** user + system CPU seconds of the worker (all its threads, GC included) while the clock ran. */
  cpuSeconds: number;
  /** Milliseconds spent in each stage, summed over the instances. */
  stageMs: StageTimes;
  peakRssSampled: number;
  maxRss: number;
  /** RSS after 1, 25 %, 50 %, 75 % and 100 % of the instances, to show whether memory grows with the corpus. */
  rssTrace: { after: number; rss: number }[];
  firstOutput?: string;
  loadavgBefore: number[];
  loadavgAfter: number[];
}

const BENCH_KEY = { id: 'bench-key-1', secret: new TextEncoder().encode('anofair benchmark key, not for production use') };

export async function runOurs(request: OursRunRequest, onProgress?: (done: number) => void): Promise<OursRunResult> {
  await mkdir(request.outDir, { recursive: true });
  const sampler = new RssSampler();
  const stageMs: StageTimes = { readFile: 0, parse: 0, deidentify: 0, serialise: 0, writeFile: 0 };
  const n = request.files.length;
  const traceAt = new Set([1, Math.ceil(n / 4), Math.ceil(n / 2), Math.ceil((3 * n) / 4), n]);
  const result: OursRunResult = {
    instances: n,
    released: 0,
    quarantined: [],
    inputBytes: 0,
    outputBytes: 0,
    wallSeconds: 0,
    cpuSeconds: 0,
    stageMs,
    peakRssSampled: 0,
    maxRss: 0,
    rssTrace: [],
    loadavgBefore: loadavg(),
    loadavgAfter: [],
  };
  let loopMs = 0;
  const profiler = request.cpuProfile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  let cpuMicros = 0;
  sampler.start();
  for (let i = 0; i < n; i++) {
    const path = request.files[i]!;
    const outPath = join(request.outDir, basename(path));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const bytes = readFileSync(path);
    const t1 = performance.now();
    const file = readPart10(bytes);
    const t2 = performance.now();
    // the one release function every path uses (here on this thread: the stages are timed one by one)
    const outcome = await releaseInstance(file, { options: [], pixels: 'none' }, { key: BENCH_KEY });
    const t3 = performance.now();
    let t5 = t3;
    if (outcome.status === 'released') {
      // As `anofair deidentify` does: header and pixel view written with writev, renamed when complete.
      const chunks = writePart10Chunks(outcome.file);
      const t4 = performance.now();
      const written = writeChunksToFile(outPath, chunks);
      t5 = performance.now();
      stageMs.serialise += t4 - t3;
      stageMs.writeFile += t5 - t4;
      result.released++;
      result.outputBytes += written;
    } else {
      result.quarantined.push({ file: basename(path), reason: outcome.reason });
    }
    const cpu = process.cpuUsage(cpu0);
    cpuMicros += cpu.user + cpu.system;
    stageMs.readFile += t1 - t0;
    stageMs.parse += t2 - t1;
    stageMs.deidentify += t3 - t2;
    loopMs += t5 - t0;
    result.inputBytes += bytes.byteLength;
    const rss = sampler.sample();
    if (traceAt.has(i + 1)) result.rssTrace.push({ after: i + 1, rss });
    // Bookkeeping outside the clock: keep the first output for the sanity check, drop the rest.
    if (outcome.status === 'released') {
      if (result.firstOutput === undefined) result.firstOutput = outPath;
      else await unlink(outPath);
    }
    onProgress?.(i + 1);
    await yieldToLoop(); // let the progress message and the RSS timer through, off the clock
  }
  sampler.stop();
  if (profiler && request.cpuProfile) {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    await mkdir(dirname(request.cpuProfile), { recursive: true });
    await writeFile(request.cpuProfile, JSON.stringify(profile));
  }
  result.wallSeconds = loopMs / 1000;
  result.cpuSeconds = cpuMicros / 1e6;
  result.peakRssSampled = sampler.peakRss;
  result.maxRss = maxRssBytes();
  result.loadavgAfter = loadavg();
  return result;
}

// Child-process entry: the parent forks this file and sends one OursRunRequest.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  process.once('message', (request: OursRunRequest) => {
    runOurs(request, (done) => process.send!({ progress: done }))
      .then((result) => process.send!({ result }, () => process.exit(0)))
      .catch((err: unknown) => {
        process.send!({ error: err instanceof Error ? err.message : String(err) }, () => process.exit(1));
      });
  });
}
