import { execFile, fork } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { firstString } from '../src/dicom/dataset.js';
import { readPart10 } from '../src/dicom/part10.js';
import { summariseProfiles } from './cpu-profile-summary.js';
import { generateCorpus, type CorpusFile } from './cr-corpus.js';
import {
  orthancRow,
  oursRows,
  renderMarkdown,
  renderOrthancDetail,
  renderStages,
  renderTable,
  type BenchResult,
  type SanityCheck,
} from './deid-bench-report.js';
import { measureCliWorkers, type CliWorkersRow } from './cli-workers-run.js';
import { OrthancAnonymizeSession } from './orthanc-anonymize-run.js';
import type { OursRunRequest, OursRunResult } from './ours-deid-run.js';

const USAGE = `npm run bench:deid -- [options]

Tag de-identification throughput and memory: AnoFAIR (file -> readPart10 -> deidentify, Basic Profile ->
writePart10 -> file) against Orthanc 1.10's POST /instances/{id}/anonymize, on a generated CR corpus.

  --files N        corpus size (default 200)
  --sizes A,B      corpus sizes to measure, each a prefix of the corpus (default N/4,N)
  --rows R         image rows (default 2500)
  --cols C         image columns (default 2048)
  --seed S         corpus seed (default 1729)
  --passes P       timed passes per side and size, interleaved; the table gives the median (default 3)
  --quick          a try-out: 20 files, sizes 5,20, one pass
  --no-orthanc     skip the Orthanc side (the result is then not a benchmark, only a smoke run)
  --workers A,B    also run \`anofair deidentify\` (its own process, the release worker pool) with A and B worker
                   threads on the largest size, beside dcmtk's dcmodify with two processes (default 1,2; 0: skip)
  --cpu-prof       CPU-profile the first AnoFAIR pass at the largest size (its timed loop only) and summarise it
  --out DIR        results folder (default bench-out)
  --tmp DIR        where the temporary corpus goes (default the OS temp folder); deleted at the end
  --keep           keep the temporary corpus and outputs
  -h, --help       this text
`;

const MB = 1e6;
const execFileAsync = promisify(execFile);

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      files: { type: 'string' },
      sizes: { type: 'string' },
      rows: { type: 'string' },
      cols: { type: 'string' },
      seed: { type: 'string' },
      passes: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-orthanc': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-out' },
      tmp: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      workers: { type: 'string', default: '1,2' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const files = positiveInt('files', values.files, values.quick ? 20 : 200);
  const defaultSizes = values.quick && !values.files ? [5, 20] : [Math.max(1, Math.round(files / 4)), files];
  const sizes = values.sizes
    ? values.sizes.split(',').map((s) => positiveInt('sizes', s.trim(), 0))
    : defaultSizes;
  if (sizes.some((s) => s > files)) throw new Error(`--sizes may not exceed --files (${files})`);
  return {
    files,
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    rows: positiveInt('rows', values.rows, 2500),
    cols: positiveInt('cols', values.cols, 2048),
    seed: positiveInt('seed', values.seed, 1729),
    passes: positiveInt('passes', values.passes, values.quick ? 1 : 3),
    orthanc: !values['no-orthanc'],
    cpuProf: values['cpu-prof'],
    out: resolve(values.out),
    tmp: resolve(values.tmp),
    keep: values.keep,
    workers: values.workers === '0' ? [] : values.workers!.split(',').map((w) => positiveInt('workers', w.trim(), 1)),
  };
}

function progressBar(): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format: '{phase} [{bar}] {value}/{total}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 10_000, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
}

/** One AnoFAIR run in a fresh Node process, so that its peak RSS belongs to this corpus size alone. */
function runOursInChild(request: OursRunRequest, label: string): Promise<OursRunResult> {
  const worker = fileURLToPath(new URL('./ours-deid-run.js', import.meta.url));
  const bar = progressBar();
  bar.start(request.files.length, 0, { phase: label });
  return new Promise((resolvePromise, reject) => {
    const child = fork(worker, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.on('message', (message: { progress?: number; result?: OursRunResult; error?: string }) => {
      if (message.progress !== undefined) bar.update(message.progress);
      if (message.result) {
        settled = true;
        resolvePromise(message.result);
      }
      if (message.error) {
        settled = true;
        reject(new Error(`AnoFAIR run failed: ${message.error}`));
      }
    });
    child.on('exit', (code) => {
      bar.stop();
      if (!settled) reject(new Error(`the AnoFAIR worker exited with code ${code} before reporting`));
    });
    child.send(request);
  });
}

async function sanityCheck(side: string, path: string | undefined, original: CorpusFile): Promise<SanityCheck> {
  const source = readPart10(await readFile(original.path));
  const name = firstString(source.dataset, '00100010') ?? '';
  const id = firstString(source.dataset, '00100020') ?? '';
  const check: SanityCheck = { side, file: path ?? '', readBack: false, dcmdump: false, patientNameGone: false, patientIdGone: false, detail: 'no output' };
  if (!path) return check;
  const bytes = await readFile(path);
  try {
    readPart10(bytes);
    check.readBack = true;
  } catch {
    // reported below
  }
  try {
    await execFileAsync('dcmdump', ['-q', path], { maxBuffer: 64 * 1024 * 1024 });
    check.dcmdump = true;
  } catch {
    // reported below
  }
  const text = bytes.toString('latin1') + bytes.toString('utf8');
  const family = name.split('^')[0] ?? '';
  check.patientNameGone = family.length > 0 && !text.includes(family) && !text.includes(Buffer.from(family, 'utf8').toString('latin1'));
  check.patientIdGone = id.length > 0 && !text.includes(id);
  check.detail = `${check.readBack ? 'readPart10 reads it' : 'readPart10 FAILS'}, ${check.dcmdump ? 'dcmdump reads it' : 'dcmdump FAILS'}, original name ${check.patientNameGone ? 'gone' : 'STILL THERE'}, original Patient ID ${check.patientIdGone ? 'gone' : 'STILL THERE'}`;
  return check;
}

/** The code this benchmark loads; uncommitted changes elsewhere in the tree do not affect it. */
const MEASURED_PATHS = ['src/dicom', 'src/anonymizer', 'src/errors', 'bench', 'test/harness', 'package-lock.json'];

/** The commit measured and the files of MEASURED_PATHS that differ from it (the build compiles the working tree). */
async function codeVersion(): Promise<BenchResult['code']> {
  try {
    const commit = (await execFileAsync('git', ['rev-parse', 'HEAD'])).stdout.trim();
    const status = (await execFileAsync('git', ['status', '--porcelain', '--', ...MEASURED_PATHS])).stdout;
    return { commit, uncommittedSrc: status.split('\n').filter(Boolean).map((line) => line.slice(3)).filter((path) => !path.endsWith('.test.ts')) };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommittedSrc: [] };
  }
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const command = `npm run bench:deid${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const code = await codeVersion();
  const work = await mkdtemp(join(opts.tmp, 'anofair-deid-bench-'));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await mkdir(opts.out, { recursive: true });
  const cleanUp = async () => {
    if (!opts.keep) await rm(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
  try {
    process.stderr.write(`Corpus: ${opts.files} CR files of ${opts.cols}x${opts.rows}, 16 bit, in ${work}\n`);
    const bar = progressBar();
    bar.start(opts.files, 0, { phase: 'generate corpus' });
    const genStart = performance.now();
    const corpus = await generateCorpus(join(work, 'corpus'), { files: opts.files, rows: opts.rows, cols: opts.cols, seed: opts.seed }, (done) => bar.update(done));
    bar.stop();
    const generateSeconds = (performance.now() - genStart) / 1000;
    const totalBytes = corpus.reduce((sum, f) => sum + f.bytes, 0);

    const ours: BenchResult['ours'] = opts.sizes.map((size) => ({ size, runs: [] }));
    const orthancAnonymize: NonNullable<BenchResult['orthanc']>['anonymize'] = opts.sizes.map((size) => ({ size, runs: [] }));
    const uploads: NonNullable<BenchResult['orthanc']>['uploads'] = [];
    const profileDir = join(opts.out, 'profiles', stamp);
    const orthanc = opts.orthanc ? await OrthancAnonymizeSession.start() : undefined;
    let oursFirstOutput: string | undefined;
    let orthancFirstOutput: string | undefined;
    try {
      // Sizes ascending; at each size the two sides alternate pass by pass, so that load from elsewhere on the
      // machine falls on both alike.
      for (const [index, size] of opts.sizes.entries()) {
        if (orthanc) {
          const bar = progressBar();
          bar.start(size, orthanc.uploaded, { phase: `Orthanc upload (${size})` });
          uploads.push({ size, phase: await orthanc.upload(corpus, size, (done) => bar.update(done)) });
          bar.stop();
        }
        for (let pass = 1; pass <= opts.passes; pass++) {
          const profile = opts.cpuProf && index === opts.sizes.length - 1 && pass === 1;
          const outDir = join(work, `ours-${size}-${pass}`);
          const run = await runOursInChild(
            { files: corpus.slice(0, size).map((f) => f.path), outDir, cpuProfile: profile ? join(profileDir, `anofair-${size}.cpuprofile`) : undefined },
            `AnoFAIR deidentify (${size}, pass ${pass})`,
          );
          if (run.quarantined.length) {
            throw new Error(`AnoFAIR quarantined ${run.quarantined.length} of ${size} instances (first: ${run.quarantined[0]!.file}: ${run.quarantined[0]!.reason}); the corpus must be releasable under the Basic Profile`);
          }
          oursFirstOutput ??= run.firstOutput;
          if (run.firstOutput !== oursFirstOutput) await rm(outDir, { recursive: true, force: true });
          ours[index]!.runs.push(run);
          if (orthanc) {
            const bar = progressBar();
            bar.start(size, 0, { phase: `Orthanc anonymize (${size}, pass ${pass})` });
            orthancAnonymize[index]!.runs.push(await orthanc.anonymize(corpus, size, (done) => bar.update(done)));
            bar.stop();
          }
        }
      }
      orthancFirstOutput = await orthanc?.keepFirstOutput(work);
    } finally {
      await orthanc?.close();
    }

    const largest = opts.sizes.at(-1)!;
    const cliWorkers: CliWorkersRow[] = opts.workers.length
      ? await measureCliWorkers(corpus.slice(0, largest), work, opts.passes, opts.workers, (line) => process.stderr.write(`${line}\n`))
      : [];

    const rows = [
      ...ours.flatMap(({ size, runs }) => oursRows(size, runs)),
      ...(orthanc ? orthancAnonymize.map(({ size, runs }) => orthancRow(size, runs)) : []),
    ];
    const ratios = opts.sizes.flatMap((size) => {
      const a = rows.find((r) => r.side === 'AnoFAIR' && r.files === size);
      const o = rows.find((r) => r.side === 'Orthanc' && r.files === size);
      return a && o ? [{ size, throughput: Math.round((100 * a.instancesPerSecond) / o.instancesPerSecond) / 100, cpu: Math.round((100 * o.cpuMsPerInstance) / a.cpuMsPerInstance) / 100 }] : [];
    });
    const oursMain = rows.filter((r) => r.side === 'AnoFAIR');
    const growth = oursMain.length > 1 ? (100 * (oursMain.at(-1)!.peakRssMiB - oursMain[0]!.peakRssMiB)) / oursMain[0]!.peakRssMiB : 0;
    const sanity = [await sanityCheck('AnoFAIR', oursFirstOutput, corpus[0]!)];
    if (orthanc) sanity.push(await sanityCheck('Orthanc', orthancFirstOutput, corpus[0]!));

    const result: BenchResult = {
      command,
      date: new Date().toISOString(),
      code,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
      },
      corpus: {
        files: opts.files,
        rows: opts.rows,
        cols: opts.cols,
        bitsAllocated: 16,
        seed: opts.seed,
        totalMB: totalBytes / MB,
        meanFileMB: totalBytes / MB / corpus.length,
        generateSeconds,
      },
      passes: opts.passes,
      ours,
      orthanc: orthanc ? { version: orthanc.version, dicomVersion: '2021b (Orthanc 1.10 default)', pid: orthanc.pid, uploads, anonymize: orthancAnonymize } : undefined,
      rows,
      ratios,
      // Flat: the larger corpus costs at most 25 % more peak memory than the smaller one. RSS is a GC sawtooth of a
      // few 10 MB buffers, so a longer run meets a slightly higher tooth; memory that grew with the corpus would
      // grow with its size (4x by default).
      memoryFlat: { oursGrowthPercent: Math.round(growth * 10) / 10, flat: growth <= 25 },
      target: { throughputAtLeast: 2, met: ratios.length > 0 && ratios.every((r) => r.throughput >= 2) },
      sanity,
      profiles: opts.cpuProf ? await summariseProfiles(profileDir) : undefined,
    };

    const cliTable = cliWorkers.length
      ? [
          '',
          `The CLI with its release worker pool against dcmtk's dcmodify with two processes, ${largest} files, wall time, median of ${opts.passes}:`,
          '',
          '| side | files | seconds | instances/s | vs dcmodify |',
          '| --- | --- | --- | --- | --- |',
          ...cliWorkers.map((r) => `| ${r.side} | ${r.files} | ${r.seconds} | ${r.instancesPerSecond} | ${(r.instancesPerSecond / cliWorkers.find((d) => d.side.startsWith('dcmodify'))!.instancesPerSecond).toFixed(2)}x |`),
        ].join('\n')
      : '';
    const markdown = renderMarkdown(result) + cliTable + '\n';
    const base = join(opts.out, `deid-bench-${stamp}`);
    await writeFile(`${base}.json`, JSON.stringify({ ...result, cliWorkers }, null, 2));
    await writeFile(`${base}.md`, markdown);
    process.stdout.write(`\n${renderTable(result)}\n\nAnoFAIR, ms per instance by stage:\n${renderStages(result)}\n${cliTable}\n\n`);
    if (orthanc) process.stdout.write(`Orthanc, per instance:\n${renderOrthancDetail(result)}\n\n`);
    process.stdout.write(`Memory flat: ${result.memoryFlat.flat ? 'yes' : 'NO'} (${result.memoryFlat.oursGrowthPercent} % peak RSS growth). `);
    process.stdout.write(`Target 2x Orthanc: ${orthanc ? (result.target.met ? 'met' : 'NOT met') : 'not measured (--no-orthanc)'}.\n`);
    for (const s of sanity) process.stdout.write(`Sanity ${s.side}: ${s.detail}\n`);
    if (result.profiles?.length) {
      process.stdout.write(`\nCPU profile (${result.profiles[0]!.profile}), self time by function:\n`);
      for (const f of result.profiles[0]!.functions) process.stdout.write(`  ${String(f.ms).padStart(7)} ms ${f.percent.toFixed(1).padStart(5)} %  ${f.name}\n`);
    }
    process.stdout.write(`\nResults: ${base}.json and ${base}.md\n`);
    if (sanity.some((s) => !s.readBack || !s.dcmdump || !s.patientNameGone || !s.patientIdGone)) process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:deid failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
