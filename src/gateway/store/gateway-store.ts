import type { ProfileOption } from '../../anonymizer/deid-types.js';
import type { PixelMethod } from '../rules/rule-types.js';

/**
 * The one store behind the research path: spool index, forwarding queue and destination state. Everything
 * the gateway must not forget across a crash goes through this interface, and nothing else does. It is
 * asynchronous and narrow so that a PostgreSQL implementation (several replicas) can follow the SQLite one;
 * store-contract.ts holds the tests every implementation must pass.
 *
 * Nothing stored here is PHI: instances are referred to by spool ids we mint and by keyed pseudonyms of their
 * UIDs (instanceRef, studyRef, the de-identified SOP Instance UID); reasons and errors never quote values.
 */

export type ItemState = 'pending' | 'in-flight' | 'delivered' | 'quarantined' | 'discarded';
export const ITEM_STATES: readonly ItemState[] = ['pending', 'in-flight', 'delivered', 'quarantined', 'discarded'];

export type IngestMode = 'tap' | 'deid-only' | 'export';

/** A spooled instance file, indexed when it was accepted. */
export interface SpoolEntry {
  /** The spool file's id (and file name), minted by the gateway. */
  id: string;
  size: number;
  sha256: string;
  mode: IngestMode;
  /** Keyed pseudonym of the original SOP Instance UID. */
  instanceRef: string;
  /** Keyed pseudonym of the original Study Instance UID; instances of a study are batched together. */
  studyRef: string;
  receivedAt: number;
}

/** What to do with one spooled instance for one destination: the typed payload of a queue item. */
export interface ForwardJob {
  rule: string;
  destination: string;
  deidentify: { profile: 'basic'; options: readonly ProfileOption[] };
  pixels: PixelMethod;
  /** Hash of the rule set that selected the instance, recorded with the de-identification. */
  ruleSetHash: string;
}

export interface QueueItem {
  id: number;
  spoolId: string;
  instanceRef: string;
  studyRef: string;
  job: ForwardJob;
  state: ItemState;
  /** Failed attempts attributed to this instance; the retry policy quarantines at its limit. */
  attempts: number;
  /** Attempts deferred because the destination was unavailable (outage, 401/403); never quarantine by themselves. */
  deferrals: number;
  nextAttemptAt: number;
  lastError?: string;
  quarantineReason?: string;
  /** The de-identified SOP Instance UID (a pseudonym), once de-identification ran. */
  deidSopInstanceUID?: string;
  createdAt: number;
  updatedAt: number;
  deliveredAt?: number;
}

/** How one claimed item ended. `deidSopInstanceUID` and `record` are PHI-free by construction. */
export type ItemOutcome =
  | { kind: 'delivered'; deidSopInstanceUID?: string; warning?: string; record?: unknown }
  /** Try again at nextAttemptAt; `counts` says whether the failure is the instance's (towards the limit). */
  | { kind: 'retry'; nextAttemptAt: number; error: string; counts: boolean; deidSopInstanceUID?: string }
  /** `counts`: the failure that led here was the instance's own (its attempt is counted, e.g. at the retry limit). */
  | { kind: 'quarantined'; reason: string; counts?: boolean; deidSopInstanceUID?: string; record?: unknown };

export interface ClaimRequest {
  /** Who claims (node id + worker); leases are released by owner after a restart. */
  owner: string;
  now: number;
  leaseMs: number;
  maxItems: number;
}

export type DestinationHealth = 'ok' | 'unreachable' | 'unauthorized' | 'failing';

export interface DestinationState {
  name: string;
  health: DestinationHealth;
  /** Since when the destination has been in this health. */
  since: number;
  lastError?: string;
  lastSuccessAt?: number;
  /** While in the future, no batch is sent to this destination (backoff after an outage). */
  pausedUntil?: number;
  consecutiveFailures: number;
}

export interface QueueCount {
  destination: string;
  state: ItemState;
  count: number;
}

export interface QuarantinePage {
  total: number;
  items: QueueItem[];
}

export type ExportRunState = 'running' | 'complete' | 'incomplete' | 'failed' | 'interrupted';
export type ExportTrigger = 'schedule' | 'catch-up' | 'resume' | 'manual';

/** One run of an export job. `progress` and `report` are PHI-free counts (src/gateway/exports/export-report.ts). */
export interface ExportRun {
  id: number;
  job: string;
  owner: string;
  state: ExportRunState;
  trigger: ExportTrigger;
  /** The study dates it selects, inclusive, YYYYMMDD. */
  window: { from: string; to: string };
  dryRun: boolean;
  startedAt: number;
  endedAt?: number;
  progress?: unknown;
  report?: unknown;
}

export interface BeginExportRun {
  job: string;
  owner: string;
  now: number;
  leaseMs: number;
  trigger: ExportTrigger;
  window: { from: string; to: string };
  dryRun: boolean;
}

export interface GatewayStore {
  /**
   * Index a spooled instance and queue its jobs, atomically and durably, before the caller acknowledges it.
   * The jobs are due at `dueAt` (default `now`): a short delay lets the rest of a study arrive and go in one batch.
   * The ledger: a job whose (instance, destination, rule) already has an item, whatever its state and however the
   * instance came, is not queued again. Returns the new items' ids; when there are none, nothing was recorded
   * (not even the spool entry) and the caller deletes its spool file.
   */
  enqueue(entry: SpoolEntry, jobs: readonly ForwardJob[], now: number, dueAt?: number, exportRun?: number): Promise<number[]>;

  /** The (destination, rule) pairs the ledger holds for this instance, in any state. */
  ledgerEntries(instanceRef: string): Promise<Array<Pick<ForwardJob, 'destination' | 'rule'>>>;

  /**
   * Lease the next batch: due items of one destination and one study, oldest first. An item that already
   * failed on its own account is claimed alone, so that one bad instance cannot hold back a study.
   * Items of destinations paused until after `now` are not claimed. Expired leases are claimable.
   */
  claimBatch(request: ClaimRequest): Promise<QueueItem[]>;

  /** Record how claimed items ended; an item whose lease `owner` no longer holds is left alone. */
  settle(owner: string, results: ReadonlyArray<{ itemId: number; outcome: ItemOutcome }>, now: number): Promise<void>;

  /** Return this owner's leased items to pending (a restarted node reclaims its own work at once). */
  releaseLeases(ownerPrefix: string, now: number): Promise<number>;

  getItem(id: number): Promise<QueueItem | undefined>;
  getSpoolEntry(id: string): Promise<SpoolEntry | undefined>;
  /** Which of these spool ids the index knows (to find files a crash left unindexed). */
  knownSpoolIds(ids: readonly string[]): Promise<Set<string>>;
  /** Spool entries whose items are all delivered or discarded: their files may be deleted. */
  finishedSpoolEntries(limit: number): Promise<SpoolEntry[]>;
  /** Drop a spool entry from the index, after its file was deleted. */
  forgetSpoolEntry(id: string): Promise<void>;

  listQuarantine(page: { limit: number; offset: number; destination?: string }): Promise<QuarantinePage>;
  /** Quarantined -> pending, attempts reset. Returns the item, or undefined when it is not quarantined. */
  requeue(id: number, now: number): Promise<QueueItem | undefined>;
  /** Quarantined -> discarded (never forwarded). Returns the item, or undefined when it is not quarantined. */
  discard(id: number, now: number): Promise<QueueItem | undefined>;

  queueCounts(): Promise<QueueCount[]>;
  /** Creation time of the oldest item still waiting (pending or in flight), per destination. */
  oldestWaiting(): Promise<Array<{ destination: string; since: number }>>;

  /**
   * Take the job's lease and open a run, atomically. Undefined when another owner holds a live lease (two gateways
   * never run one job at once). A run left 'running' under an expired lease is marked 'interrupted'.
   */
  beginExportRun(run: BeginExportRun): Promise<ExportRun | undefined>;
  /** Extend the lease and record progress; false when the lease is no longer this owner's (stop the run). */
  heartbeatExportRun(id: number, owner: string, now: number, leaseMs: number, progress: unknown): Promise<boolean>;
  /** Close a run with its final state and report, and free the job's lease. */
  endExportRun(id: number, owner: string, state: Exclude<ExportRunState, 'running'>, report: unknown, now: number): Promise<void>;
  /** Mark the runs of a restarted owner interrupted and free their leases at once. */
  releaseExportLeases(ownerPrefix: string, now: number): Promise<number>;
  getExportRun(id: number): Promise<ExportRun | undefined>;
  /** Newest first. */
  listExportRuns(filter: { job?: string; limit: number }): Promise<ExportRun[]>;
  /** The items a run queued, oldest first. */
  exportRunItems(id: number): Promise<QueueItem[]>;
  /**
   * Delivered -> pending (the destination does not have it after all: reconciliation). The delivered item's spool
   * file is usually gone by then: `replacement` indexes the instance spooled again and the item points to it.
   */
  requeueDelivered(id: number, now: number, replacement?: SpoolEntry): Promise<QueueItem | undefined>;

  getDestinationStates(): Promise<DestinationState[]>;
  putDestinationState(state: DestinationState): Promise<void>;

  close(): Promise<void>;
}
