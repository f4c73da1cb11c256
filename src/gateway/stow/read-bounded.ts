import type { Readable } from 'node:stream';

/**
 * Read at most about `max` bytes of a stream. When the stream holds more, it is left paused after the bytes
 * returned (complete: false) so the caller can still relay the rest: a small answer is inspected, a large one
 * is passed on whole.
 */
export function readBounded(stream: Readable, max: number): Promise<{ head: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) {
        stream.pause();
        cleanup();
        resolve({ head: Buffer.concat(chunks), complete: false });
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ head: Buffer.concat(chunks), complete: true });
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}
