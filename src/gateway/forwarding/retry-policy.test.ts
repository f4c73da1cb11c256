import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, DEFAULT_RETRY_POLICY, inRanges, retryPolicySchema } from './retry-policy.js';

describe('retry policy', () => {
  const policy = retryPolicySchema.parse({ baseMs: 100, capMs: 1_000, jitter: 'none' });

  it('backs off exponentially from base and stops growing at the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(policy, n)), [100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('jitters: full in [0, d], equal in [d/2, d]', () => {
    const full = { ...policy, jitter: 'full' as const };
    const equal = { ...policy, jitter: 'equal' as const };
    assert.equal(backoffDelay(full, 3, () => 0), 0);
    assert.equal(backoffDelay(full, 3, () => 0.999999), 400);
    assert.equal(backoffDelay(equal, 3, () => 0), 200);
    assert.equal(backoffDelay(equal, 3, () => 0.5), 300);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(equal, 4);
      assert.ok(d >= 400 && d <= 800, `equal jitter out of range: ${d}`);
    }
  });

  it('has defaults that retry transient failures and treat an outage and 401/403 as the destination\'s state', () => {
    assert.deepEqual(DEFAULT_RETRY_POLICY.retryStatuses, [408, 500]);
    assert.deepEqual(DEFAULT_RETRY_POLICY.unavailableStatuses, [429, 502, 503, 504]);
    assert.deepEqual(DEFAULT_RETRY_POLICY.authStatuses, [401, 403]);
    assert.ok(DEFAULT_RETRY_POLICY.networkErrors.includes('ECONNREFUSED'));
    assert.ok(inRanges(0xa701, DEFAULT_RETRY_POLICY.retryableFailureReasons), 'out of resources is retried');
    assert.ok(inRanges(0x0110, DEFAULT_RETRY_POLICY.retryableFailureReasons), 'processing failure is retried');
    assert.ok(!inRanges(0xc000, DEFAULT_RETRY_POLICY.retryableFailureReasons), 'cannot understand is not');
    assert.ok(Object.isFrozen(DEFAULT_RETRY_POLICY));
  });

  it('rejects unknown keys and nonsense values when the configuration loads', () => {
    assert.equal(retryPolicySchema.safeParse({ maxRetries: 3 }).success, false);
    assert.equal(retryPolicySchema.safeParse({ baseMs: -1 }).success, false);
    assert.equal(retryPolicySchema.safeParse({ jitter: 'random' }).success, false);
  });
});
