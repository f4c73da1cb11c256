import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { ForwardJob, GatewayStore, SpoolEntry } from './gateway-store.js';

/**
 * The behaviour every GatewayStore implementation must have (SQLite now, PostgreSQL later). Call inside a
 * describe(); `open` gives a fresh, empty store.
 */
export function storeContract(open: () => Promise<GatewayStore>): void {
  let store: GatewayStore;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  const T0 = 1_700_000_000_000;
  let n = 0;
  const entry = (study = 'study-a', over: Partial<SpoolEntry> = {}): SpoolEntry => ({
    id: `spool-${++n}`,
    size: 1000,
    sha256: 'ab'.repeat(32),
    mode: 'tap',
    instanceRef: `inst-${n}`,
    studyRef: study,
    receivedAt: T0,
    ...over,
  });
  const job = (destination = 'research', rule = 'chest'): ForwardJob => ({
    rule,
    destination,
    deidentify: { profile: 'basic', options: ['retain-patient-characteristics'] },
    pixels: 'none',
    ruleSetHash: 'f'.repeat(64),
  });
  const claim = (owner = 'node-1/w0', now = T0, maxItems = 10) => store.claimBatch({ owner, now, leaseMs: 60_000, maxItems });

  it('enqueues a spool entry with its jobs as pending items, with the typed job intact', async () => {
    const e = entry();
    const ids = await store.enqueue(e, [job('research'), job('trial', 'audit')], T0);
    assert.equal(ids.length, 2);
    const item = await store.getItem(ids[1]!);
    assert.equal(item?.state, 'pending');
    assert.deepEqual(item?.job, job('trial', 'audit'));
    assert.equal(item?.spoolId, e.id);
    assert.equal(item?.studyRef, 'study-a');
    assert.deepEqual(await store.getSpoolEntry(e.id), e);
    assert.deepEqual(await store.queueCounts(), [
      { destination: 'research', state: 'pending', count: 1 },
      { destination: 'trial', state: 'pending', count: 1 },
    ]);
  });

  it('claims a batch of one destination and one study, leases it, and never hands it out twice', async () => {
    for (let i = 0; i < 3; i++) await store.enqueue(entry('study-a'), [job()], T0);
    await store.enqueue(entry('study-b'), [job()], T0);
    await store.enqueue(entry('study-a'), [job('trial')], T0);
    const batch = await claim('node-1/w0', T0, 10);
    assert.deepEqual(batch.map((i) => [i.studyRef, i.job.destination, i.state]), [
      ['study-a', 'research', 'in-flight'],
      ['study-a', 'research', 'in-flight'],
      ['study-a', 'research', 'in-flight'],
    ]);
    const next = await claim('node-1/w1', T0, 10);
    assert.equal(next.length, 1);
    assert.notEqual(next[0]!.studyRef + next[0]!.job.destination, 'study-aresearch');
    const limited = await claim('node-1/w1', T0, 10);
    assert.equal(limited.length, 1);
    assert.deepEqual(await claim('node-1/w1', T0, 10), [], 'everything is leased');
  });

  it('makes items due at dueAt, and a due item takes the rest of its study along', async () => {
    await store.enqueue(entry('s'), [job()], T0, T0 + 500);
    await store.enqueue(entry('s'), [job()], T0 + 100, T0 + 600);
    await store.enqueue(entry('other'), [job()], T0 + 100, T0 + 600);
    assert.deepEqual(await claim('o', T0 + 499), []);
    assert.deepEqual((await claim('o', T0 + 500)).map((i) => i.studyRef), ['s', 's']);
    assert.deepEqual(await claim('o', T0 + 500), [], 'the other study is not due yet');
  });

  it('honours maxItems', async () => {
    for (let i = 0; i < 5; i++) await store.enqueue(entry('s'), [job()], T0);
    assert.equal((await claim('o', T0, 2)).length, 2);
    assert.equal((await claim('o', T0, 2)).length, 2);
    assert.equal((await claim('o', T0, 2)).length, 1);
  });

  it('settles delivered, retry (counted or deferred) and quarantined outcomes', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(...(await store.enqueue(entry('s'), [job()], T0)));
    const batch = await claim('o', T0);
    assert.equal(batch.length, 4);
    await store.settle(
      'o',
      [
        { itemId: ids[0]!, outcome: { kind: 'delivered', deidSopInstanceUID: '2.25.1', record: { keyId: 'k1' } } },
        { itemId: ids[1]!, outcome: { kind: 'retry', nextAttemptAt: T0 + 5000, error: 'HTTP 500', counts: true } },
        { itemId: ids[2]!, outcome: { kind: 'retry', nextAttemptAt: T0 + 5000, error: 'connection refused', counts: false } },
        { itemId: ids[3]!, outcome: { kind: 'quarantined', reason: 'FailureReason 0xC000', counts: true, deidSopInstanceUID: '2.25.4' } },
      ],
      T0 + 1,
    );
    const [a, b, c, d] = await Promise.all(ids.map((id) => store.getItem(id)));
    assert.equal(a?.state, 'delivered');
    assert.equal(a?.deidSopInstanceUID, '2.25.1');
    assert.equal(a?.deliveredAt, T0 + 1);
    assert.deepEqual([b?.state, b?.attempts, b?.deferrals, b?.nextAttemptAt, b?.lastError], ['pending', 1, 0, T0 + 5000, 'HTTP 500']);
    assert.deepEqual([c?.state, c?.attempts, c?.deferrals], ['pending', 0, 1]);
    assert.deepEqual([d?.state, d?.quarantineReason, d?.deidSopInstanceUID, d?.attempts], ['quarantined', 'FailureReason 0xC000', '2.25.4', 1]);
  });

  it('does not hand out an item before its next attempt is due', async () => {
    const [id] = await store.enqueue(entry('s'), [job()], T0);
    await claim('o', T0);
    await store.settle('o', [{ itemId: id!, outcome: { kind: 'retry', nextAttemptAt: T0 + 5000, error: 'x', counts: true } }], T0);
    assert.deepEqual(await claim('o', T0 + 4999), []);
    assert.equal((await claim('o', T0 + 5000)).length, 1);
  });

  it('claims an item that already failed on its own account alone, so it cannot hold back its study', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(...(await store.enqueue(entry('s'), [job()], T0)));
    await claim('o', T0);
    await store.settle('o', [{ itemId: ids[0]!, outcome: { kind: 'retry', nextAttemptAt: T0, error: 'x', counts: true } }], T0);
    await store.settle('o', ids.slice(1).map((itemId) => ({ itemId, outcome: { kind: 'retry' as const, nextAttemptAt: T0 + 1, error: 'y', counts: false } })), T0);
    const alone = await claim('o', T0 + 1);
    assert.deepEqual(alone.map((i) => i.id), [ids[0]]);
    assert.deepEqual((await claim('o', T0 + 1)).map((i) => i.id), ids.slice(1), 'deferred items still batch together');
  });

  it('skips destinations paused until later, and resumes them when the pause ends', async () => {
    await store.enqueue(entry('s'), [job('research')], T0);
    await store.putDestinationState({ name: 'research', health: 'unreachable', since: T0, pausedUntil: T0 + 1000, consecutiveFailures: 3, lastError: 'ECONNREFUSED' });
    assert.deepEqual(await claim('o', T0 + 999), []);
    assert.equal((await claim('o', T0 + 1000)).length, 1);
    const [state] = await store.getDestinationStates();
    assert.deepEqual(state, { name: 'research', health: 'unreachable', since: T0, pausedUntil: T0 + 1000, consecutiveFailures: 3, lastError: 'ECONNREFUSED', lastSuccessAt: undefined });
  });

  it('ignores a settle from an owner that no longer holds the lease', async () => {
    const [id] = await store.enqueue(entry('s'), [job()], T0);
    await store.claimBatch({ owner: 'old', now: T0, leaseMs: 10, maxItems: 1 });
    const taken = await store.claimBatch({ owner: 'new', now: T0 + 11, leaseMs: 60_000, maxItems: 1 });
    assert.deepEqual(taken.map((i) => i.id), [id], 'an expired lease is claimable');
    await store.settle('old', [{ itemId: id!, outcome: { kind: 'quarantined', reason: 'stale' } }], T0 + 12);
    assert.equal((await store.getItem(id!))?.state, 'in-flight');
    await store.settle('new', [{ itemId: id!, outcome: { kind: 'delivered' } }], T0 + 13);
    assert.equal((await store.getItem(id!))?.state, 'delivered');
  });

  it('releases the leases of a restarted owner at once', async () => {
    for (let i = 0; i < 2; i++) await store.enqueue(entry(`s${i}`), [job()], T0);
    await claim('node-1/w0', T0);
    await claim('node-2/w0', T0);
    assert.equal(await store.releaseLeases('node-1/', T0 + 1), 1);
    const counts = await store.queueCounts();
    assert.deepEqual(counts, [
      { destination: 'research', state: 'in-flight', count: 1 },
      { destination: 'research', state: 'pending', count: 1 },
    ]);
    assert.equal(await store.releaseLeases('node_', T0 + 1), 0, 'the prefix is literal, not a LIKE pattern');
  });

  it('reports spool entries as finished only when every item is delivered or discarded', async () => {
    const e = entry('s');
    const [a, b] = await store.enqueue(e, [job('research'), job('trial')], T0);
    let batch = await claim('o', T0);
    await store.settle('o', [{ itemId: batch[0]!.id, outcome: { kind: 'delivered' } }], T0);
    assert.deepEqual(await store.finishedSpoolEntries(10), []);
    batch = await claim('o', T0);
    await store.settle('o', [{ itemId: batch[0]!.id, outcome: { kind: 'quarantined', reason: 'r' } }], T0);
    assert.deepEqual(await store.finishedSpoolEntries(10), [], 'a quarantined item keeps its file');
    assert.ok(await store.discard(b!, T0));
    assert.deepEqual((await store.finishedSpoolEntries(10)).map((s) => s.id), [e.id]);
    await store.forgetSpoolEntry(e.id);
    assert.equal(await store.getSpoolEntry(e.id), undefined);
    assert.equal((await store.getItem(a!))?.state, 'delivered', 'the ledger stays');
    assert.deepEqual(await store.knownSpoolIds([e.id, 'x']), new Set());
  });

  it('lists, requeues and discards quarantined items; other states are left alone', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(...(await store.enqueue(entry(`s${i}`), [job(i === 2 ? 'trial' : 'research')], T0)));
    for (let i = 0; i < 3; i++) {
      const [item] = await claim('o', T0 + i);
      await store.settle('o', [{ itemId: item!.id, outcome: { kind: 'quarantined', reason: `reason ${item!.id}` } }], T0 + i);
    }
    const page = await store.listQuarantine({ limit: 2, offset: 0 });
    assert.equal(page.total, 3);
    assert.deepEqual(page.items.map((i) => i.id), [ids[2], ids[1]], 'newest first');
    assert.deepEqual((await store.listQuarantine({ limit: 10, offset: 0, destination: 'trial' })).items.map((i) => i.id), [ids[2]]);
    const requeued = await store.requeue(ids[0]!, T0 + 10);
    assert.deepEqual([requeued?.state, requeued?.attempts, requeued?.quarantineReason], ['pending', 0, undefined]);
    assert.equal(await store.requeue(ids[0]!, T0 + 10), undefined, 'no longer quarantined');
    assert.equal((await store.discard(ids[1]!, T0 + 10))?.state, 'discarded');
    assert.equal(await store.discard(ids[1]!, T0 + 10), undefined);
    assert.equal(await store.requeue(999_999, T0), undefined);
    assert.equal((await store.listQuarantine({ limit: 10, offset: 0 })).total, 1);
  });

  it('reports the oldest waiting item per destination', async () => {
    await store.enqueue(entry('s'), [job('research')], T0 + 5);
    await store.enqueue(entry('s'), [job('research'), job('trial')], T0 + 9);
    assert.deepEqual(await store.oldestWaiting(), [
      { destination: 'research', since: T0 + 5 },
      { destination: 'trial', since: T0 + 9 },
    ]);
  });

  it('keeps a ledger: an instance already queued for a destination under a rule is not queued again, however it comes', async () => {
    const first = entry('s', { instanceRef: 'same-instance' });
    assert.equal((await store.enqueue(first, [job('research')], T0)).length, 1);
    // the same instance again (a re-run, the tap and the export): nothing new, not even the spool entry
    const again = entry('s', { instanceRef: 'same-instance', mode: 'export' });
    assert.deepEqual(await store.enqueue(again, [job('research')], T0, T0, 7), []);
    assert.equal(await store.getSpoolEntry(again.id), undefined);
    // a destination or rule it has not gone to yet is queued, alone, and the run is recorded
    const third = entry('s', { instanceRef: 'same-instance', mode: 'export' });
    const ids = await store.enqueue(third, [job('research'), job('trial'), job('trial')], T0, T0, 7);
    assert.equal(ids.length, 1);
    assert.deepEqual((await store.exportRunItems(7)).map((i) => [i.id, i.job.destination]), [[ids[0], 'trial']]);
    assert.deepEqual(await store.ledgerEntries('same-instance'), [
      { destination: 'research', rule: 'chest' },
      { destination: 'trial', rule: 'chest' },
    ]);
    assert.deepEqual(await store.ledgerEntries('other'), []);
  });

  it('gives an export job to one owner at a time, and marks a run whose lease expired or whose owner restarted interrupted', async () => {
    const begin = (owner: string, now: number) => store.beginExportRun({ job: 'nightly', owner, now, leaseMs: 1_000, trigger: 'schedule', window: { from: '20261207', to: '20261207' }, dryRun: false });
    const a = await begin('node-1/export', T0);
    assert.equal(a?.state, 'running');
    assert.equal(await begin('node-2/export', T0 + 500), undefined, 'a live lease is held');
    assert.equal(await store.heartbeatExportRun(a!.id, 'node-1/export', T0 + 900, 1_000, { phase: 'retrieving' }), true);
    assert.equal(await begin('node-2/export', T0 + 1_500), undefined, 'the heartbeat extended it');
    assert.deepEqual((await store.getExportRun(a!.id))?.progress, { phase: 'retrieving' });
    const b = await begin('node-2/export', T0 + 2_000);
    assert.ok(b, 'an expired lease is taken over');
    assert.equal((await store.getExportRun(a!.id))?.state, 'interrupted');
    assert.equal(await store.heartbeatExportRun(a!.id, 'node-1/export', T0 + 2_001, 1_000, {}), false, 'the old owner learns it lost the lease');
    await store.endExportRun(b!.id, 'node-2/export', 'complete', { studies: 1 }, T0 + 3_000);
    const done = await store.getExportRun(b!.id);
    assert.deepEqual([done?.state, done?.endedAt, done?.report], ['complete', T0 + 3_000, { studies: 1 }]);
    const c = await begin('node-3/export', T0 + 3_001);
    assert.ok(c, 'an ended run frees the lease at once');
    assert.equal(await store.releaseExportLeases('node-3/', T0 + 3_002), 1);
    assert.equal((await store.getExportRun(c!.id))?.state, 'interrupted');
    assert.deepEqual((await store.listExportRuns({ job: 'nightly', limit: 10 })).map((r) => r.state), ['interrupted', 'complete', 'interrupted']);
  });

  it('re-queues a delivered item that reconciliation did not find, pointing it at the instance spooled again', async () => {
    const e = entry('s');
    const [id] = await store.enqueue(e, [job()], T0);
    await claim('o', T0);
    await store.settle('o', [{ itemId: id!, outcome: { kind: 'delivered', deidSopInstanceUID: '2.25.9' } }], T0);
    await store.forgetSpoolEntry(e.id);
    const replacement = entry('s', { instanceRef: e.instanceRef, mode: 'export' });
    const item = await store.requeueDelivered(id!, T0 + 5, replacement);
    assert.deepEqual([item?.state, item?.spoolId, item?.deliveredAt], ['pending', replacement.id, undefined]);
    assert.deepEqual(await store.getSpoolEntry(replacement.id), replacement);
    assert.equal(await store.requeueDelivered(id!, T0 + 6), undefined, 'only a delivered item');
  });
}
