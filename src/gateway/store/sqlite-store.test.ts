import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from './sqlite-store.js';
import { storeContract } from './store-contract.js';

describe('SqliteStore', () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anofair-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('store contract', () => {
    storeContract(async () => new SqliteStore(join(dir, `contract-${++n}.sqlite`)));
  });

  it('runs in WAL mode with synchronous=FULL', async () => {
    const store = new SqliteStore(join(dir, 'pragmas.sqlite'));
    assert.deepEqual(store.durability(), { journalMode: 'wal', synchronous: 2 });
    await store.close();
  });

  it('keeps what it acknowledged across a reopen', async () => {
    const path = join(dir, 'reopen.sqlite');
    const first = new SqliteStore(path);
    await first.enqueue(
      { id: 'a', size: 1, sha256: '0', mode: 'tap', instanceRef: 'i', studyRef: 's', receivedAt: 1 },
      [{ rule: 'r', destination: 'research', deidentify: { profile: 'basic', options: [] }, pixels: 'none', ruleSetHash: 'h' }],
      1,
    );
    await first.close();
    const second = new SqliteStore(path);
    assert.deepEqual(await second.queueCounts(), [{ destination: 'research', state: 'pending', count: 1 }]);
    await second.close();
  });

  it('loses no acknowledged enqueue when the process is killed with SIGKILL', async () => {
    const path = join(dir, 'kill.sqlite');
    // A child enqueues as fast as it can and prints each id once enqueue() resolved; we kill it mid-stream.
    const script = `
      import { SqliteStore } from ${JSON.stringify(new URL('./sqlite-store.js', import.meta.url).href)};
      const store = new SqliteStore(${JSON.stringify(path)});
      for (let i = 0; ; i++) {
        await store.enqueue({ id: 'e' + i, size: 1, sha256: '0', mode: 'tap', instanceRef: 'i' + i, studyRef: 's', receivedAt: i },
          [{ rule: 'r', destination: 'research', deidentify: { profile: 'basic', options: [] }, pixels: 'none', ruleSetHash: 'h' }], i);
        process.stdout.write('e' + i + '\\n');
      }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: string[] = [];
    await new Promise<void>((resolve) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        acknowledged.push(...lines);
        if (acknowledged.length >= 200 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    assert.ok(acknowledged.length >= 200);
    const store = new SqliteStore(path);
    const known = await store.knownSpoolIds(acknowledged);
    assert.equal(known.size, acknowledged.length, 'every acknowledged entry survived the kill');
    await store.close();
  });
});
