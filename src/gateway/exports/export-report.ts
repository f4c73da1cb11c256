import type { ExportRunState } from '../store/gateway-store.js';

/** What a run shows while it runs (PHI-free counts; the store keeps the latest with each heartbeat). */
export interface ExportProgress {
  phase: 'searching' | 'retrieving' | 'paused' | 'settling' | 'reconciling';
  studies: { found: number; done: number };
  instances: ExportInstanceCounts;
  bytes: number;
  /** While paused outside the job's hours: when it goes on. */
  pausedUntil?: number;
  /** Estimated milliseconds to the end of the retrieve phase, once there is a rate to go by. */
  etaMs?: number;
}

export interface ExportInstanceCounts {
  /** Instances the PACS listed for the selected studies. */
  found: number;
  /** Skipped without a retrieve: the ledger has them for every destination already. */
  alreadyDelivered: number;
  retrieved: number;
  /** Queued for at least one destination by this run. */
  queued: number;
  /** Retrieved, and no rule of the job routes them (or the ledger had them after all). */
  notQueued: number;
  /** The PACS did not give them, or they could not be read; they are retried by the next run. */
  failed: number;
}

/** The end of a run: kept in the store, shown by `anofair export history` and the API. PHI-free by construction. */
export interface ExportReport {
  state: Exclude<ExportRunState, 'running'>;
  window: { from: string; to: string };
  dryRun: boolean;
  durationMs: number;
  studies: number;
  instances: ExportInstanceCounts;
  bytes: number;
  /** Where this run's queued instances stand when it reports. */
  outcome: { delivered: number; quarantined: number; waiting: number; discarded: number; quarantineReasons: Record<string, number> };
  reconciliation?: { checked: number; confirmed: number; missing: number; requeued: number; unchecked: number };
  /** Why the run is not 'complete': PHI-free sentences (codes, counts, HTTP statuses). */
  problems: string[];
}

export function emptyCounts(): ExportInstanceCounts {
  return { found: 0, alreadyDelivered: 0, retrieved: 0, queued: 0, notQueued: 0, failed: 0 };
}
