import { z } from 'zod';

/**
 * When forwarding retries, and for how long: one small policy object (STYLE: retries are small wrappers with
 * an explicit policy), read by classify-failure.ts and the worker, validated with the configuration.
 *
 * Two kinds of failure are kept apart:
 * - the destination is unavailable (cannot connect, times out, 429/502/503/504) or refuses our credentials
 *   (401/403): nothing is wrong with the instances, so they wait in the queue, the destination is paused with
 *   backoff and probed again, its status says why, and no instance is ever quarantined for it;
 * - the instance failed (500, 408, a retryable PS3.18 FailureReason, or missing from a 202/409 answer): retried
 *   with backoff, and quarantined with the reason after `maxAttempts`.
 */
export const retryPolicySchema = z.strictObject({
  /** First backoff delay, ms. */
  baseMs: z.number().int().positive().default(1_000),
  /** Longest backoff delay, ms (also the longest pause of an unavailable destination). */
  capMs: z.number().int().positive().default(5 * 60_000),
  /** Attempts an instance gets for failures of its own before it is quarantined. */
  maxAttempts: z.number().int().min(1).default(8),
  /** 'full': uniform in [0, d]; 'equal': d/2 + uniform in [0, d/2]; 'none': d. */
  jitter: z.enum(['full', 'equal', 'none']).default('equal'),
  /** HTTP statuses retried as a failure of the instances sent (they count towards maxAttempts). */
  retryStatuses: z.array(z.number().int().min(100).max(599)).default([408, 500]),
  /** HTTP statuses that mean the destination is unavailable: wait without counting. */
  unavailableStatuses: z.array(z.number().int().min(100).max(599)).default([429, 502, 503, 504]),
  /** HTTP statuses that mean our credentials were refused: wait without counting, and say so. */
  authStatuses: z.array(z.number().int().min(100).max(599)).default([401, 403]),
  /**
   * HTTP statuses that mean the destination is set up wrong for every instance (wrong URL, no STOW-RS there,
   * no DICOM JSON answers, multipart/related refused): wait without counting, and say so.
   */
  misconfiguredStatuses: z.array(z.number().int().min(100).max(599)).default([404, 405, 406, 415]),
  /** Network errors (Node/undici codes) that mean the destination is unavailable. */
  networkErrors: z
    .array(z.string())
    .default([
      'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
      'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
    ]),
  /**
   * PS3.18 Table 10.5.3-2 / PS3.4 C.4.2.1.4 Failure Reasons worth another try (inclusive ranges): 0xA7xx "Refused:
   * Out of Resources" and 0x0110 "Processing failure". Others (0xA9xx data set does not match SOP class,
   * 0xC000-0xCFFF cannot understand, 0x0122 SOP class not supported, 0xC122 transfer syntax not supported ...)
   * cannot succeed by resending the same instance and are quarantined at once.
   */
  retryableFailureReasons: z
    .array(z.tuple([z.number().int().min(0), z.number().int().max(0xffff)]))
    .default([[0xa700, 0xa7ff], [0x0110, 0x0110]]),
  /** Failure Reasons meaning the archive already holds the instance (0x0111 Duplicate SOP Instance): delivered. */
  alreadyStoredFailureReasons: z.array(z.number().int()).default([0x0111]),
});

export type RetryPolicy = z.infer<typeof retryPolicySchema>;

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze(retryPolicySchema.parse({}));

/** Backoff before attempt `failures + 1`, after `failures` consecutive failures (>= 1): exponential, capped, jittered. */
export function backoffDelay(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const delay = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  switch (policy.jitter) {
    case 'full':
      return Math.round(random() * delay);
    case 'equal':
      return Math.round(delay / 2 + (random() * delay) / 2);
    case 'none':
      return delay;
  }
}

export function inRanges(value: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  return ranges.some(([lo, hi]) => value >= lo && value <= hi);
}
