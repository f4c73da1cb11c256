import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceIdentity } from './instance-identity.js';

export interface CapturedPart {
  index: number;
  path: string;
  bytes: number;
  /** The closing boundary was seen: the part is whole. */
  complete: boolean;
  /** Its identifiers, read while it arrived (src/gateway/stow/part-inspector.ts); absent when it is no Part 10 object. */
  identity?: InstanceIdentity;
}

/**
 * Temporary files holding the parts of one STOW request while it is relayed (the tap copies only what the
 * upstream stored, and it answers after the last byte). One file per part, written as the bytes arrive, and
 * one open at a time; a request holds at most limits.maxParts of them (the multipart parser refuses more); all
 * removed by dispose(). Memory use does not grow with the request.
 */
export class PartFiles {
  private readonly parts: CapturedPart[] = [];
  private current?: { part: CapturedPart; stream: WriteStream };

  private constructor(readonly dir: string) {}

  static async create(root: string): Promise<PartFiles> {
    await mkdir(root, { recursive: true });
    return new PartFiles(await mkdtemp(join(root, 'stow-')));
  }

  get captured(): readonly CapturedPart[] {
    return this.parts;
  }

  async start(index: number): Promise<void> {
    await this.finishCurrent(false);
    const part: CapturedPart = { index, path: join(this.dir, `part-${index}.dcm`), bytes: 0, complete: false };
    const stream = createWriteStream(part.path, { flags: 'wx' });
    this.parts.push(part);
    this.current = { part, stream };
  }

  async write(data: Buffer): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.part.bytes += data.length;
    if (!c.stream.write(data)) await once(c.stream, 'drain');
  }

  /** The part is whole; `identity` as its inspection found it. */
  async end(identity?: InstanceIdentity): Promise<void> {
    if (this.current && identity) this.current.part.identity = identity;
    await this.finishCurrent(true);
  }

  private async finishCurrent(complete: boolean): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    c.part.complete = complete;
    c.stream.end();
    await once(c.stream, 'close');
  }

  async read(part: CapturedPart): Promise<Uint8Array> {
    return readFile(part.path);
  }

  async dispose(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (c) {
      c.stream.destroy();
      await once(c.stream, 'close').catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
