import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Client } from 'undici';
import { ORTHANC_BINARY, startOrthanc, type OrthancServer } from '../test/harness/orthanc.js';
import { findPid, procCpuSeconds, procMemory, resetPeakRss } from './memory-probe.js';

/**
 * Orthanc's side of the de-identification benchmark: a fresh Debian Orthanc 1.10 (the test harness's), the
 * corpus uploaded through its REST API, then POST /instances/{id}/anonymize per instance, one after the other on
 * one keep-alive connection. The body is "{}": Orthanc's defaults, the Basic Profile of PS3.15 2021b. Orthanc
 * answers with the anonymized Part 10 file and stores nothing; the client reads every byte and keeps only the
 * first answer, for the sanity check.
 */

export interface OrthancPhase {
  instances: number;
  inputBytes: number;
  outputBytes: number;
  wallSeconds: number;
  /** CPU seconds Orthanc used during the phase (from /proc/<pid>/stat). */
  orthancCpuSeconds: number;
  /** Orthanc's peak RSS during the phase (VmHWM after a reset), or since start if the reset was refused. */
  orthancPeakRss: number;
  orthancRssAfter: number;
  peakResetWorked: boolean;
  /** CPU seconds the benchmark's own process (the HTTP client) used during the phase. */
  clientCpuSeconds: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
}

/** A fresh Orthanc for one benchmark run: upload a prefix of the corpus, then time anonymizations. */
export class OrthancAnonymizeSession {
  private readonly ids: string[] = [];
  private firstAnswer?: Buffer;

  private constructor(
    private readonly server: OrthancServer,
    private readonly client: Client,
    readonly pid: number,
    readonly version: string,
  ) {}

  static async start(): Promise<OrthancAnonymizeSession> {
    const server = await startOrthanc({ name: 'BENCH-ANONYMIZE', startTimeoutMs: 60_000 });
    const client = new Client(server.url, { keepAliveTimeout: 60_000, pipelining: 1 });
    try {
      const pid = await findPid([ORTHANC_BINARY, join(server.storageDir, 'orthanc.json')]);
      if (!pid) throw new Error('the Orthanc process of the benchmark was not found in /proc');
      const res = await client.request({ path: '/system', method: 'GET' });
      const system = (await res.body.json()) as { Version: string };
      return new OrthancAnonymizeSession(server, client, pid, system.Version);
    } catch (err) {
      await client.close();
      await server.dispose();
      throw err;
    }
  }

  get uploaded(): number {
    return this.ids.length;
  }

  /** Upload files until the first `upTo` of them are stored (not part of the comparison; timed for the record). */
  async upload(files: readonly { path: string }[], upTo: number, onProgress?: (done: number) => void): Promise<OrthancPhase> {
    const todo = files.slice(this.ids.length, upTo);
    return phase(this.pid, async () => {
      let inputBytes = 0;
      for (const file of todo) {
        const bytes = await readFile(file.path);
        const res = await this.client.request({ path: '/instances', method: 'POST', body: bytes, headers: { 'content-type': 'application/dicom' } });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`Orthanc refused ${file.path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        this.ids.push((JSON.parse(text) as { ID: string }).ID);
        inputBytes += bytes.byteLength;
        onProgress?.(this.ids.length);
      }
      return { instances: todo.length, inputBytes, outputBytes: 0 };
    });
  }

  /** POST /instances/{id}/anonymize with "{}" for the first `count` uploaded instances, one after the other. */
  async anonymize(files: readonly { bytes: number }[], count: number, onProgress?: (done: number) => void): Promise<OrthancPhase> {
    if (count > this.ids.length) throw new Error(`only ${this.ids.length} instances are uploaded, ${count} asked for`);
    return phase(this.pid, async () => {
      let outputBytes = 0;
      for (let i = 0; i < count; i++) {
        const res = await this.client.request({
          path: `/instances/${this.ids[i]}/anonymize`,
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        });
        const answer = await drain(res.body, this.firstAnswer === undefined);
        if (res.statusCode !== 200) throw new Error(`Orthanc could not anonymize instance ${i + 1}: HTTP ${res.statusCode}`);
        outputBytes += answer.bytes;
        this.firstAnswer ??= answer.data;
        onProgress?.(i + 1);
      }
      const inputBytes = files.slice(0, count).reduce((sum, f) => sum + f.bytes, 0);
      return { instances: count, inputBytes, outputBytes };
    });
  }

  /** Write the first anonymized answer to `dir` for the sanity check; returns its path. */
  async keepFirstOutput(dir: string): Promise<string | undefined> {
    if (!this.firstAnswer) return undefined;
    const path = join(dir, 'orthanc-first-output.dcm');
    await writeFile(path, this.firstAnswer);
    return path;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server.dispose();
  }
}

async function drain(body: AsyncIterable<Buffer>, keep: boolean): Promise<{ bytes: number; data?: Buffer }> {
  let bytes = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (keep) chunks.push(chunk);
  }
  return { bytes, data: keep ? Buffer.concat(chunks) : undefined };
}

/** Time one phase, with Orthanc's CPU and peak memory over it and the client's CPU. */
async function phase(pid: number, run: () => Promise<{ instances: number; inputBytes: number; outputBytes: number }>): Promise<OrthancPhase> {
  const peakResetWorked = await resetPeakRss(pid);
  const cpuBefore = await procCpuSeconds(pid);
  const loadavgBefore = loadavg();
  const clientCpu = process.cpuUsage();
  const t0 = performance.now();
  const counts = await run();
  const wallSeconds = (performance.now() - t0) / 1000;
  const clientUsage = process.cpuUsage(clientCpu);
  const cpuAfter = await procCpuSeconds(pid);
  const memory = await procMemory(pid);
  return {
    ...counts,
    wallSeconds,
    orthancCpuSeconds: cpuAfter - cpuBefore,
    orthancPeakRss: memory.vmHWM,
    orthancRssAfter: memory.vmRSS,
    peakResetWorked,
    clientCpuSeconds: (clientUsage.user + clientUsage.system) / 1e6,
    loadavgBefore,
    loadavgAfter: loadavg(),
  };
}
