/**
 * What one audit event costs the event loop: AuditTrail.record() in WAL mode with synchronous NORMAL (the
 * gateway's setting) beside synchronous FULL (an fsync per event), on this machine's disk. Medians of 5 runs.
 *   npm run bench:audit
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../src/gateway/audit/audit-event.js';
import { AuditTrail } from '../src/gateway/audit/audit-trail.js';

const EVENT: AuditEvent = {
  type: 'clinical-query',
  outcome: 'success',
  actor: 'viewer',
  credential: 'api-token',
  address: '127.0.0.1',
  method: 'GET',
  route: '/dicom-web',
  status: 200,
  level: 'studies',
  detail: { queryKeys: 'PatientID,StudyDate' },
};

function measure(synchronous: 'NORMAL' | 'FULL', events: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'anofair-audit-bench-'));
  const path = join(dir, 'audit.sqlite');
  const trail = new AuditTrail(path);
  // the same connection's setting, changed for the comparison only
  (trail as unknown as { db: Database.Database }).db.pragma(`synchronous = ${synchronous}`);
  for (let i = 0; i < 100; i++) trail.record(EVENT);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < events; i++) trail.record(EVENT);
    runs.push(((performance.now() - t0) / events) * 1000);
  }
  trail.close();
  rmSync(dir, { recursive: true, force: true });
  return runs.sort((a, b) => a - b)[2]!;
}

const normal = measure('NORMAL', 2000);
const full = measure('FULL', 500);
process.stdout.write(`audit record(), µs per event (median of 5): synchronous NORMAL ${normal.toFixed(0)}, FULL ${full.toFixed(0)}; FULL/NORMAL ${(full / normal).toFixed(1)}x\n`);
