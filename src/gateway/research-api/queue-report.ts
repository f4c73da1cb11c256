import { ITEM_STATES, type GatewayStore, type ItemState, type QueueItem } from '../store/gateway-store.js';

export type StateCounts = Record<ItemState, number>;

export interface DestinationReport {
  name: string;
  health: 'ok' | 'unreachable' | 'unauthorized' | 'failing' | 'unknown';
  since?: string;
  lastError?: string;
  lastSuccessAt?: string;
  /** While set, the destination is paused (backoff) and is next tried at this time. */
  retryAt?: string;
  counts: StateCounts;
  /** Creation time of the oldest item still waiting. */
  oldestWaitingSince?: string;
  /** Items settled (delivered or discarded) out of all items queued for this destination. */
  progress: { done: number; total: number; fraction: number };
}

export interface QueueReport {
  destinations: DestinationReport[];
  totals: StateCounts;
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

function zero(): StateCounts {
  return Object.fromEntries(ITEM_STATES.map((s) => [s, 0])) as StateCounts;
}

/** Counts per state and destination, destination health and progress: GET /api/queue. */
export async function queueReport(store: GatewayStore, configured: readonly string[]): Promise<QueueReport> {
  const [counts, states, oldest] = await Promise.all([store.queueCounts(), store.getDestinationStates(), store.oldestWaiting()]);
  const names = [...new Set([...configured, ...counts.map((c) => c.destination)])].sort();
  const totals = zero();
  const now = Date.now();
  const destinations = names.map((name): DestinationReport => {
    const c = zero();
    for (const row of counts) if (row.destination === name) c[row.state] = row.count;
    for (const s of ITEM_STATES) totals[s] += c[s];
    const state = states.find((s) => s.name === name);
    const total = ITEM_STATES.reduce((sum, s) => sum + c[s], 0);
    const done = c.delivered + c.discarded;
    return {
      name,
      health: state?.health ?? 'unknown',
      since: iso(state?.since),
      lastError: state?.health === 'ok' ? undefined : state?.lastError,
      lastSuccessAt: iso(state?.lastSuccessAt),
      retryAt: state?.pausedUntil !== undefined && state.pausedUntil > now ? iso(state.pausedUntil) : undefined,
      counts: c,
      oldestWaitingSince: iso(oldest.find((o) => o.destination === name)?.since),
      progress: { done, total, fraction: total === 0 ? 1 : done / total },
    };
  });
  return { destinations, totals };
}

/** A quarantined item as the API shows it: internal and pseudonymous ids only, never an original UID. */
export interface QuarantineView {
  id: number;
  destination: string;
  rule: string;
  reason: string;
  quarantinedAt: string;
  attempts: number;
  /** The de-identified SOP Instance UID when de-identification got that far (a keyed pseudonym). */
  deidSopInstanceUID?: string;
  /** Keyed pseudonyms of the original SOP and Study Instance UIDs (not reversible without the key). */
  instanceRef: string;
  studyRef: string;
  lastError?: string;
}

export function quarantineView(item: QueueItem): QuarantineView {
  return {
    id: item.id,
    destination: item.job.destination,
    rule: item.job.rule,
    reason: item.quarantineReason ?? '',
    quarantinedAt: new Date(item.updatedAt).toISOString(),
    attempts: item.attempts,
    deidSopInstanceUID: item.deidSopInstanceUID,
    instanceRef: item.instanceRef,
    studyRef: item.studyRef,
    lastError: item.lastError,
  };
}

export function itemView(item: QueueItem): { id: number; destination: string; rule: string; state: ItemState } {
  return { id: item.id, destination: item.job.destination, rule: item.job.rule, state: item.state };
}
