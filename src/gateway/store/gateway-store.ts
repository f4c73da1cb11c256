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

export type IngestMode = 'tap' | 'deid-only';

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

export interface GatewayStore {
  /**
   * Index a spooled instance and queue its jobs, atomically and durably, before the caller acknowledges it.
   * The jobs are due at `dueAt` (default `now`): a short delay lets the rest of a study arrive and go in one batch.
   */
  enqueue(entry: SpoolEntry, jobs: readonly ForwardJob[], now: number, dueAt?: number): Promise<number[]>;

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

  getDestinationStates(): Promise<DestinationState[]>;
  putDestinationState(state: DestinationState): Promise<void>;

  close(): Promise<void>;
}
