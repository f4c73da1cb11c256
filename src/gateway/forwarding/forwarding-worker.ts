import type { Logger } from 'pino';
import type { DeidRecord } from '../../anonymizer/deid-types.js';
import type { AuditSink } from '../audit/audit-event.js';
import type { InstanceSpool } from '../spool/instance-spool.js';
import type { GatewayStore, ItemOutcome, QueueItem } from '../store/gateway-store.js';
import type { DestinationConfig } from './destination.js';
import { nextDestinationState } from './destination-health.js';
import type { ForwardingMetrics } from './forwarding-metrics.js';
import { judgeAnswer, judgeError, type InstanceVerdict, type Judgement, type SentInstance } from './judge-answer.js';
import { prepareInstance, type DeidSettings } from './prepare-instance.js';
import { backoffDelay, type RetryPolicy } from './retry-policy.js';
import { postInstances } from './stow-client.js';

export interface ForwardingWorkerOptions {
  store: GatewayStore;
  spool: InstanceSpool;
  destinations: Readonly<Record<string, DestinationConfig>>;
  policy: RetryPolicy;
  deid: DeidSettings;
  /** Stable id of this gateway node; leases are "<nodeId>/w<n>", released at the next start. */
  nodeId: string;
  /** Batches in flight at once (each to one destination). */
  concurrency?: number;
  /** How long a claimed batch stays leased before another worker may take it over. */
  leaseMs?: number;
  /** How often an idle worker looks for due items (it is also woken when work is queued). */
  pollMs?: number;
  metrics?: ForwardingMetrics;
  logger?: Logger;
  /** The audit trail: one 'forward' row per delivered batch, one 'quarantine' row per withheld instance. */
  audit?: AuditSink;
  now?: () => number;
  random?: () => number;
}

/** What one batch did, for tests and progress. */
export interface BatchReport {
  destination: string;
  claimed: number;
  sent: number;
  delivered: number;
  retried: number;
  quarantined: number;
}

/**
 * The background forwarder: claims a batch (instances of one study for one destination), de-identifies each
 * instance as the request body streams, sends one STOW-RS request, and settles every item by the answer.
 *
 * Delivery is at least once: an item is marked delivered only after the destination confirmed it, so a crash
 * between the archive storing an instance and our commit sends it again after the restart. That re-send is not
 * a duplicate at the archive: de-identified UIDs are keyed and deterministic (the same instance under the same
 * key and rule gives the same SOP Instance UID, and the same bytes), and an archive identifies an instance by
 * its SOP Instance UID (PS3.4 B.4.1; PS3.18 10.5): it either answers that it already holds it (Orthanc:
 * stored, unchanged; others: Failure Reason 0x0111, which we count as delivered) or replaces it with identical
 * content. Either way the archive ends with exactly one copy.
 */
export class ForwardingWorker {
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private loops: Promise<void>[] = [];
  private stopping = false;
  private wakers = new Set<() => void>();

  constructor(private readonly o: ForwardingWorkerOptions) {
    this.concurrency = o.concurrency ?? 2;
    this.leaseMs = o.leaseMs ?? 10 * 60_000;
    this.pollMs = o.pollMs ?? 1_000;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  get running(): boolean {
    return this.loops.length > 0 && !this.stopping;
  }

  start(): void {
    if (this.loops.length > 0) return;
    this.stopping = false;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop(`${this.o.nodeId}/w${i}`));
  }

  /** Look for work now (called when an instance is queued or released from quarantine). */
  wake(): void {
    for (const wake of this.wakers) wake();
  }

  /** Stop claiming; resolve once the batches in flight are settled. Queued items stay queued. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(owner: string): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = (await this.runOnce(owner)) !== undefined;
      } catch (err) {
        this.o.logger?.error({ err: { name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message } }, 'forwarding: batch failed unexpectedly');
      }
      if (!worked && !this.stopping) await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      // Unreferenced: an idle forwarder alone does not keep the process alive (the HTTP server does).
      const timer = setTimeout(done, this.pollMs).unref();
      this.wakers.add(done);
    });
  }

  /** Claim and forward one batch; undefined when nothing was due. */
  async runOnce(owner = `${this.o.nodeId}/w0`): Promise<BatchReport | undefined> {
    const items = await this.o.store.claimBatch({ owner, now: this.now(), leaseMs: this.leaseMs, maxItems: this.batchLimit() });
    if (items.length === 0) return undefined;
    const report = await this.forward(owner, items);
    if (report.delivered > 0) await this.cleanSpool();
    return report;
  }

  private batchLimit(): number {
    return Math.max(1, ...Object.values(this.o.destinations).map((d) => d.maxBatchInstances));
  }

  private async forward(owner: string, claimed: QueueItem[]): Promise<BatchReport> {
    const name = claimed[0]!.job.destination;
    const config = this.o.destinations[name];
    const outcomes = new Map<number, ItemOutcome>();
    const report: BatchReport = { destination: name, claimed: claimed.length, sent: 0, delivered: 0, retried: 0, quarantined: 0 };
    if (!config) {
      for (const item of claimed) outcomes.set(item.id, { kind: 'quarantined', reason: `the destination "${name}" is not configured any more` });
      return this.settle(owner, claimed, outcomes, report, 'configuration');
    }
    // The store batches by study up to the largest destination's limit; this destination may take fewer.
    const items = claimed.slice(0, config.maxBatchInstances);
    for (const item of claimed.slice(config.maxBatchInstances)) {
      outcomes.set(item.id, { kind: 'retry', nextAttemptAt: this.now(), error: 'batch split', counts: false });
    }

    const queue = [...items];
    const sent: Array<SentInstance & { record: DeidRecord }> = [];
    const deidCauses = new Set<number>();
    const next = async (): Promise<Uint8Array | undefined> => {
      while (queue.length > 0) {
        const item = queue.shift()!;
        const entry = await this.o.store.getSpoolEntry(item.spoolId);
        const prepared = await prepareInstance(entry, item.job, this.o.spool, this.o.deid, this.o.metrics);
        if (prepared.kind === 'deferred') {
          outcomes.set(item.id, { kind: 'retry', nextAttemptAt: this.now(), error: prepared.reason, counts: false });
          continue;
        }
        if (prepared.kind === 'quarantined') {
          outcomes.set(item.id, { kind: 'quarantined', reason: prepared.reason, deidSopInstanceUID: prepared.sopInstanceUID, record: prepared.record });
          deidCauses.add(item.id);
          continue;
        }
        sent.push({ itemId: item.id, sopInstanceUID: prepared.sopInstanceUID, record: prepared.record });
        return prepared.bytes;
      }
      return undefined;
    };

    const first = await next();
    if (first !== undefined) {
      let bodyComplete = false;
      async function* parts(): AsyncGenerator<Uint8Array> {
        yield first!;
        for (let part = await next(); part !== undefined; part = await next()) yield part;
        bodyComplete = true;
      }
      const stopTimer = this.o.metrics?.requestSeconds.startTimer({ destination: name });
      let judgement: Judgement;
      try {
        const answer = await postInstances(config, parts());
        judgement = judgeAnswer(sent, answer, this.o.policy);
        this.o.logger?.debug({ destination: name, status: answer.status, instances: sent.length }, 'forwarding: STOW-RS answered');
      } catch (err) {
        judgement = judgeError(sent, err, this.o.policy);
      }
      stopTimer?.();
      report.sent = sent.length;
      const now = this.now();
      for (const s of sent) {
        let verdict = judgement.instances.get(s.itemId)!;
        // Only a request whose body went out whole can confirm instances it does not list.
        if (!bodyComplete && verdict.kind === 'delivered') verdict = { kind: 'retry', error: 'the request ended before the whole body was sent', counts: false };
        outcomes.set(s.itemId, this.outcomeOf(items.find((i) => i.id === s.itemId)!, verdict, s, now));
      }
      // Instances the request never reached (it ended early) are not at fault.
      for (const item of queue) outcomes.set(item.id, { kind: 'retry', nextAttemptAt: now, error: 'not sent: the request ended early', counts: false });
      await this.updateDestination(name, judgement, [...outcomes.values()].filter((o) => o.kind === 'delivered').length, now);
      return this.settle(owner, claimed, outcomes, report, 'refused', deidCauses);
    }
    return this.settle(owner, claimed, outcomes, report, 'refused', deidCauses);
  }

  private outcomeOf(item: QueueItem, verdict: InstanceVerdict, sent: SentInstance & { record: DeidRecord }, now: number): ItemOutcome {
    const uid = sent.sopInstanceUID;
    switch (verdict.kind) {
      case 'delivered':
        return { kind: 'delivered', deidSopInstanceUID: uid, warning: verdict.warning, record: sent.record };
      case 'quarantine':
        return { kind: 'quarantined', reason: verdict.reason, deidSopInstanceUID: uid, record: sent.record };
      case 'retry': {
        if (!verdict.counts) return { kind: 'retry', nextAttemptAt: now, error: verdict.error, counts: false, deidSopInstanceUID: uid };
        const attempts = item.attempts + 1;
        if (attempts >= this.o.policy.maxAttempts) {
          return { kind: 'quarantined', reason: `no success after ${attempts} attempts (retry limit); last: ${verdict.error}`, counts: true, deidSopInstanceUID: uid, record: sent.record };
        }
        return { kind: 'retry', nextAttemptAt: now + backoffDelay(this.o.policy, attempts, this.random), error: verdict.error, counts: true, deidSopInstanceUID: uid };
      }
    }
  }

  private async updateDestination(name: string, judgement: Judgement, delivered: number, now: number): Promise<void> {
    const previous = (await this.o.store.getDestinationStates()).find((d) => d.name === name);
    const next = nextDestinationState(name, previous, judgement.destination, delivered, now, this.o.policy, this.random);
    await this.o.store.putDestinationState(next);
    if (previous?.health !== next.health) {
      const log = next.health === 'ok' ? this.o.logger?.info.bind(this.o.logger) : this.o.logger?.warn.bind(this.o.logger);
      log?.({ destination: name, health: next.health, error: next.lastError }, `forwarding: destination ${name} is ${next.health}`);
    }
  }

  private async settle(
    owner: string,
    claimed: QueueItem[],
    outcomes: Map<number, ItemOutcome>,
    report: BatchReport,
    quarantineCause: string,
    deidCauses = new Set<number>(),
  ): Promise<BatchReport> {
    const name = report.destination;
    const results = claimed.map((item) => ({ itemId: item.id, outcome: outcomes.get(item.id) ?? { kind: 'retry' as const, nextAttemptAt: this.now(), error: 'not attempted', counts: false } }));
    await this.o.store.settle(owner, results, this.now());
    const m = this.o.metrics;
    const byId = new Map(claimed.map((item) => [item.id, item]));
    const delivered: QueueItem[] = [];
    for (const { itemId, outcome } of results) {
      if (outcome.kind === 'delivered') {
        report.delivered++;
        delivered.push(byId.get(itemId)!);
        m?.forwarded.inc({ destination: name });
      } else if (outcome.kind === 'retry') {
        report.retried++;
        if (outcome.error !== 'batch split') m?.failedAttempts.inc({ destination: name, cause: outcome.counts ? 'retry' : 'deferred' });
      } else {
        report.quarantined++;
        const cause = deidCauses.has(itemId) ? 'deidentification' : outcome.reason.includes('retry limit') ? 'retry-limit' : quarantineCause;
        m?.quarantined.inc({ destination: name, cause });
        // Pseudonymous ids only: the queue item id and the de-identified SOP Instance UID.
        this.o.logger?.warn({ destination: name, item: itemId, deidSopInstanceUID: outcome.deidSopInstanceUID, reason: outcome.reason }, 'forwarding: instance quarantined');
        // the cause, not the reason: a reason is a sentence, and the trail holds codes and names only
        const item = byId.get(itemId)!;
        this.o.audit?.record({ type: 'quarantine', outcome: 'failure', actor: 'gateway', credential: 'system', detail: { item: itemId, destination: name, reason: cause, rule: item.job.rule, studyRef: item.studyRef } });
      }
    }
    if (delivered.length > 0) {
      this.o.audit?.record({
        type: 'forward',
        outcome: 'success',
        actor: 'gateway',
        credential: 'system',
        detail: {
          destination: name,
          instances: delivered.length,
          rule: [...new Set(delivered.map((i) => i.job.rule))].join(','),
          keyId: this.o.deid.key.id,
          studyRef: delivered[0]!.studyRef,
        },
      });
    }
    this.o.logger?.info({ ...report }, 'forwarding: batch settled');
    return report;
  }

  /** Delete spool files every destination confirmed (or an operator discarded), then forget them. */
  async cleanSpool(): Promise<number> {
    let removed = 0;
    for (;;) {
      const finished = await this.o.store.finishedSpoolEntries(100);
      if (finished.length === 0) return removed;
      for (const entry of finished) {
        await this.o.spool.delete(entry.id);
        await this.o.store.forgetSpoolEntry(entry.id);
        removed++;
      }
    }
  }
}
