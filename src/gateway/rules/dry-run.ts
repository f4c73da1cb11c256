import type { AttributeChange, DeidRecord } from '../../anonymizer/deid-types.js';
import { firstString } from '../../dicom/dataset.js';
import { readPart10 } from '../../dicom/part10.js';
import { deidOptionsFor, type DeidSettings } from '../forwarding/prepare-instance.js';
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
  record: DeidRecord;
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
 * instance. Pure apart from reading the bytes: nothing is spooled, queued, sent or logged.
 */
export function dryRun(bytes: Uint8Array, ruleSet: RuleSet, deid: DeidSettings, sender: Sender = {}): DryRunResult {
  const file = readPart10(bytes);
  const decision = route(ruleSet, { file, sender });
  const forwards = decision.forwards.map(({ rule, action }): DryRunForward => {
    const job = { rule: rule.name, destination: action.destinations[0]!, deidentify: action.deidentify, pixels: action.pixels, ruleSetHash: ruleSet.hash };
    // The pixel model is not run: the header outcome is computed as it will be once the pixels are regenerated.
    const notApplicable = action.pixels === 'cxr-anofair' ? (deid.pixelCleaner ? deid.pixelCleaner.notApplicable(file) : 'no pixel models are loaded') : undefined;
    const regenerate = action.pixels === 'cxr-anofair' && notApplicable === undefined;
    // deidentify() does not modify its input, so each forward starts from the same parsed instance.
    const outcome = deid.deidentify(file, deidOptionsFor(job, deid, true, regenerate));
    return {
      rule: rule.name,
      destinations: [...action.destinations],
      deidentify: { profile: action.deidentify.profile, options: [...action.deidentify.options] },
      pixels: action.pixels,
      ...(action.pixels === 'cxr-anofair' ? { pixelPlan: { regenerate, ...(notApplicable ? { reason: notApplicable } : {}) } } : {}),
      outcome: outcome.status,
      ...(outcome.status === 'quarantined' ? { reason: outcome.reason } : {}),
      record: outcome.record,
      changes: outcome.changes ?? [],
    };
  });
  return {
    rules: { source: ruleSet.source, hash: ruleSet.hash },
    sopInstanceUID: firstString(file.dataset, '00080018'),
    matched: decision.matched.map((r) => ({ index: r.index, name: r.name, action: r.action.kind, continue: r.continue })),
    decidedBy: decision.decidedBy?.name ?? null,
    decision: decision.forwards.length > 0 ? 'forward' : decision.dropped ? 'drop' : 'no-match',
    forwards,
  };
}
