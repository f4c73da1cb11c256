import { firstString, type DicomFile } from '../dicom/dataset.js';
import type { InputLimits } from '../dicom/input-limits.js';
import { readPart10, writePart10 } from '../dicom/part10.js';
import { isAnofairError } from '../errors/anofair-error.js';
import type { AttributeChange, DeidRecord, DeidentifyOptions, ProfileOption } from './deid-types.js';
import { deidentify } from './deidentify.js';
import { pixelRefusal, type PixelCleaning } from './pixel/pixel-cleaner.js';

/**
 * The one release function: instance + rule -> pixels regenerated (or quarantined) -> header profile ->
 * released instance + record. `anofair deidentify`, the gateway's forwarder and dry run, `anofair eval` and the
 * benchmarks all release through it (in worker threads: src/workers/release-pool.ts). It fails closed: whatever
 * cannot be done as asked ends in quarantine with a reason, never in a release of something not asked for.
 */

/** What the rule (or the command line) asks for this instance. */
export interface ReleaseRequest {
  options: readonly ProfileOption[];
  /** 'cxr-anofair': the pixels must be regenerated, or the instance is quarantined */
  pixels: 'none' | 'cxr-anofair';
  /** who asked, for reasons: a rule name, or "--pixels" */
  rule?: string;
  configHash?: string;
  /** list every attribute change with its values (dry runs only: PHI) */
  explain?: boolean;
  /** dry run: say whether the pixels could be regenerated, without running the models */
  planOnly?: boolean;
}

/** Site-wide settings: the key and tables, and the pixel step when pixel models are loaded. */
export interface ReleaseSettings {
  key: DeidentifyOptions['key'];
  subjectLookup?: DeidentifyOptions['subjectLookup'];
  dateShiftDays?: DeidentifyOptions['dateShiftDays'];
  cleaningPolicy?: DeidentifyOptions['cleaningPolicy'];
  burnedInPresumption?: DeidentifyOptions['burnedInPresumption'];
  pixelStep?: PixelStep;
  /** aborts the release in progress (a worker whose release overran): it ends in quarantine */
  signal?: AbortSignal;
  /** the input limits of the read (default: DEFAULT_INPUT_LIMITS) */
  limits?: Partial<InputLimits>;
}

export interface PixelStep {
  /** Regenerated pixels, or a throw with the reason (PIXEL_UNSUPPORTED, PIXEL_DECODE, PIXEL_FAILED). */
  clean(file: DicomFile, key: DeidentifyOptions['key'], signal?: AbortSignal): Promise<PixelCleaning>;
}

/** With planOnly: whether the pixel step would regenerate the pixels, and why not. */
export interface PixelPlan {
  regenerate: boolean;
  reason?: string;
}

interface OutcomeDetails {
  sopInstanceUID?: string;
  record?: DeidRecord;
  changes?: AttributeChange[];
  pixelPlan?: PixelPlan;
}

export type ReleaseOutcome =
  | ({ status: 'released'; file: DicomFile; sopInstanceUID: string; record: DeidRecord } & OutcomeDetails)
  | ({ status: 'quarantined'; reason: string } & OutcomeDetails);

const SOP_INSTANCE_UID = '00080018';

function failure(err: unknown): string {
  return isAnofairError(err) ? `${err.code}: ${err.message}` : (err as Error)?.name ?? 'error';
}

export async function releaseInstance(file: DicomFile, request: ReleaseRequest, settings: ReleaseSettings): Promise<ReleaseOutcome> {
  const originalUID = firstString(file.dataset, SOP_INSTANCE_UID);
  let pixels: PixelCleaning | undefined;
  let pixelPlan: PixelPlan | undefined;
  if (request.pixels === 'cxr-anofair') {
    const step = settings.pixelStep;
    const missing = step ? undefined : `${request.rule ? `rule "${request.rule}"` : 'the request'} asks for pixels: cxr-anofair but no pixel models are loaded`;
    if (request.planOnly) {
      // the step's own first check, without decoding or running a model
      const refusal = missing ?? pixelRefusal(file);
      pixelPlan = { regenerate: !refusal, ...(refusal ? { reason: refusal } : {}) };
    } else if (!step) {
      return { status: 'quarantined', reason: missing! };
    } else {
      try {
        pixels = await step.clean(file, settings.key, settings.signal);
      } catch (err) {
        return { status: 'quarantined', reason: `pixel anonymization failed: ${failure(err)}` };
      }
    }
  }
  if (settings.signal?.aborted) return { status: 'quarantined', reason: 'the release was stopped (it overran its time)' };
  const source = pixels?.file ?? file;
  let outcome;
  try {
    outcome = deidentify(source, {
      options: request.options,
      key: settings.key,
      subjectLookup: settings.subjectLookup,
      dateShiftDays: settings.dateShiftDays,
      cleaningPolicy: settings.cleaningPolicy,
      burnedInPresumption: settings.burnedInPresumption,
      // a dry run computes the header as it will be once the pixels are regenerated
      pixelCleaning: pixels || pixelPlan?.regenerate ? 'applied' : 'none',
      configHash: request.configHash,
      explain: request.explain,
    });
  } catch (err) {
    return { status: 'quarantined', reason: `de-identification failed: ${failure(err)}` };
  }
  if (pixels) outcome.record.pixelAnonymization = pixels.record;
  const details = { record: outcome.record, changes: outcome.changes, ...(pixelPlan ? { pixelPlan } : {}) };
  if (pixelPlan && !pixelPlan.regenerate) {
    return { status: 'quarantined', reason: `pixel anonymization would fail: ${pixelPlan.reason}`, ...details };
  }
  if (outcome.status === 'quarantined') {
    return { status: 'quarantined', reason: `withheld by de-identification: ${outcome.reason}`, sopInstanceUID: outcome.record.sopInstanceUID, ...details };
  }
  const newUID = firstString(outcome.file.dataset, SOP_INSTANCE_UID);
  // A last guard at the release boundary: a released instance carries a SOP Instance UID, and a new one unless
  // the rule retains UIDs (PS3.15 E.3.9).
  if (!newUID || (newUID === originalUID && !request.options.includes('retain-uids'))) {
    return { status: 'quarantined', reason: 'de-identification released an instance without a replaced SOP Instance UID', record: outcome.record };
  }
  return { status: 'released', file: outcome.file, sopInstanceUID: newUID, ...details };
}

/** The same release from Part 10 bytes to Part 10 bytes, as the worker threads run it. */
export type EncodedReleaseOutcome =
  | ({ status: 'released'; bytes: Uint8Array; sopInstanceUID: string; record: DeidRecord } & OutcomeDetails)
  | ({ status: 'quarantined'; reason: string } & OutcomeDetails)
  /** not DICOM at all: the CLI reports it as a failed input, the gateway quarantines it */
  | { status: 'unreadable'; reason: string };

export async function releaseEncoded(bytes: Uint8Array, request: ReleaseRequest, settings: ReleaseSettings): Promise<EncodedReleaseOutcome> {
  let file: DicomFile;
  try {
    file = readPart10(bytes, { limits: settings.limits });
  } catch (err) {
    return { status: 'unreadable', reason: isAnofairError(err) ? `${err.code}: ${err.message}` : 'not readable DICOM' };
  }
  const outcome = await releaseInstance(file, request, settings);
  if (outcome.status === 'quarantined') return outcome;
  const { file: released, ...rest } = outcome;
  try {
    return { ...rest, bytes: writePart10(released) };
  } catch (err) {
    return { status: 'quarantined', reason: `the de-identified instance cannot be encoded: ${isAnofairError(err) ? err.code : 'error'}`, sopInstanceUID: outcome.sopInstanceUID, record: outcome.record };
  }
}

/** What the gateway and the CLI release through: the worker pool (src/workers/release-pool.ts), or this thread. */
export interface Releaser {
  release(bytes: Uint8Array, request: ReleaseRequest): Promise<EncodedReleaseOutcome>;
}

/** Releases on the calling thread: for tests and tools that have no event loop to protect. */
export function inThreadReleaser(settings: ReleaseSettings): Releaser {
  return { release: (bytes, request) => releaseEncoded(bytes, request, settings) };
}
