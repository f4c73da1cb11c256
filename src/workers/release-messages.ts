import type { DeidentifyOptions } from '../anonymizer/deid-types.js';
import type { InputLimits } from '../dicom/input-limits.js';
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
  /** the input limits of every read (default: DEFAULT_INPUT_LIMITS) */
  limits?: Partial<InputLimits>;
  /** the worker thread's nice value (Linux: per thread), so that research work yields the CPU to the clinical path */
  nice?: number;
}

export interface WorkerTask {
  type?: undefined;
  id: number;
  /** the instance, or `input`: a file the worker reads itself */
  bytes?: Uint8Array;
  input?: string;
  /** where the worker writes a released instance itself (then the reply carries no bytes) */
  output?: string;
  request: ReleaseRequest;
}

/** A release from file to file (the CLI): the worker reads and writes, the reply says what became of it. */
export type FileReleaseOutcome =
  | (Omit<Extract<EncodedReleaseOutcome, { status: 'released' }>, 'bytes'> & { output: string; bytesWritten: number })
  | Exclude<EncodedReleaseOutcome, { status: 'released' }>
  /** the input could not be read or the output not written */
  | { status: 'failed'; reason: string };

/** Stop the release in progress at its next step (it then answers quarantined). */
export interface WorkerCancel {
  type: 'cancel';
}

export type WorkerReply =
  | { type: 'ready'; models?: PixelModelsDescription }
  | { type: 'load-failed'; error: { code: string; message: string } }
  | { type: 'done'; id: number; outcome: EncodedReleaseOutcome | FileReleaseOutcome };
