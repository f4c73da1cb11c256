import type { DeidOutcome, DeidRecord, DeidentifyOptions, PseudonymKey } from '../../anonymizer/deid-types.js';
import { firstString, type DicomFile } from '../../dicom/dataset.js';
import { readPart10, writePart10 } from '../../dicom/part10.js';
import type { PixelCleaning } from '../../anonymizer/pixel/pixel-cleaner.js';
import { isAnofairError } from '../../errors/anofair-error.js';
import type { InstanceSpool } from '../spool/instance-spool.js';
import type { ForwardJob, SpoolEntry } from '../store/gateway-store.js';

/** Everything de-identification needs besides the instance: the site key and tables, and the engine itself. */
export interface DeidSettings {
  key: PseudonymKey;
  subjectLookup?: ReadonlyMap<string, string>;
  dateShiftDays?: { min: number; max: number };
  /** Site-wide de-identification settings (deidentification: in the configuration). */
  cleaningPolicy?: DeidentifyOptions['cleaningPolicy'];
  burnedInPresumption?: DeidentifyOptions['burnedInPresumption'];
  /** The de-identification engine (src/anonymizer/deidentify.ts); a parameter so the pipeline is wired in one place. */
  deidentify: (file: DicomFile, options: DeidentifyOptions) => DeidOutcome;
  /** CXR-AnoFAIR (src/anonymizer/pixel/pixel-cleaner.ts), loaded when a rule asks for pixels: cxr-anofair. */
  pixelCleaner?: PixelCleanerPort;
}

/** What the forwarder needs of a pixel cleaner. */
export interface PixelCleanerPort {
  notApplicable(file: DicomFile): string | undefined;
  clean(file: DicomFile, key: PseudonymKey): Promise<PixelCleaning>;
}

/** `pixelsCleaned`: the instance's pixels were regenerated before (only then may burned-in text leave). */
export function deidOptionsFor(job: ForwardJob, settings: DeidSettings, explain = false, pixelsCleaned = false): DeidentifyOptions {
  return {
    options: job.deidentify.options,
    key: settings.key,
    subjectLookup: settings.subjectLookup,
    dateShiftDays: settings.dateShiftDays,
    cleaningPolicy: settings.cleaningPolicy,
    burnedInPresumption: settings.burnedInPresumption,
    pixelCleaning: pixelsCleaned ? 'applied' : 'none',
    configHash: job.ruleSetHash,
    explain,
  };
}

export type PreparedInstance =
  | { kind: 'released'; bytes: Uint8Array; sopInstanceUID: string; record: DeidRecord }
  | { kind: 'quarantined'; reason: string; sopInstanceUID?: string; record?: DeidRecord };

const SOP_INSTANCE_UID = '00080018';

/**
 * De-identify one spooled instance for one job. Fails closed: whatever goes wrong (the spool file is gone or
 * damaged, the instance does not parse, the engine withholds it or throws) ends in quarantine with a reason,
 * never in a release. Reasons carry codes and tags, never values.
 */
export async function prepareInstance(
  entry: SpoolEntry | undefined,
  job: ForwardJob,
  spool: InstanceSpool,
  settings: DeidSettings,
): Promise<PreparedInstance> {
  if (!entry) return { kind: 'quarantined', reason: 'the spool index has no entry for this item' };
  let bytes: Uint8Array;
  try {
    bytes = await spool.read(entry.id, entry);
  } catch (err) {
    return { kind: 'quarantined', reason: `the spooled file cannot be used: ${isAnofairError(err) ? err.message : 'read error'}` };
  }
  let file: DicomFile;
  try {
    file = readPart10(bytes);
  } catch (err) {
    return { kind: 'quarantined', reason: isAnofairError(err) ? `${err.code}: the spooled instance is not readable DICOM` : 'the spooled instance is not readable DICOM' };
  }
  const originalUID = firstString(file.dataset, SOP_INSTANCE_UID);
  let pixelRecord: DeidRecord['pixelAnonymization'];
  if (job.pixels === 'cxr-anofair') {
    // fail closed: a rule that asks for pixel anonymization never gets pixels that were not regenerated
    // marked as cleaned; instances the method does not apply to go on with pixels unchanged (the burned-in rule decides)
    if (!settings.pixelCleaner) return { kind: 'quarantined', reason: `rule "${job.rule}" asks for pixels: cxr-anofair but no pixel models are loaded` };
    try {
      const cleaning = await settings.pixelCleaner.clean(file, settings.key);
      if (cleaning.status === 'cleaned') {
        file = cleaning.file;
        pixelRecord = cleaning.record;
      }
    } catch (err) {
      return { kind: 'quarantined', reason: isAnofairError(err) ? `pixel anonymization failed: ${err.code}: ${err.message}` : `pixel anonymization failed: ${(err as Error).name ?? 'error'}` };
    }
  }
  let outcome: DeidOutcome;
  try {
    outcome = settings.deidentify(file, deidOptionsFor(job, settings, false, pixelRecord !== undefined));
  } catch (err) {
    return { kind: 'quarantined', reason: isAnofairError(err) ? `de-identification failed: ${err.code}: ${err.message}` : `de-identification failed: ${(err as Error).name ?? 'error'}` };
  }
  if (pixelRecord) outcome.record.pixelAnonymization = pixelRecord;
  if (outcome.status === 'quarantined') {
    return { kind: 'quarantined', reason: `withheld by de-identification: ${outcome.reason}`, sopInstanceUID: outcome.record.sopInstanceUID, record: outcome.record };
  }
  const newUID = firstString(outcome.file.dataset, SOP_INSTANCE_UID);
  // A last guard at the release boundary: a released instance must carry a SOP Instance UID, and a new one
  // unless the rule retains UIDs (PS3.15 E.3.9).
  if (!newUID || (newUID === originalUID && !job.deidentify.options.includes('retain-uids'))) {
    return { kind: 'quarantined', reason: 'de-identification released an instance without a replaced SOP Instance UID', record: outcome.record };
  }
  try {
    return { kind: 'released', bytes: writePart10(outcome.file), sopInstanceUID: newUID, record: outcome.record };
  } catch (err) {
    return { kind: 'quarantined', reason: `the de-identified instance cannot be encoded: ${isAnofairError(err) ? err.code : 'error'}`, sopInstanceUID: newUID, record: outcome.record };
  }
}
