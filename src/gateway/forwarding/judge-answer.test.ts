import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextDestinationState } from './destination-health.js';
import { judgeAnswer, judgeError, type SentInstance } from './judge-answer.js';
import { DEFAULT_RETRY_POLICY as policy } from './retry-policy.js';
import { parseStowResponse } from './stow-response.js';

const sent: SentInstance[] = [
  { itemId: 1, sopInstanceUID: '2.25.1' },
  { itemId: 2, sopInstanceUID: '2.25.2' },
  { itemId: 3, sopInstanceUID: '2.25.3' },
];

/** A PS3.18 Store Instances Response in DICOM JSON. */
function response(stored: Array<[string, number?]>, failed: Array<[string, number?]>): string {
  const item = (uid: string, tag: string, code?: number) => ({
    '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.1.1'] },
    '00081155': { vr: 'UI', Value: [uid] },
    ...(code === undefined ? {} : { [tag]: { vr: 'US', Value: [code] } }),
  });
  return JSON.stringify({
    '00081190': { vr: 'UR', Value: ['http://archive/studies/1'] },
    ...(failed.length ? { '00081198': { vr: 'SQ', Value: failed.map(([u, c]) => item(u, '00081197', c)) } } : { '00081198': { vr: 'SQ' } }),
    ...(stored.length ? { '00081199': { vr: 'SQ', Value: stored.map(([u, c]) => item(u, '00081196', c)) } } : {}),
  });
}

const kinds = (j: ReturnType<typeof judgeAnswer>) => [...j.instances.values()].map((v) => v.kind);

describe('STOW-RS response parsing (PS3.18 10.5.3)', () => {
  it('reads stored and failed instances with their reasons, tolerating an array wrapper and lower-case tags', () => {
    const parsed = parseStowResponse(response([['2.25.1', 0xb000]], [['2.25.2', 0xc000]]))!;
    assert.deepEqual(parsed.stored.get('2.25.1'), { sopInstanceUID: '2.25.1', sopClassUID: '1.2.840.10008.5.1.4.1.1.1.1', warningReason: 0xb000 });
    assert.deepEqual(parsed.failed.get('2.25.2')?.failureReason, 0xc000);
    assert.equal(parsed.otherFailures, 0);
    const wrapped = parseStowResponse(`[${response([['2.25.9']], [])}]`);
    assert.ok(wrapped?.stored.has('2.25.9'));
    const other = parseStowResponse(JSON.stringify({ '0008119a': { vr: 'SQ', Value: [{ '00081197': { vr: 'US', Value: [0xc000] } }] } }));
    assert.equal(other?.otherFailures, 1);
    assert.equal(parseStowResponse('<html>oops</html>'), undefined);
    assert.equal(parseStowResponse(''), undefined);
    assert.equal(parseStowResponse('"text"'), undefined);
  });
});

describe('judging a STOW-RS answer per instance', () => {
  it('200: everything stored, listed or not, with warnings kept', () => {
    const j = judgeAnswer(sent, { status: 200, body: response([['2.25.1', 0xb000]], []) }, policy);
    assert.deepEqual(kinds(j), ['delivered', 'delivered', 'delivered']);
    assert.deepEqual(j.instances.get(1), { kind: 'delivered', warning: 'Warning Reason 0xB000 Coercion of Data Elements' });
    assert.deepEqual(j.destination, { health: 'ok' });
    assert.deepEqual(kinds(judgeAnswer(sent, { status: 200, body: '' }, policy)), ['delivered', 'delivered', 'delivered']);
  });

  it('202: stored ones delivered; retryable reasons retried; permanent ones quarantined; duplicates delivered; unmentioned retried', () => {
    const j = judgeAnswer(
      [...sent, { itemId: 4, sopInstanceUID: '2.25.4' }, { itemId: 5, sopInstanceUID: '2.25.5' }],
      { status: 202, body: response([['2.25.1']], [['2.25.2', 0xa700], ['2.25.3', 0xc000], ['2.25.4', 0x0111]]) },
      policy,
    );
    assert.deepEqual(j.instances.get(1), { kind: 'delivered' });
    assert.deepEqual(j.instances.get(2), { kind: 'retry', counts: true, error: 'HTTP 202, Failure Reason 0xA700 Refused: Out of Resources' });
    assert.deepEqual(j.instances.get(3), { kind: 'quarantine', reason: 'the destination refused the instance: HTTP 202, Failure Reason 0xC000 Error: Cannot understand' });
    assert.equal(j.instances.get(4)?.kind, 'delivered');
    assert.match((j.instances.get(4) as { warning: string }).warning, /already at the archive/);
    assert.deepEqual(j.instances.get(5), { kind: 'retry', counts: true, error: 'HTTP 202: the answer does not say this instance was stored' });
  });

  it('409: nothing stored; each failure judged by its reason', () => {
    const j = judgeAnswer(sent, { status: 409, body: response([], [['2.25.1', 0xa900], ['2.25.2', 0x0110], ['2.25.3', 0x0122]]) }, policy);
    assert.deepEqual(kinds(j), ['quarantine', 'retry', 'quarantine']);
  });

  it('401/403: the destination refuses our credentials; instances wait without using up attempts', () => {
    for (const status of [401, 403]) {
      const j = judgeAnswer(sent, { status, body: '' }, policy);
      assert.equal(j.destination.health, 'unauthorized');
      assert.ok([...j.instances.values()].every((v) => v.kind === 'retry' && !v.counts));
    }
  });

  it('503/429 and network errors: the destination is unavailable; instances wait; Retry-After is kept', () => {
    const j = judgeAnswer(sent, { status: 503, body: '', retryAfterMs: 7000 }, policy);
    assert.deepEqual(j.destination, { health: 'unreachable', error: 'HTTP 503: the destination is unavailable', retryAfterMs: 7000 });
    assert.ok([...j.instances.values()].every((v) => v.kind === 'retry' && !v.counts));
    const refused = judgeError(sent, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), policy);
    assert.equal(refused.destination.health, 'unreachable');
    assert.ok([...refused.instances.values()].every((v) => v.kind === 'retry' && !v.counts));
    const timeout = judgeError(sent, Object.assign(new Error('timed out'), { name: 'TimeoutError' }), policy);
    assert.equal(timeout.destination.health, 'unreachable');
  });

  it('404/405/415: the destination is misconfigured; instances wait, the destination is paused', () => {
    const j = judgeAnswer(sent, { status: 404, body: '' }, policy);
    assert.equal(j.destination.health, 'failing');
    assert.ok([...j.instances.values()].every((v) => v.kind === 'retry' && !v.counts));
  });

  it('a certificate the gateway cannot verify: the destination is misconfigured and paused; instances wait, uncounted', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT']) {
      const j = judgeError(sent, Object.assign(new Error('fetch failed'), { cause: { code } }), policy);
      assert.equal(j.destination.health, 'failing', code);
      assert.match((j.destination as { error: string }).error, new RegExp(`no trusted TLS connection to the destination \\(${code}\\)`));
      assert.ok([...j.instances.values()].every((v) => v.kind === 'retry' && !v.counts), code);
    }
  });

  it('500: retried, counted against each instance', () => {
    const j = judgeAnswer(sent, { status: 500, body: 'boom' }, policy);
    assert.ok([...j.instances.values()].every((v) => v.kind === 'retry' && v.counts));
    assert.equal(j.destination.health, 'failing');
  });

  it('400 without per-instance reasons: retried one by one in a batch, quarantined when alone', () => {
    assert.ok([...judgeAnswer(sent, { status: 400, body: '' }, policy).instances.values()].every((v) => v.kind === 'retry' && v.counts));
    assert.deepEqual(judgeAnswer(sent.slice(0, 1), { status: 400, body: '' }, policy).instances.get(1), {
      kind: 'quarantine',
      reason: 'the destination refused the instance: HTTP 400',
    });
  });

  it('400 that lists the stored ones (Orthanc): those are delivered, the rest retried alone', () => {
    const j = judgeAnswer(sent, { status: 400, body: response([['2.25.1'], ['2.25.3']], []) }, policy);
    assert.deepEqual(kinds(j), ['delivered', 'retry', 'delivered']);
  });
});

describe('destination health', () => {
  const T = 1_000_000;
  it('pauses an unavailable destination with growing backoff, honouring Retry-After, and recovers', () => {
    const p = { ...policy, baseMs: 1000, capMs: 60_000, jitter: 'none' as const };
    const down = { health: 'unreachable' as const, error: 'x' };
    const s1 = nextDestinationState('research', undefined, down, 0, T, p);
    assert.deepEqual([s1.health, s1.consecutiveFailures, s1.pausedUntil, s1.since], ['unreachable', 1, T + 1000, T]);
    const s2 = nextDestinationState('research', s1, down, 0, T + 5, p);
    assert.deepEqual([s2.consecutiveFailures, s2.pausedUntil, s2.since], [2, T + 5 + 2000, T]);
    const s3 = nextDestinationState('research', s2, { ...down, retryAfterMs: 30_000 }, 0, T + 10, p);
    assert.equal(s3.pausedUntil, T + 10 + 30_000);
    const s4 = nextDestinationState('research', s3, { ...down, retryAfterMs: 10 * 60_000 }, 0, T + 20, p);
    assert.equal(s4.pausedUntil, T + 20 + 60_000, 'Retry-After is capped');
    const ok = nextDestinationState('research', s4, { health: 'ok' }, 3, T + 99, p);
    assert.deepEqual(ok, { name: 'research', health: 'ok', since: T + 99, lastSuccessAt: T + 99, consecutiveFailures: 0 });
  });

  it('keeps a destination failing with 500s unpaused (the instances back off themselves)', () => {
    const s = nextDestinationState('r', undefined, { health: 'failing', error: 'HTTP 500', pause: false }, 0, T, policy);
    assert.equal(s.pausedUntil, undefined);
    assert.equal(s.health, 'failing');
  });
});
