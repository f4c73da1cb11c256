/**
 * The Store Instances Response Module (PS3.18 10.5.3, Table 10.5.3-1) the gateway writes for its own STOW-RS
 * endpoint, in DICOM JSON (PS3.18 F.2). Each instance is listed in the Referenced SOP Sequence (0008,1199) or
 * the Failed SOP Sequence (0008,1198) with a Failure Reason (0008,1197); failures that belong to no instance go
 * to the Other Failures Sequence (0008,119A). So that a person can act on a failure, each failed item also
 * carries the reason in words, in a private element: creator (0009,0010) "ANOFAIR 1", (0009,1001) LT.
 */

/** Failure Reasons (PS3.18 Table 10.5.3-2, PS3.4 Annex B.2.3). */
export const FAILURE_REASON = {
  /** Refused: Out of Resources: try again later. */
  outOfResources: 0xa700,
  /** Error: Data Set does not match SOP Class (e.g. a required attribute is missing or does not match the URL). */
  dataSetDoesNotMatch: 0xa900,
  /** Error: Cannot understand (not DICOM Part 10, truncated, wrong part media type). */
  cannotUnderstand: 0xc000,
  /** Processing failure. */
  processingFailure: 0x0110,
  /** Refused: Not authorized (the routing rules do not send this instance anywhere). */
  notAuthorized: 0x0124,
} as const;

export type InstanceOutcome =
  | { status: 'stored'; sopClassUID?: string; sopInstanceUID: string }
  | { status: 'failed'; sopClassUID?: string; sopInstanceUID?: string; failureReason: number; reason: string };

const PRIVATE_CREATOR = { '00090010': { vr: 'LO', Value: ['ANOFAIR 1'] } };

function uidElement(value: string | undefined): { vr: string; Value?: string[] } {
  return value ? { vr: 'UI', Value: [value] } : { vr: 'UI' };
}

function reasonElements(reason: string) {
  return { ...PRIVATE_CREATOR, '00091001': { vr: 'LT', Value: [reason] } };
}

export interface StoreInstancesAnswer {
  /** PS3.18 10.5.3: 200 all stored, 202 some failed, 409 none stored. */
  status: 200 | 202 | 409;
  body: Record<string, unknown>;
}

export function storeInstancesResponse(outcomes: readonly InstanceOutcome[], otherFailures: ReadonlyArray<{ failureReason: number; reason: string }>): StoreInstancesAnswer {
  const stored = outcomes.filter((o): o is Extract<InstanceOutcome, { status: 'stored' }> => o.status === 'stored');
  const failed = outcomes.filter((o): o is Extract<InstanceOutcome, { status: 'failed' }> => o.status === 'failed');
  const body: Record<string, unknown> = {};
  if (failed.length > 0) {
    body['00081198'] = {
      vr: 'SQ',
      Value: failed.map((f) => ({
        '00081150': uidElement(f.sopClassUID),
        '00081155': uidElement(f.sopInstanceUID),
        '00081197': { vr: 'US', Value: [f.failureReason] },
        ...reasonElements(f.reason),
      })),
    };
  }
  if (stored.length > 0) {
    body['00081199'] = { vr: 'SQ', Value: stored.map((s) => ({ '00081150': uidElement(s.sopClassUID), '00081155': uidElement(s.sopInstanceUID) })) };
  }
  if (otherFailures.length > 0) {
    body['0008119A'] = { vr: 'SQ', Value: otherFailures.map((f) => ({ '00081197': { vr: 'US', Value: [f.failureReason] }, ...reasonElements(f.reason) })) };
  }
  const anyFailure = failed.length > 0 || otherFailures.length > 0;
  const status = !anyFailure ? 200 : stored.length > 0 ? 202 : 409;
  return { status, body };
}
