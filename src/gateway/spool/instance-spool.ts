import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AnofairError } from '../../errors/anofair-error.js';
import { fsyncDirectory, TEMP_PREFIX, unlinkDurably, writeFileDurably } from './durable-file.js';

export interface SpooledFile {
  id: string;
  size: number;
  sha256: string;
}

const ID_FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.dcm$/;

/**
 * The durable spool: accepted instance files, as received, one file each, named by an id we mint (never by a
 * UID, which would put identifiers in file names). A file is written whole or not at all (durable-file.ts)
 * and is deleted only once every destination confirmed it (the store decides when; see GatewayStore).
 * The folder holds PHI: it is created owner-only.
 */
export class InstanceSpool {
  constructor(readonly dir: string) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fsyncDirectory(this.dir);
  }

  pathOf(id: string): string {
    if (!ID_FORM.test(id)) throw new AnofairError('INTERNAL', `not a spool id: ${id}`);
    return join(this.dir, id);
  }

  /** Write an instance durably; resolves once the file and its directory entry are on disk. */
  async write(bytes: Uint8Array): Promise<SpooledFile> {
    const id = `${randomUUID()}.dcm`;
    try {
      await writeFileDurably(this.pathOf(id), bytes);
    } catch (err) {
      throw new AnofairError('IO', `cannot write to the spool ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, undefined, { cause: err });
    }
    return { id, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  /** Read a spooled file, checking it is the one that was written (size and SHA-256). */
  async read(id: string, expected?: { size: number; sha256: string }): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(id));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new AnofairError('IO', `spool file ${id} cannot be read: ${code ?? (err as Error).message}`, { spoolId: id, code }, { cause: err });
    }
    if (expected && (bytes.byteLength !== expected.size || createHash('sha256').update(bytes).digest('hex') !== expected.sha256)) {
      throw new AnofairError('IO', `spool file ${id} does not match what was accepted (size or SHA-256 differ)`, { spoolId: id });
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async delete(id: string): Promise<void> {
    await unlinkDurably(this.pathOf(id));
  }

  async exists(id: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(id))).isFile();
    } catch {
      return false;
    }
  }

  /** Spool file ids present on disk (temporary files excluded). */
  async list(): Promise<string[]> {
    return (await readdir(this.dir)).filter((name) => ID_FORM.test(name));
  }

  /** Remove temporary files a crash left mid-write (never acknowledged, so nothing is lost). */
  async removeTemporaryFiles(): Promise<number> {
    const temps = (await readdir(this.dir)).filter((name) => name.startsWith(TEMP_PREFIX));
    for (const name of temps) await unlinkDurably(join(this.dir, name));
    return temps.length;
  }
}
