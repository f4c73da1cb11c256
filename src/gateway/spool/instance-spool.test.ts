import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AnofairError } from '../../errors/anofair-error.js';
import { InstanceSpool } from './instance-spool.js';

describe('InstanceSpool', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'anofair-spool-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes a file whole, reads it back verified, and deletes it', async () => {
    const spool = new InstanceSpool(join(root, 'a'));
    await spool.open();
    assert.equal((await stat(spool.dir)).mode & 0o777, 0o700, 'the spool holds PHI: owner-only');
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    const file = await spool.write(bytes);
    assert.match(file.id, /^[0-9a-f-]{36}\.dcm$/, 'named by a minted id, never a UID');
    assert.equal(file.size, bytes.byteLength);
    assert.equal(file.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(await spool.read(file.id, file), bytes);
    assert.deepEqual(await spool.list(), [file.id]);
    assert.deepEqual((await readdir(spool.dir)).filter((n) => n.startsWith('.tmp-')), [], 'no temporary file left');
    await spool.delete(file.id);
    assert.equal(await spool.exists(file.id), false);
    await spool.delete(file.id); // idempotent
  });

  it('refuses a file that changed on disk since it was accepted', async () => {
    const spool = new InstanceSpool(join(root, 'b'));
    await spool.open();
    const file = await spool.write(new Uint8Array([1, 2, 3]));
    await writeFile(spool.pathOf(file.id), new Uint8Array([1, 2, 4]));
    await assert.rejects(spool.read(file.id, file), (err) => err instanceof AnofairError && err.code === 'IO' && /does not match/.test(err.message));
    await assert.rejects(spool.read('00000000-0000-0000-0000-000000000000.dcm'), /cannot be read: ENOENT/);
    assert.throws(() => spool.pathOf('../etc/passwd'), /not a spool id/);
  });

  it('removes temporary files left by a crash mid-write', async () => {
    const spool = new InstanceSpool(join(root, 'c'));
    await spool.open();
    await writeFile(join(spool.dir, '.tmp-half-written.dcm.abc'), new Uint8Array(10));
    assert.equal(await spool.removeTemporaryFiles(), 1);
    assert.deepEqual(await readdir(spool.dir), []);
  });

  it('keeps every acknowledged file whole when the writer is killed with SIGKILL', async () => {
    const dir = join(root, 'kill');
    const script = `
      import { InstanceSpool } from ${JSON.stringify(new URL('./instance-spool.js', import.meta.url).href)};
      const spool = new InstanceSpool(${JSON.stringify(dir)});
      await spool.open();
      const bytes = new Uint8Array(200_000).fill(7);
      for (;;) { const f = await spool.write(bytes); process.stdout.write(f.id + ' ' + f.sha256 + '\\n'); }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: Array<{ id: string; sha256: string }> = [];
    await new Promise<void>((resolve) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const [id, sha256] = line.split(' ');
          acknowledged.push({ id: id!, sha256: sha256! });
        }
        if (acknowledged.length >= 50 && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    const spool = new InstanceSpool(dir);
    for (const file of acknowledged) assert.ok(await spool.read(file.id, { size: 200_000, sha256: file.sha256 }));
    // Whatever was mid-write is either a whole file or a temporary one, never a torn spool file.
    for (const id of await spool.list()) assert.equal((await spool.read(id)).byteLength, 200_000);
  });
});
