import type { DeidRecord, PseudonymKey } from '../../anonymizer/deid-types.js';
import type { EncodedReleaseOutcome, Releaser, ReleaseRequest } from '../../anonymizer/release-instance.js';
import { isAnofairError } from '../../errors/anofair-error.js';
import type { InstanceSpool } from '../spool/instance-spool.js';
import type { ForwardJob, SpoolEntry } from '../store/gateway-store.js';
import type { ForwardingMetrics } from './forwarding-metrics.js';

/** What the forwarder needs to de-identify: the key (for the gateway's own references) and the releaser. */
export interface DeidSettings {
  key: PseudonymKey;
  /** the release function, in worker threads (src/workers/release-pool.ts) or on this thread in tests */
  releaser: Releaser;
}

export type PreparedInstance =
  | { kind: 'released'; bytes: Uint8Array; sopInstanceUID: string; record: DeidRecord }
  | { kind: 'quarantined'; reason: string; sopInstanceUID?: string; record?: DeidRecord }
  /** not attempted (the workers are stopping): the item goes back to the queue, not to quarantine */
  | { kind: 'deferred'; reason: string };

/** The release request a forwarding job makes: its rule's profile, options and pixel method. */
export function releaseRequestFor(job: ForwardJob, extra: Partial<ReleaseRequest> = {}): ReleaseRequest {
  return { options: job.deidentify.options, pixels: job.pixels, rule: job.rule, configHash: job.ruleSetHash, ...extra };
}

/** Pixel step outcomes, counted and timed (outcomes only: nothing taken from the instance). */
function countPixels(metrics: ForwardingMetrics | undefined, job: ForwardJob, outcome: EncodedReleaseOutcome): void {
  if (!metrics || job.pixels !== 'cxr-anofair') return;
  const pixels = outcome.status === 'released' ? outcome.record.pixelAnonymization : undefined;
  if (pixels) {
    metrics.pixelInstances.inc({ outcome: 'cleaned' });
    metrics.pixelSeconds.observe(pixels.milliseconds / 1000);
  } else if (outcome.status !== 'released' && outcome.reason.startsWith('pixel anonymization failed')) {
    metrics.pixelInstances.inc({ outcome: 'failed' });
  } else if (outcome.status !== 'released') {
    metrics.pixelInstances.inc({ outcome: 'not-reached' });
  }
}

/**
 * De-identify one spooled instance for one job. Fails closed: whatever goes wrong (the spool file is gone or
 * damaged, the instance does not parse, the pixels cannot be regenerated, the engine withholds it or throws)
 * ends in quarantine with a reason, never in a release. Reasons carry codes and tags, never values.
 */
export async function prepareInstance(
  entry: SpoolEntry | undefined,
  job: ForwardJob,
  spool: InstanceSpool,
  settings: DeidSettings,
  metrics?: ForwardingMetrics,
): Promise<PreparedInstance> {
  if (!entry) return { kind: 'quarantined', reason: 'the spool index has no entry for this item' };
  let bytes: Uint8Array;
  try {
    bytes = await spool.read(entry.id, entry);
  } catch (err) {
    return { kind: 'quarantined', reason: `the spooled file cannot be used: ${isAnofairError(err) ? err.message : 'read error'}` };
  }
  let outcome: EncodedReleaseOutcome;
  try {
    outcome = await settings.releaser.release(bytes, releaseRequestFor(job));
  } catch (err) {
    return { kind: 'deferred', reason: isAnofairError(err) ? err.message : 'the release was not attempted' };
  }
  countPixels(metrics, job, outcome);
  switch (outcome.status) {
    case 'unreadable':
      return { kind: 'quarantined', reason: `the spooled instance is not readable DICOM (${outcome.reason.split(':')[0]})` };
    case 'quarantined':
      return { kind: 'quarantined', reason: outcome.reason, sopInstanceUID: outcome.sopInstanceUID, record: outcome.record };
    case 'released':
      return { kind: 'released', bytes: outcome.bytes, sopInstanceUID: outcome.sopInstanceUID, record: outcome.record };
  }
}
