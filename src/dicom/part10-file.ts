import { closeSync, mkdirSync, openSync, renameSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DicomFile } from './dataset.js';
import { writePart10Chunks } from './part10.js';

/** Write pieces with writev (a pixel view is never copied); writev may write less than asked, so loop. */
function writeAll(fd: number, chunks: Uint8Array[]): number {
  let pending = chunks.filter((c) => c.byteLength > 0);
  let total = 0;
  while (pending.length > 0) {
    let written = writevSync(fd, pending);
    total += written;
    while (written > 0) {
      const first = pending[0];
      if (written >= first.byteLength) {
        written -= first.byteLength;
        pending = pending.slice(1);
      } else {
        pending[0] = first.subarray(written);
        written = 0;
      }
    }
  }
  return total;
}

/**
 * Write a Part 10 file under a temporary name and rename it when complete, so a reader never sees half a file.
 * Returns the number of bytes written.
 */
export function writePart10File(path: string, file: DicomFile): number {
  return writeChunksToFile(path, writePart10Chunks(file));
}

/** The same for pieces already serialised (writePart10Chunks). */
export function writeChunksToFile(path: string, chunks: Uint8Array[]): number {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.partial`;
  const fd = openSync(temp, 'w');
  let bytes: number;
  try {
    bytes = writeAll(fd, chunks);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  return bytes;
}
