import { setPriority } from 'node:os';
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { writeChunksToFile } from '../dicom/part10-file.js';
import { CxrPixelCleaner } from '../anonymizer/pixel/pixel-cleaner.js';
import { releaseEncoded, type ReleaseSettings } from '../anonymizer/release-instance.js';
import { isAnofairError } from '../errors/anofair-error.js';
import type { FileReleaseOutcome, ReleaseWorkerData, WorkerCancel, WorkerReply, WorkerTask } from './release-messages.js';

/**
 * One release worker thread: loads the pixel models once (when configured), then releases one instance at a
 * time from Part 10 bytes to Part 10 bytes. Nothing here logs: replies carry outcomes, codes and reasons only.
 */

const data = workerData as ReleaseWorkerData;
const port = parentPort!;

function describe(err: unknown): { code: string; message: string } {
  return isAnofairError(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: (err as Error)?.name ?? 'error' };
}

async function main(): Promise<void> {
  // before the models load: onnxruntime's threads are created by this thread and inherit its priority
  if (data.nice) {
    try {
      setPriority(data.nice);
    } catch {
      // not permitted here (a container without the capability): the work runs at the process's priority
    }
  }
  let settings: ReleaseSettings;
  try {
    const cleaner = data.pixels ? await CxrPixelCleaner.load(data.pixels) : undefined;
    settings = {
      key: { id: data.key.id, secret: new Uint8Array(data.key.secret) },
      subjectLookup: data.subjectLookup ? new Map(data.subjectLookup) : undefined,
      dateShiftDays: data.dateShiftDays,
      cleaningPolicy: data.cleaningPolicy,
      burnedInPresumption: data.burnedInPresumption,
      pixelStep: cleaner,
      limits: data.limits,
    };
    port.postMessage({ type: 'ready', models: cleaner?.description } satisfies WorkerReply);
  } catch (err) {
    port.postMessage({ type: 'load-failed', error: describe(err) } satisfies WorkerReply);
    return;
  }
  let current: AbortController | undefined;
  port.on('message', (message: WorkerTask | WorkerCancel) => {
    if (message.type === 'cancel') {
      current?.abort();
      return;
    }
    const task = message;
    void (async () => {
      current = new AbortController();
      try {
        let bytes = task.bytes;
        if (!bytes) {
          try {
            bytes = new Uint8Array(readFileSync(task.input!));
          } catch (err) {
            const reply: FileReleaseOutcome = { status: 'failed', reason: `IO: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
            port.postMessage({ type: 'done', id: task.id, outcome: reply } satisfies WorkerReply);
            return;
          }
        }
        const outcome = await releaseEncoded(bytes, task.request, { ...settings, signal: current.signal });
        if (task.output !== undefined && outcome.status === 'released') {
          // the CLI: the worker writes the file itself, so reading and writing run in every worker at once
          const { bytes: released, ...rest } = outcome;
          let reply: FileReleaseOutcome;
          try {
            reply = { ...rest, output: task.output, bytesWritten: writeChunksToFile(task.output, [released]) };
          } catch (err) {
            reply = { status: 'failed', reason: `IO: cannot write the output (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
          }
          port.postMessage({ type: 'done', id: task.id, outcome: reply } satisfies WorkerReply);
          return;
        }
        const transfer = outcome.status === 'released' ? [outcome.bytes.buffer as ArrayBuffer] : [];
        port.postMessage({ type: 'done', id: task.id, outcome } satisfies WorkerReply, transfer);
      } catch (err) {
        // releaseEncoded catches what it knows; anything else still ends in quarantine, never in a release
        const e = describe(err);
        port.postMessage({ type: 'done', id: task.id, outcome: { status: 'quarantined', reason: `release failed: ${e.code}: ${e.message}` } } satisfies WorkerReply);
      }
    })();
  });
}

void main();
