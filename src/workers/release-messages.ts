import type { DeidentifyOptions } from '../anonymizer/deid-types.js';
import type { PixelCleanerSettings, PixelModelsDescription } from '../anonymizer/pixel/pixel-cleaner.js';
import type { EncodedReleaseOutcome, ReleaseRequest } from '../anonymizer/release-instance.js';

/** What crosses between the pool and its worker threads: plain, structured-clonable data. */

export interface ReleaseWorkerData {
  key: { id: string; secret: Uint8Array };
  subjectLookup?: [string, string][];
  dateShiftDays?: DeidentifyOptions['dateShiftDays'];
  cleaningPolicy?: DeidentifyOptions['cleaningPolicy'];
  burnedInPresumption?: DeidentifyOptions['burnedInPresumption'];
  /** when set, each worker loads the CXR-AnoFAIR models at start */
  pixels?: PixelCleanerSettings;
  /** the worker thread's nice value (Linux: per thread), so that research work yields the CPU to the clinical path */
  nice?: number;
}

export interface WorkerTask {
  type?: undefined;
  id: number;
  bytes: Uint8Array;
  request: ReleaseRequest;
}

/** Stop the release in progress at its next step (it then answers quarantined). */
export interface WorkerCancel {
  type: 'cancel';
}

export type WorkerReply =
  | { type: 'ready'; models?: PixelModelsDescription }
  | { type: 'load-failed'; error: { code: string; message: string } }
  | { type: 'done'; id: number; outcome: EncodedReleaseOutcome };
