import { isTlsFailure } from '../tls/tls-client-options.js';
import { failureReasonName, hex4, warningReasonName } from './failure-reasons.js';
import { inRanges, type RetryPolicy } from './retry-policy.js';
import type { StowHttpAnswer } from './stow-client.js';
import { parseStowResponse } from './stow-response.js';

/** An instance that went out in a STOW-RS request, by its de-identified SOP Instance UID. */
export interface SentInstance {
  itemId: number;
  sopInstanceUID: string;
}

/** What happens to one instance after an attempt. Reasons name codes and statuses, never values. */
export type InstanceVerdict =
  | { kind: 'delivered'; warning?: string }
  | { kind: 'retry'; error: string; counts: boolean }
  | { kind: 'quarantine'; reason: string };

/** What the attempt says about the destination itself. */
export type DestinationVerdict =
  | { health: 'ok' }
  | { health: 'failing'; error: string; pause: boolean }
  | { health: 'unreachable'; error: string; retryAfterMs?: number }
  | { health: 'unauthorized'; error: string };

export interface Judgement {
  destination: DestinationVerdict;
  instances: Map<number, InstanceVerdict>;
}

function everyone(sent: readonly SentInstance[], verdict: InstanceVerdict): Map<number, InstanceVerdict> {
  return new Map(sent.map((s) => [s.itemId, verdict]));
}

/** A network failure: no answer came back, so nothing is known about any instance. */
export function judgeError(sent: readonly SentInstance[], err: unknown, policy: RetryPolicy): Judgement {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if ((code && policy.networkErrors.includes(code)) || e.name === 'TimeoutError' || e.name === 'AbortError') {
    const error = `no answer from the destination (${code ?? e.name})`;
    return { destination: { health: 'unreachable', error }, instances: everyone(sent, { kind: 'retry', error, counts: false }) };
  }
  // A certificate the gateway cannot verify (or a handshake it cannot complete) is the destination's set-up, not
  // the instances': pause and say so, never count it towards their quarantine.
  if (isTlsFailure(code)) {
    const error = `no trusted TLS connection to the destination (${code}): check its certificate and destinations.<name>.tls`;
    return { destination: { health: 'failing', error, pause: true }, instances: everyone(sent, { kind: 'retry', error, counts: false }) };
  }
  // Anything else happened on our side of the request (e.g. while producing the body): the instances' turn.
  const error = `the request failed: ${code ?? e.name ?? 'error'}`;
  return { destination: { health: 'ok' }, instances: everyone(sent, { kind: 'retry', error, counts: true }) };
}

/**
 * Read a STOW-RS answer instance by instance (PS3.18 10.5.3): 200 all stored; 202 some stored, failures and
 * warnings per instance; 409 none stored; other statuses by the retry policy. A listed success is delivered,
 * a listed failure is judged by its Failure Reason, and an instance the answer does not mention is judged by
 * the status. A 0x0111 "duplicate" failure means the archive already holds it: delivered.
 */
export function judgeAnswer(sent: readonly SentInstance[], answer: StowHttpAnswer, policy: RetryPolicy): Judgement {
  const status = answer.status;
  const statusText = `HTTP ${status}`;
  if (policy.authStatuses.includes(status)) {
    const error = `${statusText}: the destination refused our credentials`;
    return { destination: { health: 'unauthorized', error }, instances: everyone(sent, { kind: 'retry', error, counts: false }) };
  }
  if (policy.unavailableStatuses.includes(status)) {
    const error = `${statusText}: the destination is unavailable`;
    return {
      destination: { health: 'unreachable', error, retryAfterMs: answer.retryAfterMs },
      instances: everyone(sent, { kind: 'retry', error, counts: false }),
    };
  }
  if (policy.misconfiguredStatuses.includes(status)) {
    const error = `${statusText}: the destination does not take STOW-RS requests as configured (check its URL and that it accepts multipart/related; type="application/dicom" with application/dicom+json answers)`;
    return { destination: { health: 'failing', error, pause: true }, instances: everyone(sent, { kind: 'retry', error, counts: false }) };
  }

  const parsed = parseStowResponse(answer.body);
  const instances = new Map<number, InstanceVerdict>();
  let delivered = 0;
  for (const s of sent) {
    const stored = parsed?.stored.get(s.sopInstanceUID);
    const failed = parsed?.failed.get(s.sopInstanceUID);
    let verdict: InstanceVerdict;
    if (stored) {
      const w = stored.warningReason;
      verdict = { kind: 'delivered', ...(w === undefined ? {} : { warning: `Warning Reason ${hex4(w)} ${warningReasonName(w)}` }) };
    } else if (failed) {
      const code = failed.failureReason;
      const why = code === undefined ? 'failed without a Failure Reason' : `Failure Reason ${hex4(code)} ${failureReasonName(code)}`;
      if (code !== undefined && policy.alreadyStoredFailureReasons.includes(code)) verdict = { kind: 'delivered', warning: `${why}: already at the archive` };
      else if (code === undefined || inRanges(code, policy.retryableFailureReasons)) verdict = { kind: 'retry', error: `${statusText}, ${why}`, counts: true };
      else verdict = { kind: 'quarantine', reason: `the destination refused the instance: ${statusText}, ${why}` };
    } else if (status >= 200 && status < 300 && status !== 202) {
      // PS3.18 Table 10.5.3-1: 200 means every instance was stored, listed or not.
      verdict = { kind: 'delivered' };
    } else if (status === 202 || status === 409) {
      verdict = { kind: 'retry', error: `${statusText}: the answer does not say this instance was stored`, counts: true };
    } else if (policy.retryStatuses.includes(status) || status >= 500) {
      verdict = { kind: 'retry', error: `${statusText}: the destination failed`, counts: true };
    } else if (sent.length > 1) {
      // A refusal (400, 413, 422 ...) that does not say which instance: send each alone to find out.
      verdict = { kind: 'retry', error: `${statusText}: the destination refused the request`, counts: true };
    } else {
      verdict = { kind: 'quarantine', reason: `the destination refused the instance: ${statusText}` };
    }
    if (verdict.kind === 'delivered') delivered++;
    instances.set(s.itemId, verdict);
  }
  const serverFault = status >= 500 && delivered === 0;
  return {
    destination: serverFault ? { health: 'failing', error: `${statusText}: the destination failed`, pause: false } : { health: 'ok' },
    instances,
  };
}
