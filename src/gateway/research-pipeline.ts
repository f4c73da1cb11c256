import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Router } from 'express';
import { Registry } from 'prom-client';
import { inThreadReleaser, type Releaser, type ReleaseSettings } from '../anonymizer/release-instance.js';
import { keyedDigest } from '../anonymizer/pseudonyms/keyed-hash.js';
import { firstString } from '../dicom/dataset.js';
import type { InputLimits } from '../dicom/input-limits.js';
import { readPart10 } from '../dicom/part10.js';
import { AnofairError } from '../errors/anofair-error.js';
import type { Logger } from '../observability/logger.js';
import { NO_AUDIT, type AuditActor, type AuditSink } from './audit/audit-event.js';
import type { DestinationConfig } from './forwarding/destination.js';
import { ForwardingMetrics } from './forwarding/forwarding-metrics.js';
import { ForwardingWorker } from './forwarding/forwarding-worker.js';
import type { DeidSettings } from './forwarding/prepare-instance.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './forwarding/retry-policy.js';
import { researchApiRouter } from './research-api/research-api-router.js';
import { queueReport, type QueueReport } from './research-api/queue-report.js';
import { dryRun, type DryRunResult } from './rules/dry-run.js';
import { route } from './rules/rule-engine.js';
import type { RuleSet, Sender } from './rules/rule-types.js';
import { InstanceSpool } from './spool/instance-spool.js';
import type { ForwardJob, GatewayStore, IngestMode, QueueItem } from './store/gateway-store.js';
import { SqliteStore } from './store/sqlite-store.js';

export interface ResearchPipelineOptions {
  /** Folder for the spool (<dataDir>/spool) and, with the default store, its state (<dataDir>/state.sqlite). */
  dataDir: string;
  rules: RuleSet;
  destinations: Readonly<Record<string, DestinationConfig>>;
  /**
   * The pseudonymisation key and site tables for de-identification. Without a `releaser` the pipeline releases on
   * its own thread with these settings (tests); the gateway gives it the worker pool.
   */
  deid: Omit<ReleaseSettings, 'signal'>;
  /** Where instances are released: the worker pool of the gateway (src/workers/release-pool.ts). */
  releaser?: Releaser;
  /** The input limits of every read (the configuration's limits: section); default DEFAULT_INPUT_LIMITS. */
  limits?: Partial<InputLimits>;
  retry?: RetryPolicy;
  /** Stable id of this node (leases); default: the host name. */
  nodeId?: string;
  concurrency?: number;
  pollMs?: number;
  leaseMs?: number;
  /** Where the metrics go (the gateway's /metrics registry); default: a registry of its own. */
  registry?: Registry;
  logger?: Logger;
  /** Another GatewayStore implementation (e.g. PostgreSQL); default: SQLite under dataDir. */
  store?: GatewayStore;
  /**
   * How long a queued instance waits for the rest of its study before its batch goes, ms (default 1000): the
   * instances of a STOW arrive one by one and should leave in one request per study.
   */
  batchWindowMs?: number;
  /** Largest instance POST /api/rules/dry-run accepts, bytes (default 256 MiB). */
  dryRunMaxBytes?: number;
  /** The audit trail: forwards, quarantines, operators' retries and discards, dry runs. */
  audit?: AuditSink;
}

export interface AcceptResult {
  /** The instance's own SOP Instance UID, for the caller's STOW response (it is not logged or stored here). */
  sopInstanceUID: string;
  /** The rule that decided, null when none matched. */
  rule: string | null;
  /** True when the instance is durably spooled and queued for at least one destination. */
  queued: boolean;
  /** True when the ledger already had it for every destination it routes to (nothing new was queued). */
  alreadyQueued?: boolean;
  reason?: string;
}

/** How an instance is routed when it does not come by the tap: an export job's rules and its run. */
export interface AcceptVia {
  /** The rules that route it (an export job may name a subset of the rule set); default: the whole rule set. */
  rules?: RuleSet;
  /** The export run it belongs to, for that run's report and reconciliation. */
  exportRun?: number;
}

export interface PipelineStatus extends QueueReport {
  running: boolean;
  rules: { source: string; hash: string; count: number };
}

/**
 * The research path of the gateway: routing rules, the durable spool and queue, the background forwarder and
 * the research API. The HTTP layer calls accept() for each instance of a STOW (the tap, or the de-identify-only
 * endpoint) and mounts apiRouter() at /api.
 */
export class ResearchPipeline {
  readonly registry: Registry;
  private readonly metrics: ForwardingMetrics;
  private readonly deid: DeidSettings;
  private readonly nodeId: string;
  private readonly audit: AuditSink;
  private store?: GatewayStore;
  private spool?: InstanceSpool;
  private worker?: ForwardingWorker;
  private started = false;
  private accepting = 0;

  constructor(private readonly o: ResearchPipelineOptions) {
    this.registry = o.registry ?? new Registry();
    this.metrics = new ForwardingMetrics(this.registry, () => this.store);
    this.deid = { key: o.deid.key, releaser: o.releaser ?? inThreadReleaser(o.deid) };
    this.nodeId = o.nodeId ?? hostname();
    this.audit = o.audit ?? NO_AUDIT;
  }

  get rules(): RuleSet {
    return this.o.rules;
  }

  /** Open the store and spool, recover from a crash, and start forwarding. */
  async start(): Promise<void> {
    if (this.started) return;
    const store = this.o.store ?? new SqliteStore(join(this.o.dataDir, 'state.sqlite'));
    const spool = new InstanceSpool(join(this.o.dataDir, 'spool'));
    await spool.open();
    const now = Date.now();
    // Recovery. A temporary file or a spool file the index does not know was never acknowledged (accept()
    // resolves only after the index commit), so it is removed; leases this node held before a crash return to
    // the queue at once; finished files are deleted.
    const temps = await spool.removeTemporaryFiles();
    const files = await spool.list();
    const known = await store.knownSpoolIds(files);
    const orphans = files.filter((id) => !known.has(id));
    for (const id of orphans) await spool.delete(id);
    const released = await store.releaseLeases(`${this.nodeId}/`, now);
    this.store = store;
    this.spool = spool;
    this.worker = new ForwardingWorker({
      store,
      spool,
      destinations: this.o.destinations,
      policy: this.o.retry ?? DEFAULT_RETRY_POLICY,
      deid: this.deid,
      nodeId: this.nodeId,
      concurrency: this.o.concurrency,
      pollMs: this.o.pollMs,
      leaseMs: this.o.leaseMs,
      metrics: this.metrics,
      logger: this.o.logger,
      audit: this.audit,
    });
    const cleaned = await this.worker.cleanSpool();
    this.started = true;
    this.worker.start();
    this.o.logger?.info(
      { destinations: Object.keys(this.o.destinations), rules: this.o.rules.source, recovered: { leases: released, unacknowledgedFiles: orphans.length + temps, finishedFiles: cleaned } },
      'research pipeline started',
    );
  }

  /** Stop accepting, let the batches in flight finish, and close the store. Queued work stays queued. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    while (this.accepting > 0) await new Promise((r) => setTimeout(r, 10));
    await this.worker?.stop();
    await this.store?.close();
    this.store = undefined;
    this.worker = undefined;
    this.o.logger?.info('research pipeline stopped');
  }

  private ready(): { store: GatewayStore; spool: InstanceSpool; worker: ForwardingWorker } {
    if (!this.started || !this.store || !this.spool || !this.worker) {
      throw new AnofairError('RESEARCH_UNAVAILABLE', 'the research pipeline is not running');
    }
    return { store: this.store, spool: this.spool, worker: this.worker };
  }

  /** The keyed pseudonym the store knows an instance by (never the UID itself). */
  instanceRef(sopInstanceUID: string): string {
    return this.ref('sop', sopInstanceUID);
  }

  /** The store, for the export jobs' ledger, runs and leases. */
  get exportStore(): GatewayStore {
    return this.ready().store;
  }

  /** The spool, for re-spooling an instance that reconciliation found missing at its destination. */
  get exportSpool(): InstanceSpool {
    return this.ready().spool;
  }

  /** Wake the forwarder (an export queued work, or reconciliation re-queued some). */
  wake(): void {
    this.worker?.wake();
  }

  private ref(purpose: string, uid: string): string {
    return keyedDigest(this.o.deid.key, `anofair-gateway-ref:${purpose}`, uid).toString('hex').slice(0, 32);
  }

  /**
   * Match one instance against the routing rules and, when a rule forwards it, spool it durably and queue it,
   * all before resolving: once this resolves with queued: true, the instance survives a crash and will be
   * delivered. Throws AnofairError DICOM_PARSE / DICOM_MISSING_ATTRIBUTE for input that cannot be routed.
   */
  async accept(instance: { bytes: Uint8Array }, sender: Sender, mode: IngestMode, via: AcceptVia = {}): Promise<AcceptResult> {
    const { store, spool } = this.ready();
    const rules = via.rules ?? this.o.rules;
    this.accepting++;
    try {
      const file = readPart10(instance.bytes, { limits: this.o.limits });
      const sopInstanceUID = firstString(file.dataset, '00080018');
      const studyInstanceUID = firstString(file.dataset, '0020000D');
      if (!sopInstanceUID) throw new AnofairError('DICOM_MISSING_ATTRIBUTE', 'the instance has no SOP Instance UID (0008,0018)');
      if (!studyInstanceUID) throw new AnofairError('DICOM_MISSING_ATTRIBUTE', 'the instance has no Study Instance UID (0020,000D)');
      const decision = route(rules, { file, sender });
      const rule = decision.decidedBy?.name ?? decision.forwards[0]?.rule.name ?? null;
      if (decision.forwards.length === 0) {
        this.metrics.accepted.inc({ mode, outcome: decision.dropped ? 'dropped' : 'unmatched' });
        return { sopInstanceUID, rule, queued: false, reason: decision.dropped ? `dropped by rule "${rule}"` : 'no routing rule matched' };
      }
      const jobs: ForwardJob[] = decision.forwards.flatMap(({ rule: r, action }) =>
        action.destinations.map((destination) => ({ rule: r.name, destination, deidentify: action.deidentify, pixels: action.pixels, ruleSetHash: rules.hash })),
      );
      const written = await spool.write(instance.bytes);
      let ids: number[];
      try {
        ids = await store.enqueue(
          { ...written, mode, instanceRef: this.instanceRef(sopInstanceUID), studyRef: this.ref('study', studyInstanceUID), receivedAt: Date.now() },
          jobs,
          Date.now(),
          Date.now() + (this.o.batchWindowMs ?? 1_000),
          via.exportRun,
        );
      } catch (err) {
        await spool.delete(written.id).catch(() => undefined);
        throw err instanceof AnofairError ? err : new AnofairError('IO', `the queue could not record the instance: ${(err as Error).message}`, undefined, { cause: err });
      }
      if (ids.length === 0) {
        // the ledger: this instance already went (or is going) to each of these destinations under these rules
        await spool.delete(written.id).catch(() => undefined);
        this.metrics.accepted.inc({ mode, outcome: 'already-queued' });
        return { sopInstanceUID, rule, queued: false, alreadyQueued: true, reason: 'already queued or delivered to each destination under this rule' };
      }
      this.metrics.accepted.inc({ mode, outcome: 'queued' });
      return { sopInstanceUID, rule, queued: true };
    } finally {
      this.accepting--;
    }
  }

  /**
   * Which rule would match and what de-identification would change; nothing is spooled or sent. Audited: the
   * answer shows `by` the values of the instance. The row names the deciding rule and the outcome only.
   */
  async dryRun(bytes: Uint8Array, sender: Sender = {}, by: AuditActor = {}): Promise<DryRunResult> {
    let result: DryRunResult;
    try {
      result = await dryRun(bytes, this.o.rules, this.deid, sender, this.o.limits);
    } catch (err) {
      this.audit.record({ type: 'dry-run', outcome: 'failure', ...by, detail: { reason: err instanceof AnofairError ? err.code : 'INTERNAL' } });
      throw err;
    }
    this.audit.record({
      type: 'dry-run',
      outcome: 'success',
      ...by,
      detail: {
        rule: result.decidedBy ?? result.forwards[0]?.rule ?? '(none)',
        decision: result.decision,
        released: result.forwards.filter((f) => f.outcome === 'released').length,
        quarantined: result.forwards.filter((f) => f.outcome === 'quarantined').length,
      },
    });
    return result;
  }

  async status(): Promise<PipelineStatus> {
    const { store } = this.ready();
    const report = await queueReport(store, Object.keys(this.o.destinations));
    return { running: this.started, rules: { source: this.o.rules.source, hash: this.o.rules.hash, count: this.o.rules.rules.length }, ...report };
  }

  async listQuarantine(page: { limit: number; offset: number; destination?: string }): Promise<{ total: number; items: QueueItem[] }> {
    return this.ready().store.listQuarantine(page);
  }

  /** Send a quarantined item again (attempts reset). NOT_FOUND / CONFLICT when there is no such quarantined item. */
  async retryQuarantined(id: number, by: AuditActor = {}): Promise<QueueItem> {
    const { store, worker } = this.ready();
    const item = await store.requeue(id, Date.now());
    if (!item) throw await this.notQuarantined(id, 'retry', by);
    this.audit.record({ type: 'retry', outcome: 'success', ...by, detail: { item: id, destination: item.job.destination, studyRef: item.studyRef } });
    this.o.logger?.info({ item: id, destination: item.job.destination }, 'quarantine: item queued again');
    worker.wake();
    return item;
  }

  /** Give up on a quarantined item: it is never forwarded, and its spool file goes once nothing else needs it. */
  async discardQuarantined(id: number, by: AuditActor = {}): Promise<QueueItem> {
    const { store, worker } = this.ready();
    const item = await store.discard(id, Date.now());
    if (!item) throw await this.notQuarantined(id, 'discard', by);
    this.audit.record({ type: 'discard', outcome: 'success', ...by, detail: { item: id, destination: item.job.destination, studyRef: item.studyRef } });
    this.o.logger?.info({ item: id, destination: item.job.destination }, 'quarantine: item discarded');
    await worker.cleanSpool();
    return item;
  }

  /** The error for an id that names no quarantined item; the refused operation is audited. */
  private async notQuarantined(id: number, operation: 'retry' | 'discard', by: AuditActor): Promise<AnofairError> {
    const item = await this.ready().store.getItem(id);
    const err = item
      ? new AnofairError('CONFLICT', `queue item ${id} is not quarantined (it is ${item.state})`, { id, state: item.state })
      : new AnofairError('NOT_FOUND', `no queue item ${id}`, { id });
    this.audit.record({ type: operation, outcome: 'failure', ...by, detail: { item: id, reason: err.code } });
    return err;
  }

  /** The routes the HTTP layer mounts at /api. */
  apiRouter(): Router {
    return researchApiRouter(this, { dryRunMaxBytes: this.o.dryRunMaxBytes ?? 256 * 1024 * 1024 });
  }
}
