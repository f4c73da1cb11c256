import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CorpusFile } from './cr-corpus.js';

/**
 * `anofair deidentify` as an operator runs it (its own process, the release worker pool with 1 and N threads)
 * against dcmtk's dcmodify with two processes side by side on the same files: dcmodify does far less (it
 * empties or replaces the attributes it is told to and makes new UIDs, no profile, no release check), so it is
 * the floor a hospital's shell script would reach, not a like-for-like de-identifier.
 */

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const execFileAsync = promisify(execFile);

/** What a typical dcmodify de-identification script does: new UIDs, the obvious identifiers emptied. */
const DCMODIFY_ARGS = [
  '-nb', '-ie', '-imt', '-gin', '-gse', '-gst',
  '-ma', '(0010,0010)=ANON', '-ma', '(0010,0020)=ANON',
  ...['(0010,0030)', '(0008,0080)', '(0008,0090)', '(0008,0050)', '(0008,1010)', '(0020,0010)', '(0008,0020)', '(0008,0030)'].flatMap((t) => ['-ea', t]),
];

export interface CliWorkersRow {
  side: string;
  processes: number;
  files: number;
  seconds: number;
  instancesPerSecond: number;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return (performance.now() - t0) / 1000;
}

function runAnofair(inputs: string[], out: string, workers: number, keyFile: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/anofair.js'), 'deidentify', ...inputs, '--out', out, '--workers', String(workers), '--key-file', keyFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`anofair deidentify exited ${code}: ${err}`))));
  });
}

/** dcmodify in place on copies, the files split between `processes` processes. */
async function runDcmodify(files: string[], processes: number): Promise<void> {
  const share = Math.ceil(files.length / processes);
  await Promise.all(
    Array.from({ length: processes }, (_, p) => files.slice(p * share, (p + 1) * share)).filter((part) => part.length > 0).map((part) => execFileAsync('dcmodify', [...DCMODIFY_ARGS, ...part], { maxBuffer: 1 << 24 })),
  );
}

export async function measureCliWorkers(corpus: CorpusFile[], work: string, passes: number, workerCounts: number[], log: (line: string) => void): Promise<CliWorkersRow[]> {
  const files = corpus.map((f) => f.path);
  const keyFile = join(work, 'cli-bench.key');
  await writeFile(keyFile, `${Buffer.alloc(32, 17).toString('hex')}\n`, { mode: 0o600 });
  const samples = new Map<string, number[]>();
  const add = (side: string, s: number): void => void samples.set(side, [...(samples.get(side) ?? []), s]);
  for (let pass = 1; pass <= passes; pass++) {
    for (const workers of workerCounts) {
      const out = join(work, `cli-out-${workers}`);
      log(`anofair deidentify --workers ${workers}, ${files.length} files, pass ${pass} ...`);
      add(`anofair deidentify --workers ${workers}`, await timed(() => runAnofair(files, out, workers, keyFile)));
      await rm(out, { recursive: true, force: true });
    }
    const copies = join(work, 'dcmodify-copies');
    await mkdir(copies, { recursive: true });
    const copied = await Promise.all(files.map(async (f, i) => {
      const to = join(copies, `${i}.dcm`);
      await cp(f, to);
      return to;
    }));
    log(`dcmodify, 2 processes, ${files.length} files, pass ${pass} ...`);
    add('dcmodify (dcmtk), 2 processes', await timed(() => runDcmodify(copied, 2)));
    await rm(copies, { recursive: true, force: true });
  }
  return [...samples].map(([side, seconds]) => {
    const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)]!;
    return { side, processes: side.startsWith('dcmodify') ? 2 : 1, files: files.length, seconds: Math.round(median * 100) / 100, instancesPerSecond: Math.round((files.length / median) * 10) / 10 };
  });
}
