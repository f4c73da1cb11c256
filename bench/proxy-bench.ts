import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { startOrthanc, type OrthancServer } from '../test/harness/orthanc.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../src/phantoms/generate.js';
import { parseLabels } from '../src/phantoms/labels.js';
import { mib, procMemory, resetPeakRss } from './memory-probe.js';
import { makeStudy, stowBody, type StudyFiles } from './proxy-study.js';

const USAGE = `npm run bench:proxy -- [options]

The gateway against direct access to the same Orthanc (1.10 + DICOMweb 1.7), side by side in one run:
QIDO-RS added latency (p50/p95), WADO-RS retrieve throughput (fraction of direct), STOW-RS ingest rate with
the research tap spooling every instance (shipped rules: the generated chest radiographs all match), and the
gateway's peak RSS for a small and a large study (memory must not grow with the study).

  --small N        instances in the small study (default 20)
  --large N        instances in the large study (default 200)
  --rows R --cols C  image size of each CR (default 1024 x 1024, about 2 MB per instance)
  --queries N      QIDO requests per side (default 400)
  --passes P       WADO retrieve passes per side, interleaved (default 3)
  --batch N        instances per STOW request (default 10)
  --burst N        chest radiograph phantoms (512 x 512) for the pixel burst phase (default 50): QIDO-RS p50/p99
                   through the gateway while it forwards them with pixels: cxr-anofair (the shipped rule),
                   against the idle gateway, with direct QIDO to the PACS measured in the same windows
  --out DIR        results folder (default bench-out)
`;

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface Args {
  small: number;
  large: number;
  rows: number;
  cols: number;
  queries: number;
  passes: number;
  batch: number;
  burst: number;
  out: string;
}

function args(): Args {
  const { values } = parseArgs({
    options: {
      small: { type: 'string', default: '20' },
      large: { type: 'string', default: '200' },
      rows: { type: 'string', default: '1024' },
      cols: { type: 'string', default: '1024' },
      queries: { type: 'string', default: '400' },
      passes: { type: 'string', default: '3' },
      batch: { type: 'string', default: '10' },
      burst: { type: 'string', default: '50' },
      out: { type: 'string', default: 'bench-out' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const n = (v: string | undefined, name: string): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) {
      process.stderr.write(`--${name} must be a positive integer\n${USAGE}`);
      process.exit(2);
    }
    return x;
  };
  return {
    small: n(values.small, 'small'),
    large: n(values.large, 'large'),
    rows: n(values.rows, 'rows'),
    cols: n(values.cols, 'cols'),
    queries: n(values.queries, 'queries'),
    passes: n(values.passes, 'passes'),
    batch: n(values.batch, 'batch'),
    burst: n(values.burst, 'burst'),
    out: values.out!,
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** The gateway as an operator runs it: `anofair serve` in its own process, so its memory is its own. */
async function startGateway(dir: string, pacs: OrthancServer, archive: OrthancServer): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const configPath = join(dir, 'gateway.yaml');
  await writeFile(
    configPath,
    stringify({
      server: { host: '127.0.0.1', port: 0 },
      upstream: { url: pacs.dicomWebUrl },
      destinations: { research: { url: archive.dicomWebUrl } },
      data: join(dir, 'gateway-data'),
      logging: { level: 'warn' },
    }),
  );
  const child = spawn(process.execPath, [join(ROOT, 'bin/anofair.js'), 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ANOFAIR_DEID_KEY: 'ab'.repeat(32) },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const deadline = Date.now() + 30_000;
  while (!/listening on (http:\/\/[\d.:]+)/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /listening on (http:\/\/[\d.:]+)/.exec(out)![1]!;
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function stow(pool: Pool, base: string, files: readonly string[], batch: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < files.length; i += batch) {
    const boundary = `bench-${i}-${Date.now()}`;
    const res = await pool.request({
      method: 'POST',
      path: `${new URL(base).pathname}/studies`,
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
      body: stowBody(files.slice(i, i + batch), boundary),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`STOW to ${base} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  }
  return (performance.now() - started) / 1000;
}

async function retrieve(pool: Pool, base: string, study: string): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const res = await pool.request({
    method: 'GET',
    path: `${new URL(base).pathname}/studies/${study}`,
    headers: { accept: 'multipart/related; type="application/dicom"' },
  });
  if (res.statusCode !== 200) throw new Error(`WADO-RS from ${base} answered ${res.statusCode}`);
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  return { seconds: (performance.now() - started) / 1000, bytes };
}

async function query(pool: Pool, base: string, path: string): Promise<number> {
  const started = performance.now();
  const res = await pool.request({ method: 'GET', path: `${new URL(base).pathname}${path}`, headers: { accept: 'application/dicom+json' } });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`QIDO ${path} answered ${res.statusCode}`);
  return performance.now() - started;
}

async function waitDrained(gatewayUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = (await (await fetch(`${gatewayUrl}/api/queue`)).json()) as { totals: Record<string, number> };
    if (s.totals.pending === 0 && s.totals['in-flight'] === 0) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

async function archivedCount(archive: OrthancServer): Promise<number> {
  return ((await (await fetch(`${archive.url}/statistics`)).json()) as { CountInstances: number }).CountInstances;
}

/** Chest radiograph phantoms (CR/DX, chest, some with burned-in text): what the shipped rule sends to the pixel step. */
async function burstPhantoms(dir: string, count: number): Promise<string[]> {
  await generatePhantoms({ ...DEFAULT_OPTIONS, out: dir, patients: Math.ceil(count / DEFAULT_OPTIONS.imagesPerPatient), seed: 'bench-burst', size: 512, force: true });
  return parseLabels(await readFile(join(dir, 'labels.jsonl'), 'utf8')).slice(0, count).map((l) => join(dir, l.file));
}

async function main(): Promise<void> {
  const a = args();
  const work = await mkdtemp(join(tmpdir(), 'anofair-proxy-bench-'));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const servers: OrthancServer[] = [];
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    log(`generating a small (${a.small}) and a large (${a.large}) study of ${a.rows}x${a.cols} CRs ...`);
    const small = await makeStudy(join(work, 'small'), a.small, { rows: a.rows, cols: a.cols, seed: 11 });
    const large = await makeStudy(join(work, 'large'), a.large, { rows: a.rows, cols: a.cols, seed: 23 });
    // The PACS behind the gateway, an identical Orthanc for direct STOW (the anchor), and the research archive.
    const pacs = await startOrthanc({ name: 'BENCH-PACS' });
    servers.push(pacs);
    const direct = await startOrthanc({ name: 'BENCH-DIRECT' });
    servers.push(direct);
    const archive = await startOrthanc({ name: 'BENCH-ARCHIVE' });
    servers.push(archive);
    gateway = await startGateway(work, pacs, archive);
    const gwBase = `${gateway.url}/dicom-web`;
    const pools = new Map<string, Pool>();
    const pool = (base: string): Pool => {
      const origin = new URL(base).origin;
      if (!pools.has(origin)) pools.set(origin, new Pool(origin, { connections: 4 }));
      return pools.get(origin)!;
    };
    const pid = gateway.child.pid!;
    const canReset = await resetPeakRss(pid);

    const memory: Record<string, number> = {};
    const stowRows: Array<{ study: string; side: string; instances: number; mb: number; seconds: number }> = [];
    const phase = async (name: string, study: StudyFiles): Promise<void> => {
      await resetPeakRss(pid);
      log(`STOW ${name} study: direct, then through the gateway (tap on) ...`);
      const tDirect = await stow(pool(direct.dicomWebUrl), direct.dicomWebUrl, study.files, a.batch);
      const tGateway = await stow(pool(gwBase), gwBase, study.files, a.batch);
      stowRows.push({ study: name, side: 'direct', instances: study.files.length, mb: study.bytes / 1e6, seconds: tDirect });
      stowRows.push({ study: name, side: 'gateway', instances: study.files.length, mb: study.bytes / 1e6, seconds: tGateway });
      log(`WADO ${name} study through the gateway ...`);
      await retrieve(pool(gwBase), gwBase, study.studyInstanceUID);
      memory[name] = (await procMemory(pid)).vmHWM;
    };
    await phase('small', small);
    await phase('large', large);
    // Timed reads start once the research copies are delivered, so background forwarding does not share the CPU.
    log('waiting for the research copies to reach the archive ...');
    const drained = await waitDrained(gateway.url, 15 * 60_000);

    log(`WADO-RS throughput, ${a.passes} passes per side, interleaved ...`);
    const wado: Record<'direct' | 'gateway', number[]> = { direct: [], gateway: [] };
    let wadoBytes = 0;
    for (let p = 0; p < a.passes; p++) {
      for (const side of ['direct', 'gateway'] as const) {
        const base = side === 'direct' ? pacs.dicomWebUrl : gwBase;
        const r = await retrieve(pool(base), base, large.studyInstanceUID);
        wadoBytes = r.bytes;
        wado[side].push(r.bytes / 1e6 / r.seconds);
      }
    }

    log(`QIDO-RS latency, ${a.queries} requests per side, interleaved ...`);
    const queries = [
      '/studies',
      `/studies?StudyInstanceUID=${large.studyInstanceUID}`,
      '/studies?ModalitiesInStudy=CR&includefield=00081030',
      `/studies/${small.studyInstanceUID}/series`,
      `/studies/${small.studyInstanceUID}/instances?limit=10`,
    ];
    const latency: Record<'direct' | 'gateway', number[]> = { direct: [], gateway: [] };
    for (let i = 0; i < 20; i++) for (const base of [pacs.dicomWebUrl, gwBase]) await query(pool(base), base, queries[i % queries.length]!); // warm-up
    for (let i = 0; i < a.queries; i++) {
      const q = queries[i % queries.length]!;
      const order = i % 2 === 0 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
      for (const side of order) latency[side].push(await query(pool(side === 'direct' ? pacs.dicomWebUrl : gwBase), side === 'direct' ? pacs.dicomWebUrl : gwBase, q));
    }

    const archived = await archivedCount(archive);

    // The clinical path under research load: QIDO through the idle gateway, then through the gateway while it
    // regenerates and forwards a burst of chest radiographs (pixels: cxr-anofair), direct QIDO alongside.
    log(`pixel burst: ${a.burst} chest radiograph phantoms, QIDO idle and during the burst ...`);
    const burstFiles = await burstPhantoms(join(work, 'burst'), a.burst);
    const sample = async (until: () => boolean, max: number): Promise<Record<'direct' | 'gateway', number[]>> => {
      const out: Record<'direct' | 'gateway', number[]> = { direct: [], gateway: [] };
      for (let i = 0; i < max && until(); i++) {
        const qq = queries[i % queries.length]!;
        out.gateway.push(await query(pool(gwBase), gwBase, qq));
        out.direct.push(await query(pool(pacs.dicomWebUrl), pacs.dicomWebUrl, qq));
      }
      return out;
    };
    const idle = await sample(() => true, a.queries);
    const before = await archivedCount(archive);
    await stow(pool(gwBase), gwBase, burstFiles, a.batch);
    let burstDone = false;
    const burstStarted = performance.now();
    const drainedBurst = waitDrained(gateway.url, 30 * 60_000).then((ok) => {
      burstDone = true;
      return ok;
    });
    const during = await sample(() => !burstDone, 100_000);
    const burstOk = await drainedBurst;
    const burstSeconds = (performance.now() - burstStarted) / 1000;
    // the PACS now holds the burst's studies too, and QIDO's cost grows with what it holds: the idle baseline
    // the burst is compared with is measured after it, on the same PACS content
    const idleAfter = await sample(() => true, a.queries);
    const burstArchived = (await archivedCount(archive)) - before;

    for (const p of pools.values()) await p.close();

    const median = (xs: number[]): number => percentile(xs, 50);
    const q = {
      directP50: percentile(latency.direct, 50),
      directP95: percentile(latency.direct, 95),
      gatewayP50: percentile(latency.gateway, 50),
      gatewayP95: percentile(latency.gateway, 95),
    };
    const wadoRatio = median(wado.gateway) / median(wado.direct);
    const stowRate = (side: string, study: string): number => {
      const r = stowRows.find((x) => x.side === side && x.study === study)!;
      return r.instances / r.seconds;
    };
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: round(totalmem() / 2 ** 30, 1), node: process.version, load1: round(loadavg()[0]!, 1) },
      args: a,
      qido: {
        directP50: round(q.directP50),
        directP95: round(q.directP95),
        gatewayP50: round(q.gatewayP50),
        gatewayP95: round(q.gatewayP95),
        addedP50: round(q.gatewayP50 - q.directP50),
        addedP95: round(q.gatewayP95 - q.directP95),
      },
      wado: { studyMB: round(wadoBytes / 1e6, 1), directMBps: round(median(wado.direct), 1), gatewayMBps: round(median(wado.gateway), 1), ratio: round(wadoRatio, 3) },
      stow: stowRows.map((r) => ({ ...r, mb: round(r.mb, 1), seconds: round(r.seconds, 2), instancesPerSecond: round(r.instances / r.seconds, 1), mbPerSecond: round(r.mb / r.seconds, 1) })),
      stowRatio: { small: round(stowRate('gateway', 'small') / stowRate('direct', 'small'), 3), large: round(stowRate('gateway', 'large') / stowRate('direct', 'large'), 3) },
      gatewayPeakRssMiB: { small: mib(memory.small!), large: mib(memory.large!), perPhase: canReset },
      research: { drained, archivedInstances: archived, expected: a.small + a.large },
      pixelBurst: {
        instances: a.burst,
        drained: burstOk,
        archived: burstArchived,
        seconds: round(burstSeconds, 1),
        idleBefore: { queries: idle.gateway.length, gatewayP50: round(percentile(idle.gateway, 50)), gatewayP99: round(percentile(idle.gateway, 99)), directP50: round(percentile(idle.direct, 50)), directP99: round(percentile(idle.direct, 99)) },
        idle: { queries: idleAfter.gateway.length, gatewayP50: round(percentile(idleAfter.gateway, 50)), gatewayP99: round(percentile(idleAfter.gateway, 99)), directP50: round(percentile(idleAfter.direct, 50)), directP99: round(percentile(idleAfter.direct, 99)) },
        during: { queries: during.gateway.length, gatewayP50: round(percentile(during.gateway, 50)), gatewayP99: round(percentile(during.gateway, 99)), directP50: round(percentile(during.direct, 50)), directP99: round(percentile(during.direct, 99)) },
      },
    };
    await mkdir(a.out, { recursive: true });
    const stamp = result.date.replace(/[:.]/g, '-');
    await writeFile(join(a.out, `proxy-bench-${stamp}.json`), JSON.stringify(result, null, 2));
    const md = [
      `| measure | direct (Orthanc) | through the gateway | gateway vs direct |`,
      `| --- | --- | --- | --- |`,
      `| QIDO-RS latency p50 (ms) | ${result.qido.directP50} | ${result.qido.gatewayP50} | +${result.qido.addedP50} ms |`,
      `| QIDO-RS latency p95 (ms) | ${result.qido.directP95} | ${result.qido.gatewayP95} | +${result.qido.addedP95} ms |`,
      `| WADO-RS retrieve of the large study, ${result.wado.studyMB} MB (MB/s, median of ${a.passes}) | ${result.wado.directMBps} | ${result.wado.gatewayMBps} | ${round(result.wado.ratio * 100, 1)}% |`,
      ...result.stow.filter((r) => r.side === 'gateway').map((g) => {
        const d = result.stow.find((r) => r.side === 'direct' && r.study === g.study)!;
        return `| STOW-RS ${g.study} study, ${g.instances} instances, ${g.mb} MB, ${a.batch} per request (instances/s), tap spooling every instance | ${d.instancesPerSecond} | ${g.instancesPerSecond} | ${round((g.instancesPerSecond / d.instancesPerSecond) * 100, 1)}% |`;
      }),
      `| QIDO-RS p50 (ms), idle gateway (after the burst, same PACS content) / during a burst of ${a.burst} chest radiographs forwarded with pixels: cxr-anofair (${result.pixelBurst.during.queries} queries, ${result.pixelBurst.seconds} s) | ${result.pixelBurst.idle.directP50} / ${result.pixelBurst.during.directP50} | ${result.pixelBurst.idle.gatewayP50} / ${result.pixelBurst.during.gatewayP50} | +${round(result.pixelBurst.during.gatewayP50 - result.pixelBurst.idle.gatewayP50)} ms |`,
      `| QIDO-RS p99 (ms), idle gateway / during the burst | ${result.pixelBurst.idle.directP99} / ${result.pixelBurst.during.directP99} | ${result.pixelBurst.idle.gatewayP99} / ${result.pixelBurst.during.gatewayP99} | +${round(result.pixelBurst.during.gatewayP99 - result.pixelBurst.idle.gatewayP99)} ms |`,
      `| gateway peak RSS, small study phase (MiB) | | ${result.gatewayPeakRssMiB.small} | |`,
      `| gateway peak RSS, large study phase (MiB) | | ${result.gatewayPeakRssMiB.large} | ${round(result.gatewayPeakRssMiB.large / result.gatewayPeakRssMiB.small, 2)}x for ${round(a.large / a.small, 1)}x the data |`,
    ].join('\n');
    await writeFile(join(a.out, `proxy-bench-${stamp}.md`), `${md}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n\n${md}\n`);
  } finally {
    await gateway?.stop().catch(() => undefined);
    for (const s of servers.reverse()) await s.dispose().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
