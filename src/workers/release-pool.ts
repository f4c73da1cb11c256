import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PixelCleanerSettings, PixelModelsDescription } from '../anonymizer/pixel/pixel-cleaner.js';
import type { EncodedReleaseOutcome, Releaser, ReleaseRequest, ReleaseSettings } from '../anonymizer/release-instance.js';
import { AnofairError } from '../errors/anofair-error.js';
import type { ErrorCode } from '../errors/catalogue.js';
import type { FileReleaseOutcome, ReleaseWorkerData, WorkerReply, WorkerTask } from './release-messages.js';

/**
 * A bounded pool of worker threads that release instances (src/anonymizer/release-instance.ts), so that
 * de-identification and the pixel step never run on the event loop that relays clinical traffic. Each worker
 * releases one instance at a time; the rest wait in a queue. A release that overruns its time, or a worker that
 * dies under it (out of memory, a native crash), ends in quarantine with the reason, and the worker is replaced.
 */

export interface ReleasePoolOptions {
  /** worker threads (default: cores - 1, at least 1) */
  threads?: number;
  /** longest one release may take before its worker is stopped and the instance quarantined, ms (default 5 min) */
  taskTimeoutMs?: number;
  /** V8 heap limit of each worker, MiB (default: Node's) */
  maxHeapMb?: number;
  /** nice value of each worker thread, 0 (as the process) to 19 (only spare CPU); Linux applies it per thread */
  nice?: number;
  data: ReleaseWorkerData;
}

export const DEFAULT_TASK_TIMEOUT_MS = 5 * 60_000;

/** The workers' settings from the site's: the key and tables, and the pixel models to load (when a rule uses them). */
export function releaseWorkerData(site: Omit<ReleaseSettings, 'pixelStep' | 'signal'>, pixels?: PixelCleanerSettings): ReleaseWorkerData {
  return {
    ...(site.limits ? { limits: { ...site.limits } } : {}),
    key: { id: site.key.id, secret: Uint8Array.from(site.key.secret) },
    ...(site.subjectLookup ? { subjectLookup: [...site.subjectLookup.entries()] } : {}),
    ...(site.dateShiftDays ? { dateShiftDays: site.dateShiftDays } : {}),
    ...(site.cleaningPolicy ? { cleaningPolicy: site.cleaningPolicy } : {}),
    ...(site.burnedInPresumption ? { burnedInPresumption: site.burnedInPresumption } : {}),
    ...(pixels ? { pixels } : {}),
  };
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface Task {
  id: number;
  bytes?: Uint8Array;
  files?: { input: string; output: string };
  request: ReleaseRequest;
  resolve: (outcome: EncodedReleaseOutcome | FileReleaseOutcome) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  task?: Task;
  timer?: NodeJS.Timeout;
  onMessage?: (reply: WorkerReply) => void;
  onError?: (err: Error) => void;
  onExit?: (code: number) => void;
}

const WORKER_URL = new URL('./release-worker.js', import.meta.url);

export class ReleasePool implements Releaser {
  private readonly slots = new Set<Slot>();
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closing = false;
  private spawning = 0;
  readonly threads: number;
  readonly taskTimeoutMs: number;
  /** the pixel models every worker loaded (undefined when no pixel step is configured) */
  pixelModels?: PixelModelsDescription;

  private constructor(private readonly o: ReleasePoolOptions) {
    this.threads = Math.max(1, Math.floor(o.threads ?? defaultThreads()));
    this.taskTimeoutMs = o.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
  }

  /** Starts every worker and waits until each has loaded its models; a model that does not load fails the start. */
  static async start(o: ReleasePoolOptions): Promise<ReleasePool> {
    const pool = new ReleasePool(o);
    try {
      // one first, so that a broken model folder fails once, then the rest side by side
      pool.slots.add(await pool.spawn());
      const rest = await Promise.all(Array.from({ length: pool.threads - 1 }, () => pool.spawn()));
      for (const slot of rest) pool.slots.add(slot);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get pixelStep(): boolean {
    return this.pixelModels !== undefined;
  }

  /**
   * Calls `each` for every item with a bounded window in flight: every worker busy and one more instance read
   * ahead for each, so a caller reading files holds no more than that in memory.
   */
  async forEachInWindow<T>(items: readonly T[], each: (item: T, index: number) => Promise<void>): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length) {
        const k = next++;
        await each(items[k]!, k);
      }
    };
    await Promise.all(Array.from({ length: this.threads * 2 }, lane));
  }

  /** Work waiting and in progress, for /status and tests. */
  stats(): { threads: number; busy: number; queued: number } {
    return { threads: this.slots.size, busy: [...this.slots].filter((s) => s.task).length, queued: this.queue.length };
  }

  /**
   * Releases one instance in a worker. The bytes are handed over (transferred) when they are a whole buffer of
   * their own, else copied: the caller must not use them afterwards. Rejects only when the pool is closing.
   */
  release(bytes: Uint8Array, request: ReleaseRequest): Promise<EncodedReleaseOutcome> {
    if (this.closing) return Promise.reject(new AnofairError('RESEARCH_UNAVAILABLE', 'the release workers are stopping'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes, request, resolve: resolve as Task['resolve'], reject });
      this.pump();
    });
  }

  /**
   * Releases one file into another (the CLI): the worker reads the input and writes the released instance
   * itself (to `output`.partial, then renamed), so no instance crosses threads and file I/O runs in every worker.
   */
  releaseFile(input: string, output: string, request: ReleaseRequest): Promise<FileReleaseOutcome> {
    if (this.closing) return Promise.reject(new AnofairError('RESEARCH_UNAVAILABLE', 'the release workers are stopping'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, files: { input, output }, request, resolve: resolve as Task['resolve'], reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const task of this.queue.splice(0)) task.reject(new AnofairError('RESEARCH_UNAVAILABLE', 'the release workers are stopping'));
    await Promise.all(
      [...this.slots].map(async (slot) => {
        clearTimeout(slot.timer);
        this.slots.delete(slot);
        this.detach(slot);
        const task = slot.task;
        slot.task = undefined;
        if (task) {
          // a busy worker is asked to stop at its next step, then ended once idle (see overran)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 30_000).unref();
            slot.worker.once('message', () => {
              clearTimeout(timer);
              resolve();
            });
            slot.worker.postMessage({ type: 'cancel' });
          });
          task.reject(new AnofairError('RESEARCH_UNAVAILABLE', 'the release workers are stopping'));
        }
        await slot.worker.terminate();
      }),
    );
  }

  private spawn(): Promise<Slot> {
    this.spawning++;
    return new Promise<Slot>((resolve, reject) => {
      const worker = new Worker(WORKER_URL, {
        workerData: { ...this.o.data, ...(this.o.nice ? { nice: this.o.nice } : {}) },
        ...(this.o.maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: this.o.maxHeapMb } } : {}),
      });
      const slot: Slot = { worker };
      // only our own listeners come off: Worker keeps internal ones (newListener) that start its message port
      const detach = (): void => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.off('message', onMessage);
      };
      const fail = (err: Error): void => {
        detach();
        void worker.terminate();
        reject(err);
      };
      const onError = (err: Error): void => fail(new AnofairError('INTERNAL', `a release worker failed to start: ${err.name}`));
      const onExit = (code: number): void => fail(new AnofairError('INTERNAL', `a release worker ended while starting (exit ${code})`));
      const onMessage = (reply: WorkerReply): void => {
        detach();
        if (reply.type === 'load-failed') return fail(new AnofairError(reply.error.code as ErrorCode, reply.error.message));
        if (reply.type !== 'ready') return fail(new AnofairError('INTERNAL', 'a release worker answered out of turn'));
        this.pixelModels = reply.models;
        this.attach(slot);
        resolve(slot);
      };
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.on('message', onMessage);
    }).finally(() => this.spawning--);
  }

  private attach(slot: Slot): void {
    slot.onMessage = (reply: WorkerReply) => {
      if (reply.type !== 'done' || slot.task?.id !== reply.id) return;
      this.finish(slot, reply.outcome);
    };
    slot.onError = (err: Error) => this.lose(slot, `the release worker failed: ${err.name}${(err as NodeJS.ErrnoException).code ? ` (${(err as NodeJS.ErrnoException).code})` : ''}`);
    slot.onExit = (code: number) => this.lose(slot, `the release worker ended (exit ${code})`);
    slot.worker.on('message', slot.onMessage);
    slot.worker.on('error', slot.onError);
    slot.worker.on('exit', slot.onExit);
  }

  private detach(slot: Slot): void {
    if (slot.onMessage) slot.worker.off('message', slot.onMessage);
    if (slot.onError) slot.worker.off('error', slot.onError);
    if (slot.onExit) slot.worker.off('exit', slot.onExit);
  }

  private finish(slot: Slot, outcome: EncodedReleaseOutcome | FileReleaseOutcome): void {
    clearTimeout(slot.timer);
    const task = slot.task;
    slot.task = undefined;
    task?.resolve(outcome);
    this.pump();
  }

  /** A worker that died under its instance: the instance is quarantined with the reason, and a new worker takes its place. */
  private lose(slot: Slot, reason: string, terminate = true): void {
    if (!this.slots.has(slot)) return;
    this.slots.delete(slot);
    clearTimeout(slot.timer);
    this.detach(slot);
    if (terminate) void slot.worker.terminate();
    const task = slot.task;
    slot.task = undefined;
    task?.resolve({ status: 'quarantined', reason: `${task.request.pixels === 'cxr-anofair' ? 'pixel anonymization failed: PIXEL_FAILED: ' : ''}${reason}` });
    this.replace();
  }

  /**
   * A release that overran: its instance is quarantined at once and a new worker takes the slot. The old worker
   * is asked to stop at its next step and is terminated only once it is idle (or after a grace period): ending a
   * thread while onnxruntime-node runs in it aborts the whole process.
   */
  private overran(slot: Slot): void {
    const timeout = `the release did not finish within ${(this.taskTimeoutMs / 1000).toFixed(1)} s`;
    const { worker } = slot;
    const end = (): void => {
      clearTimeout(grace);
      worker.off('message', end);
      void worker.terminate();
    };
    const grace = setTimeout(end, Math.max(60_000, this.taskTimeoutMs)).unref();
    this.lose(slot, timeout, false);
    worker.on('message', end);
    worker.once('exit', () => clearTimeout(grace));
    worker.postMessage({ type: 'cancel' });
  }

  private replace(): void {
    if (this.closing) return;
    this.spawn().then(
      (fresh) => {
        if (this.closing) return void fresh.worker.terminate();
        this.slots.add(fresh);
        this.pump();
      },
      (err: Error) => {
        // the models no longer load: with no worker left, what waits is held back, never released unprocessed
        if (this.slots.size === 0 && this.spawning === 0) {
          for (const t of this.queue.splice(0)) t.resolve({ status: 'quarantined', reason: `no release worker could be started: ${err.message}` });
        }
      },
    );
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.task || this.queue.length === 0) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.timer = setTimeout(() => this.overran(slot), this.taskTimeoutMs);
      if (task.files) {
        slot.worker.postMessage({ id: task.id, input: task.files.input, output: task.files.output, request: task.request } satisfies WorkerTask);
        continue;
      }
      const given = task.bytes!;
      const whole = given.byteOffset === 0 && given.byteLength === given.buffer.byteLength && given.buffer instanceof ArrayBuffer;
      const bytes = whole ? given : given.slice();
      slot.worker.postMessage({ id: task.id, bytes, request: task.request } satisfies WorkerTask, [bytes.buffer as ArrayBuffer]);
    }
  }
}
