import type { AttributeChange, DeidRecord } from '../../anonymizer/deid-types.js';
import { firstString } from '../../dicom/dataset.js';
import type { InputLimits } from '../../dicom/input-limits.js';
import { readPart10 } from '../../dicom/part10.js';
import { AnofairError } from '../../errors/anofair-error.js';
import { releaseRequestFor, type DeidSettings } from '../forwarding/prepare-instance.js';
import { route } from './rule-engine.js';
import type { PixelMethod, RuleSet, Sender } from './rule-types.js';

export interface DryRunForward {
  rule: string;
  destinations: string[];
  deidentify: { profile: 'basic'; options: string[] };
  pixels: PixelMethod;
  /** With pixels: cxr-anofair, whether the pixels would be regenerated (the model is not run in a dry run), and why not. */
  pixelPlan?: { regenerate: boolean; reason?: string };
  /** What de-identification would do: release the instance, or withhold it (quarantine) with the reason. */
  outcome: 'released' | 'quarantined';
  reason?: string;
  /** absent when the instance is withheld before de-identification ran (no pixel models loaded) */
  record?: DeidRecord;
  /** Attribute by attribute, with the values before and after. This is PHI: shown to the operator, never logged. */
  changes: AttributeChange[];
}

export interface DryRunResult {
  rules: { source: string; hash: string };
  sopInstanceUID?: string;
  matched: Array<{ index: number; name: string; action: 'forward' | 'drop'; continue: boolean }>;
  decidedBy: string | null;
  decision: 'forward' | 'drop' | 'no-match';
  forwards: DryRunForward[];
}

/**
 * What the gateway would do with one instance, without doing it: which rules match, which one decides, and
 * for each forward, attribute by attribute what de-identification would change, or why it would withhold the
 * instance. The release runs as the forwarder's would (in the release workers), but the pixel models are not
 * run: the header is shown as it will be once the pixels are regenerated. Nothing is spooled, queued, sent or
 * logged.
 */
export async function dryRun(bytes: Uint8Array, ruleSet: RuleSet, deid: DeidSettings, sender: Sender = {}, limits?: Partial<InputLimits>): Promise<DryRunResult> {
  const file = readPart10(bytes, { limits });
  const decision = route(ruleSet, { file, sender });
  const forwards = await Promise.all(
    decision.forwards.map(async ({ rule, action }): Promise<DryRunForward> => {
      const job = { rule: rule.name, destination: action.destinations[0]!, deidentify: action.deidentify, pixels: action.pixels, ruleSetHash: ruleSet.hash };
      // each forward gets its own copy: the release workers take the bytes they are given
      const outcome = await deid.releaser.release(bytes.slice(), releaseRequestFor(job, { explain: true, planOnly: true }));
      if (outcome.status === 'unreadable') throw new AnofairError('DICOM_PARSE', outcome.reason);
      return {
        rule: rule.name,
        destinations: [...action.destinations],
        deidentify: { profile: action.deidentify.profile, options: [...action.deidentify.options] },
        pixels: action.pixels,
        ...(outcome.pixelPlan ? { pixelPlan: outcome.pixelPlan } : {}),
        outcome: outcome.status,
        ...(outcome.status === 'quarantined' ? { reason: outcome.reason } : {}),
        ...(outcome.record ? { record: outcome.record } : {}),
        changes: outcome.changes ?? [],
      };
    }),
  );
  return {
    rules: { source: ruleSet.source, hash: ruleSet.hash },
    sopInstanceUID: firstString(file.dataset, '00080018'),
    matched: decision.matched.map((r) => ({ index: r.index, name: r.name, action: r.action.kind, continue: r.continue })),
    decidedBy: decision.decidedBy?.name ?? null,
    decision: decision.forwards.length > 0 ? 'forward' : decision.dropped ? 'drop' : 'no-match',
    forwards,
  };
}
