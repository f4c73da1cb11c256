import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { orthancJson, startOrthanc, type OrthancServer } from '../../test/harness/orthanc.js';
import { TEST_KEY, waitFor } from '../../test/support/research-pipeline-kit.js';
import { syntheticInstance } from '../../test/support/synthetic-instance.js';
import { deidentify } from '../anonymizer/deidentify.js';
import { readPart10 } from '../dicom/part10.js';

const CHILD = new URL('../../test/support/research-pipeline-child.js', import.meta.url).pathname;

/** A research pipeline in a child process, with its stdout lines collected. */
class PipelineProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(args: { dataDir: string; archiveUrl: string; accept?: { seeds: string[] } }) {
    this.child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ANOFAIR_LOG_LEVEL: 'silent' } });
    let buffer = '';
    this.child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      this.lines.push(...parts);
    });
    let stderr = '';
    this.child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
    this.child.on('exit', (code, signal) => {
      if (code && code !== 0) process.stderr.write(`pipeline child exited ${code} ${signal ?? ''}\n${stderr}\n`);
    });
  }

  accepted(): string[] {
    return this.lines.filter((l) => l.startsWith('accepted ')).map((l) => l.slice('accepted '.length));
  }

  has(line: string): boolean {
    return this.lines.includes(line);
  }

  lastTotals(): Record<string, number> | undefined {
    const last = [...this.lines].reverse().find((l) => l.startsWith('status '));
    return last ? (JSON.parse(last.slice('status '.length)) as Record<string, number>) : undefined;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    this.child.kill(signal);
    await this.exited;
  }
}

/** The SOP Instance UID the archive must end up with for a seed: de-identification is keyed and deterministic. */
function expectedUID(seed: string): string {
  const outcome = deidentify(readPart10(syntheticInstance({ seed, overrides: { __study: seed.split('/')[0]! } })), { options: [], key: TEST_KEY, pixelCleaning: 'none' });
  assert.equal(outcome.status, 'released');
  return outcome.record.sopInstanceUID!;
}

const seedsOf = (prefix: string, studies: number, perStudy: number): string[] =>
  Array.from({ length: studies * perStudy }, (_, i) => `${prefix}-${Math.floor(i / perStudy)}/${i % perStudy}`);

describe('research pipeline killed with SIGKILL, then restarted', () => {
  let archive: OrthancServer;
  let dir: string;

  before(async () => {
    archive = await startOrthanc({ name: 'CRASH-ARCHIVE' });
    dir = await mkdtemp(join(tmpdir(), 'anofair-crash-'));
  });
  after(async () => {
    await archive?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const archived = async (): Promise<string[]> => {
    const ids = await orthancJson<string[]>(archive, '/instances');
    return Promise.all(ids.map(async (id) => (await orthancJson<{ SOPInstanceUID: string }>(archive, `/instances/${id}/simplified-tags`)).SOPInstanceUID));
  };
  const count = async (): Promise<number> => (await orthancJson<{ CountInstances: number }>(archive, '/statistics')).CountInstances;

  async function restartAndDrain(dataDir: string): Promise<void> {
    const second = new PipelineProcess({ dataDir, archiveUrl: archive.dicomWebUrl });
    try {
      await waitFor('the restarted pipeline to drain its queue', () => {
        const t = second.lastTotals();
        return t !== undefined && t.pending === 0 && t['in-flight'] === 0;
      }, 60_000);
      assert.equal(second.lastTotals()!.quarantined, 0);
    } finally {
      await second.kill('SIGTERM');
    }
  }

  it('killed in the middle of forwarding: after a restart every accepted instance is at the archive exactly once', async () => {
    const dataDir = join(dir, 'mid-forwarding');
    const seeds = seedsOf('fwd', 8, 5);
    // The archive is down while the pipeline accepts, so that all 40 are queued before forwarding starts.
    await archive.stop();
    const first = new PipelineProcess({ dataDir, archiveUrl: archive.dicomWebUrl, accept: { seeds } });
    await waitFor('all instances to be accepted', () => first.has('accepted-all'), 60_000);
    assert.deepEqual(first.accepted(), seeds);
    await archive.restart();
    const atKill = await waitFor('forwarding to be under way', async () => {
      const n = await count();
      return n >= 6 ? n : 0;
    }, 60_000, 10);
    await first.kill('SIGKILL');
    assert.ok(atKill < seeds.length, `killed mid-forwarding (${atKill} of ${seeds.length} at the archive)`);
    assert.ok((await count()) < seeds.length, 'the kill left work to do');

    await restartAndDrain(dataDir);
    const uids = await archived();
    assert.equal(uids.length, seeds.length, 'no instance lost, none duplicated');
    assert.deepEqual(new Set(uids), new Set(seeds.map(expectedUID)));
  });

  it('killed while accepting: every instance it acknowledged is delivered after a restart, once', async () => {
    const dataDir = join(dir, 'mid-accept');
    const before = new Set(await archived());
    const seeds = seedsOf('acc', 25, 4);
    const first = new PipelineProcess({ dataDir, archiveUrl: archive.dicomWebUrl, accept: { seeds } });
    await waitFor('some instances to be acknowledged', () => first.accepted().length >= 12, 60_000, 5);
    await first.kill('SIGKILL');
    const acknowledged = first.accepted();
    assert.ok(acknowledged.length < seeds.length, 'killed before it accepted everything');

    await restartAndDrain(dataDir);
    const now = (await archived()).filter((uid) => !before.has(uid));
    const byUID = new Map(seeds.map((s) => [expectedUID(s), s]));
    for (const seed of acknowledged) assert.ok(now.includes(expectedUID(seed)), `acknowledged ${seed} was lost`);
    for (const uid of now) assert.ok(byUID.has(uid), 'only instances the pipeline was given');
    assert.equal(new Set(now).size, now.length, 'no duplicates');
    // An instance being accepted at the moment of the kill was never acknowledged: it may or may not arrive.
    assert.ok(now.length <= acknowledged.length + 1, 'at most the one instance in accept() at the kill besides the acknowledged ones');
  });
});
