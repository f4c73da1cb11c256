import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { createLogger } from '../../observability/logger.js';
import { canonicalRow, chainHash } from './audit-chain.js';
import type { AuditEvent } from './audit-event.js';
import { AUDIT_FILE, AuditTrail } from './audit-trail.js';
import { REFUSED } from './audit-values.js';

const work = mkdtempSync(join(tmpdir(), 'anofair-audit-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(work, `t${++n}`, AUDIT_FILE);

async function failures(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('anofair_audit_failures_total')!.get();
  return Object.fromEntries(metric.values.filter((v) => v.value > 0).map((v) => [String(v.labels.reason), v.value]));
}

function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

const query = (seq: number): AuditEvent => ({ type: 'clinical-query', outcome: 'success', actor: 'ct-export', credential: 'api-token', address: '127.0.0.1', method: 'GET', route: '/dicom-web', status: 200, level: 'studies', detail: { queryKeys: `PatientID,StudyDate`, n: seq } });

/** Seven events, one per second from t0, of several types, actors and outcomes. */
function filled(path: string, t0 = 1_700_000_000_000): AuditTrail {
  let t = t0;
  const trail = new AuditTrail(path, { now: () => (t += 1_000) });
  trail.record(query(1));
  trail.record({ type: 'auth-failure', outcome: 'failure', credential: 'none', address: '10.0.0.7', method: 'GET', route: '/dicom-web', status: 401, detail: { reason: 'unknown' } });
  trail.record({ ...query(2), actor: 'viewer' });
  trail.record({ type: 'forward', outcome: 'success', actor: 'gateway', credential: 'system', detail: { destination: 'research', instances: 3, rule: 'chest-radiographs', keyId: 'sha256:0011223344556677' } });
  trail.record({ type: 'quarantine', outcome: 'failure', actor: 'gateway', credential: 'system', detail: { item: 12, destination: 'research', reason: 'deidentification' } });
  trail.record({ type: 'clinical-retrieve', outcome: 'success', actor: 'viewer', credential: 'oidc', address: '::1', method: 'GET', route: '/dicom-web', status: 200, level: 'studies/metadata', studyUid: '1.2.826.0.1.3680043.8.498.1' });
  trail.record({ type: 'auth-failure', outcome: 'failure', credential: 'none', address: '10.0.0.7', method: 'GET', route: '/api', status: 401, detail: { reason: 'expired' } });
  return trail;
}

describe('the audit trail (audit.sqlite)', () => {
  it('is a WAL file with synchronous NORMAL (no fsync per event on the event loop) and gives back what was recorded, in order', () => {
    const trail = filled(freshPath());
    try {
      assert.deepEqual(trail.durability(), { journalMode: 'wal', synchronous: 1 });
      const rows = trail.query({ limit: 100 });
      assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7]);
      const { seq, time, hash, ...event } = rows[0]!;
      assert.equal(seq, 1);
      assert.equal(time, 1_700_000_001_000);
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.deepEqual(event, query(1));
      assert.deepEqual(rows[5]!.studyUid, '1.2.826.0.1.3680043.8.498.1');
      assert.deepEqual(trail.head(), { seq: 7, hash: rows[6]!.hash });
    } finally {
      trail.close();
    }
  });

  it('filters by time, type, actor and outcome, pages after a sequence number, and takes the newest', () => {
    const trail = filled(freshPath(), 0);
    try {
      const seqs = (q: Parameters<AuditTrail['query']>[0]) => trail.query(q).map((r) => r.seq);
      assert.deepEqual(seqs({ since: 3_000, until: 6_000 }), [3, 4, 5]);
      assert.deepEqual(seqs({ types: ['auth-failure'] }), [2, 7]);
      assert.deepEqual(seqs({ types: ['forward', 'quarantine'] }), [4, 5]);
      assert.deepEqual(seqs({ actor: 'viewer' }), [3, 6]);
      assert.deepEqual(seqs({ outcome: 'failure' }), [2, 5, 7]);
      assert.deepEqual(seqs({ afterSeq: 5 }), [6, 7]);
      assert.deepEqual(seqs({ limit: 2 }), [1, 2]);
      assert.deepEqual(seqs({ limit: 2, newest: true }), [6, 7], 'the newest two, oldest first');
      assert.deepEqual(seqs({ types: ['clinical-query'], actor: 'ct-export', outcome: 'success', since: 0 }), [1]);
    } finally {
      trail.close();
    }
  });

  it('refuses UPDATE and DELETE of a row, from any connection that has not dropped its triggers', () => {
    const path = freshPath();
    filled(path).close();
    const db = new Database(path);
    try {
      assert.throws(() => db.prepare("UPDATE events SET actor = 'someone-else' WHERE seq = 1").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM events WHERE seq = 2').run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM events').run(), /append-only/);
      assert.equal((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 7);
    } finally {
      db.close();
    }
    const trail = new AuditTrail(path);
    assert.deepEqual(trail.verify(), { ok: true, count: 7, lastSeq: 7, appendOnly: true });
    trail.close();
  });

  describe('verify finds an edit made to the file outside the gateway', () => {
    /** Open the file as an attacker would, drop the triggers, do `edit`, and verify. */
    function tampered(edit: (db: Database.Database) => void, keepTriggersDropped = true) {
      const path = freshPath();
      filled(path).close();
      const db = new Database(path);
      db.exec('DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;');
      edit(db);
      if (!keepTriggersDropped) {
        db.exec(`CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
                 CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;`);
      }
      db.close();
      const trail = new AuditTrail(path, { readonly: true });
      try {
        return trail.verify();
      } finally {
        trail.close();
      }
    }

    it('a changed value in a row: broken at that row, even with the triggers put back', () => {
      const result = tampered((db) => db.prepare("UPDATE events SET actor = 'nobody' WHERE seq = 3").run(), false);
      assert.equal(result.ok, false);
      assert.equal(result.appendOnly, true);
      assert.deepEqual(result.broken, { seq: 3, problem: 'the row is not what was recorded (its hash does not match the chain)' });
    });

    it('a changed detail, time or outcome: broken at that row', () => {
      assert.equal(tampered((db) => db.prepare(`UPDATE events SET detail = '{"destination":"elsewhere","instances":3}' WHERE seq = 4`).run()).broken?.seq, 4);
      assert.equal(tampered((db) => db.prepare('UPDATE events SET time = time - 86400000 WHERE seq = 6').run()).broken?.seq, 6);
      assert.equal(tampered((db) => db.prepare("UPDATE events SET outcome = 'success' WHERE seq = 2").run()).broken?.seq, 2);
    });

    it('a row removed from the middle: broken at its sequence number', () => {
      const result = tampered((db) => db.prepare('DELETE FROM events WHERE seq = 5').run());
      assert.deepEqual(result.broken, { seq: 5, problem: 'rows 5 to 5 are missing' });
      assert.equal(result.appendOnly, false);
    });

    it('rows removed from the end: found by the trail\'s own counter', () => {
      const result = tampered((db) => db.prepare('DELETE FROM events WHERE seq >= 6').run(), false);
      assert.deepEqual(result.broken, { seq: 6, problem: 'rows 6 to 7 are missing (removed from the end)' });
    });

    it('a row edited with its own hash recomputed: the row after it breaks', () => {
      const result = tampered((db) => {
        const rows = db.prepare('SELECT * FROM events WHERE seq IN (2, 3) ORDER BY seq').all() as Array<{ time: number; detail: string | null; hash: string }>;
        const edited = { ...query(2), actor: 'nobody' };
        const hash = chainHash(rows[0]!.hash, canonicalRow(3, rows[1]!.time, edited, rows[1]!.detail));
        db.prepare("UPDATE events SET actor = 'nobody', hash = ? WHERE seq = 3").run(hash);
      });
      assert.deepEqual(result.broken, { seq: 4, problem: 'the row is not what was recorded (its hash does not match the chain)' });
    });

    it('triggers dropped and nothing else: not ok, the chain itself intact', () => {
      const result = tampered(() => undefined);
      assert.equal(result.ok, false);
      assert.equal(result.appendOnly, false);
      assert.equal(result.broken, undefined);
    });

    it('the chain goes on across a restart and after a tampered tail, new rows do not hide the gap', () => {
      const path = freshPath();
      filled(path).close();
      const reopened = new AuditTrail(path);
      reopened.record(query(3));
      assert.deepEqual(reopened.verify(), { ok: true, count: 8, lastSeq: 8, appendOnly: true });
      reopened.close();
      const db = new Database(path);
      db.exec('DROP TRIGGER events_no_delete');
      db.prepare('DELETE FROM events WHERE seq = 8').run();
      db.close();
      const after = new AuditTrail(path);
      after.record(query(4));
      assert.equal(after.query({ newest: true, limit: 1 })[0]!.seq, 9, 'a removed number is never reused');
      assert.equal(after.verify().broken?.seq, 8);
      after.close();
    });
  });

  describe('record() is the audit sink of the request path', () => {
    it('replaces a value that could be free text by a marker, counts it and logs the field name only', async () => {
      const registry = new Registry();
      const { logger, lines } = capturedLogger();
      const trail = new AuditTrail(freshPath(), { registry, logger });
      try {
        trail.record({
          type: 'clinical-query',
          outcome: 'success',
          actor: 'Lefèvre^Hélène',
          address: '127.0.0.1',
          detail: { queryKeys: 'PatientName', name: 'Doe^Jane', long: 'x'.repeat(129), newline: 'a\nb', quote: 'say "hi"', ok: 'chest-radiographs', count: 3, flag: true, nan: Number.NaN },
        });
        const [row] = trail.query();
        assert.equal(row!.actor, REFUSED);
        assert.deepEqual(row!.detail, {
          queryKeys: 'PatientName',
          name: REFUSED,
          long: REFUSED,
          newline: REFUSED,
          quote: REFUSED,
          ok: 'chest-radiographs',
          count: 3,
          flag: true,
          nan: REFUSED,
          refused: 'actor,detail.name,detail.long,detail.newline,detail.quote,detail.nan',
        });
        assert.deepEqual(await failures(registry), { 'refused-value': 1 });
        const text = lines.join('\n');
        assert.match(text, /values that do not look like identifiers/);
        for (const value of ['Hélène', 'Lef', 'Doe', 'Jane', 'xxxxxxxx', 'say']) assert.ok(!text.includes(value), `the log holds "${value}"`);
        assert.equal(trail.verify().ok, true);
      } finally {
        trail.close();
      }
    });

    it('keeps an impossible status, credential or study UID out, and bad detail keys, too many entries', () => {
      const trail = new AuditTrail(freshPath());
      try {
        const detail: Record<string, number> = { 'bad key': 1, ['k'.repeat(65)]: 2 };
        for (let i = 0; i < 40; i++) detail[`k${i}`] = i;
        trail.record({ type: 'clinical-retrieve', outcome: 'success', status: 99999, credential: 'password' as never, studyUid: '1.2.3.Doe', detail });
        const [row] = trail.query();
        assert.equal(row!.status, undefined);
        assert.equal(row!.credential, undefined);
        assert.equal(row!.studyUid, '(not a UID)');
        assert.equal(Object.keys(row!.detail!).length, 31, 'at most 32 entries looked at, two keys refused, plus the marker');
        assert.match(String(row!.detail!.refused), /^credential,status,studyUid,detail \(10 entries past 32\),detail key,detail key$/);
      } finally {
        trail.close();
      }
    });

    it('never throws into the caller: a closed trail or an unknown type is logged and counted', async () => {
      const registry = new Registry();
      const { logger, lines } = capturedLogger();
      const trail = new AuditTrail(freshPath(), { registry, logger });
      trail.record({ type: 'no-such-type' as never, outcome: 'success' });
      trail.close();
      assert.doesNotThrow(() => trail.record(query(1)));
      assert.deepEqual(await failures(registry), { 'invalid-event': 1, write: 1 });
      assert.equal(lines.filter((l) => l.includes('"level":50')).length, 2);
      const reader = new AuditTrail(trail.path, { readonly: true });
      assert.doesNotThrow(() => reader.record(query(1)), 'a read-only trail counts, it does not throw');
      assert.deepEqual(reader.query(), []);
      reader.close();
    });

    it('tells its listeners (the export) after each recorded event', () => {
      const trail = new AuditTrail(freshPath());
      let calls = 0;
      const off = trail.onRecord(() => {
        calls++;
        throw new Error('a listener failing has no say');
      });
      trail.record(query(1));
      off();
      trail.record(query(2));
      assert.equal(calls, 1);
      assert.equal(trail.head().seq, 2);
      trail.close();
    });

    it('opens read-only for the CLI: a missing file is an IO error, not a new trail', () => {
      assert.throws(() => new AuditTrail(join(work, 'none', AUDIT_FILE), { readonly: true }), (err: Error & { code?: string }) => err.code === 'IO');
    });
  });
});
