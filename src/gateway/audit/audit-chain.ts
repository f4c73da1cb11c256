import { createHash } from 'node:crypto';
import type { AuditDetailValue, AuditEvent } from './audit-event.js';

/**
 * The hash chain of the audit trail: each row stores sha256(hash of the row before + "\n" + the row in canonical
 * form), the first row chains from GENESIS. Changing, reordering or removing a row changes every hash after it,
 * so an edit of the file made without recomputing the chain is found by verify; the exported copies (each
 * syslog message carries its row's hash) find one that recomputed it.
 */

export const GENESIS = '0'.repeat(64);

/** One stored row: the event with its sequence number, time (ms since the epoch) and chain hash. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  time: number;
  hash: string;
}

/** Detail as stored: JSON with the keys sorted, so the same detail always has the same text. */
export function canonicalDetail(detail: Readonly<Record<string, AuditDetailValue>> | undefined): string | null {
  if (!detail || Object.keys(detail).length === 0) return null;
  const sorted: Record<string, AuditDetailValue> = {};
  for (const key of Object.keys(detail).sort()) sorted[key] = detail[key]!;
  return JSON.stringify(sorted);
}

/** The columns of a row in a fixed order, as one JSON array; absent values are null. */
export function canonicalRow(seq: number, time: number, e: AuditEvent, detailText: string | null): string {
  return JSON.stringify([
    seq,
    time,
    e.type,
    e.outcome,
    e.actor ?? null,
    e.credential ?? null,
    e.address ?? null,
    e.method ?? null,
    e.route ?? null,
    e.status ?? null,
    e.level ?? null,
    e.studyUid ?? null,
    detailText,
  ]);
}

export function chainHash(previous: string, canonical: string): string {
  return createHash('sha256').update(previous).update('\n').update(canonical).digest('hex');
}
