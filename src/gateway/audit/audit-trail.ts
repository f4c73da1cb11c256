import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { applyMigrations } from '../store/sqlite-migrations.js';
import { Counter, type Registry } from 'prom-client';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import { canonicalDetail, canonicalRow, chainHash, GENESIS, type AuditRecord } from './audit-chain.js';
import type { AuditCredential, AuditDetailValue, AuditEvent, AuditEventType, AuditOutcome, AuditSink } from './audit-event.js';
import { checkEvent } from './audit-values.js';

/** The trail's file in the gateway's data folder. */
export const AUDIT_FILE = 'audit.sqlite';

const APPEND_ONLY = 'the audit trail is append-only';

/**
 * One table of events, append-only by construction: triggers abort every UPDATE and DELETE of a row, so the
 * gateway's own code cannot change history, and an edit made outside it (which must drop the triggers first)
 * breaks the hash chain that verify() walks. The export cursors are the only mutable state.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     time INTEGER NOT NULL,
     type TEXT NOT NULL,
     outcome TEXT NOT NULL,
     actor TEXT,
     credential TEXT,
     address TEXT,
     method TEXT,
     route TEXT,
     status INTEGER,
     level TEXT,
     study_uid TEXT,
     detail TEXT,
     hash TEXT NOT NULL
   );
   CREATE INDEX events_time ON events (time);
   CREATE INDEX events_type_time ON events (type, time);
   CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, '${APPEND_ONLY}'); END;
   CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, '${APPEND_ONLY}'); END;
   CREATE TABLE export_cursors (target TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at INTEGER NOT NULL);`,
];
const TRIGGERS = ['events_no_update', 'events_no_delete'];

interface EventRow {
  seq: number;
  time: number;
  type: string;
  outcome: string;
  actor: string | null;
  credential: string | null;
  address: string | null;
  method: string | null;
  route: string | null;
  status: number | null;
  level: string | null;
  study_uid: string | null;
  detail: string | null;
  hash: string;
}

function eventOf(r: EventRow): AuditEvent {
  const e: AuditEvent = { type: r.type as AuditEventType, outcome: r.outcome as AuditOutcome };
  if (r.actor !== null) e.actor = r.actor;
  if (r.credential !== null) e.credential = r.credential as AuditCredential;
  if (r.address !== null) e.address = r.address;
  if (r.method !== null) e.method = r.method;
  if (r.route !== null) e.route = r.route;
  if (r.status !== null) e.status = r.status;
  if (r.level !== null) e.level = r.level;
  if (r.study_uid !== null) e.studyUid = r.study_uid;
  if (r.detail !== null) e.detail = JSON.parse(r.detail) as Record<string, AuditDetailValue>;
  return e;
}

const recordOf = (r: EventRow): AuditRecord => ({ seq: r.seq, time: r.time, ...eventOf(r), hash: r.hash });

export interface AuditQuery {
  /** From this time on (ms since the epoch, inclusive). */
  since?: number;
  /** Before this time (exclusive). */
  until?: number;
  types?: readonly AuditEventType[];
  actor?: string;
  outcome?: AuditOutcome;
  /** Only rows after this sequence number. */
  afterSeq?: number;
  /** At most this many rows (default 100, at most 100 000). */
  limit?: number;
  /** Take the newest rows that match (still returned oldest first); default: the oldest. */
  newest?: boolean;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows read. */
  count: number;
  /** The last row of the unbroken part of the chain (all rows when it is intact). */
  lastSeq: number;
  /** The first row where the chain is broken, and how. */
  broken?: { seq: number; problem: string };
  /** Whether the triggers that refuse UPDATE and DELETE are in place. */
  appendOnly: boolean;
}

export interface AuditTrailOptions {
  /** Where anofair_audit_failures_total is counted (the gateway's registry). */
  registry?: Registry;
  logger?: Logger;
  /** Open an existing trail for reading only (the CLI): nothing is created or written. */
  readonly?: boolean;
  now?: () => number;
}

/**
 * The gateway's audit trail: one SQLite file (<data>/audit.sqlite) in WAL mode with synchronous=NORMAL. An
 * event record() returned from survives a crash of the gateway at once, and a power loss from the next WAL
 * checkpoint on; an fsync per event (FULL, about 0.5 ms) would stall the event loop that relays clinical
 * traffic on every query. The syslog export is the second copy. record() is synchronous and never throws into its caller: a
 * failure is logged and counted (anofair_audit_failures_total), and a value that does not look like an
 * identifier, a count or a name is refused, counted and recorded as a marker (audit-values.ts).
 */
export class AuditTrail implements AuditSink {
  private readonly db: Database.Database;
  private readonly failures?: Counter<'reason'>;
  private readonly listeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly stmts: {
    head: Database.Statement;
    sequence: Database.Statement;
    insert?: Database.Statement;
    after: Database.Statement;
    cursor: Database.Statement;
    setCursor?: Database.Statement;
  };
  private readonly append?: (e: AuditEvent) => void;

  constructor(
    readonly path: string,
    private readonly o: AuditTrailOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    try {
      if (o.readonly) {
        if (!existsSync(path)) throw new Error('no such file');
        this.db = new Database(path, { readonly: true, fileMustExist: true });
      } else {
        mkdirSync(dirname(path), { recursive: true });
        this.db = new Database(path);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.db.pragma('busy_timeout = 10000');
        this.migrate();
      }
      this.stmts = {
        head: this.db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1'),
        sequence: this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
        after: this.db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?'),
        cursor: this.db.prepare('SELECT seq FROM export_cursors WHERE target = ?'),
      };
      if (!o.readonly) {
        this.stmts.insert = this.db.prepare(
          `INSERT INTO events (seq, time, type, outcome, actor, credential, address, method, route, status, level, study_uid, detail, hash)
           VALUES (@seq, @time, @type, @outcome, @actor, @credential, @address, @method, @route, @status, @level, @studyUid, @detail, @hash)`,
        );
        this.stmts.setCursor = this.db.prepare(
          'INSERT INTO export_cursors (target, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (target) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at',
        );
        this.append = this.db.transaction((e: AuditEvent) => this.insertRow(e)).immediate;
      }
    } catch (err) {
      throw new AnofairError('IO', `cannot open the audit trail ${path}: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (o.registry) {
      const name = 'anofair_audit_failures_total';
      this.failures =
        (o.registry.getSingleMetric(name) as Counter<'reason'> | undefined) ??
        new Counter({
          name,
          help: 'Audit events not recorded (write) or recorded with a value refused as not identifier-like (refused-value) or of no known type (invalid-event)',
          labelNames: ['reason'],
          registers: [o.registry],
        });
      // every reason shows from the start, at 0, so that an alert on an increase needs no earlier failure
      for (const reason of ['write', 'refused-value', 'invalid-event']) this.failures.inc({ reason }, 0);
    }
  }

  private migrate(): void {
    applyMigrations(this.db, MIGRATIONS, 'the audit trail');
  }


  /** The journal mode and synchronous level in force (for tests). */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
    };
  }

  private insertRow(e: AuditEvent): void {
    const head = this.stmts.head.get() as { seq: number; hash: string } | undefined;
    const sequence = this.stmts.sequence.get() as { seq: number } | undefined;
    // sqlite_sequence remembers removed rows at the end too: a new row never reuses their numbers
    const seq = Math.max(head?.seq ?? 0, sequence?.seq ?? 0) + 1;
    const time = this.now();
    const detail = canonicalDetail(e.detail);
    const hash = chainHash(head?.hash ?? GENESIS, canonicalRow(seq, time, e, detail));
    this.stmts.insert!.run({
      seq,
      time,
      type: e.type,
      outcome: e.outcome,
      actor: e.actor ?? null,
      credential: e.credential ?? null,
      address: e.address ?? null,
      method: e.method ?? null,
      route: e.route ?? null,
      status: e.status ?? null,
      level: e.level ?? null,
      studyUid: e.studyUid ?? null,
      detail,
      hash,
    });
  }

  record(input: AuditEvent): void {
    try {
      if (!this.append) throw new Error('the audit trail is open for reading only');
      const checked = checkEvent(input);
      if (!checked) {
        this.failures?.inc({ reason: 'invalid-event' });
        this.o.logger?.error('audit: an event of no known type was not recorded');
        return;
      }
      if (checked.refused.length > 0) {
        this.failures?.inc({ reason: 'refused-value' });
        // the field names only: the refused values are what must not be written anywhere
        this.o.logger?.warn({ type: checked.event.type, refused: checked.refused }, 'audit: values that do not look like identifiers, counts or names were refused; a marker is recorded instead');
      }
      this.append(checked.event);
    } catch (err) {
      this.failures?.inc({ reason: 'write' });
      this.o.logger?.error({ err: { name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message } }, 'audit: an event could not be recorded');
      return;
    }
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // a listener (the export's wake-up) has no say in whether the event was recorded
      }
    }
  }

  /** Called after each recorded event (the syslog export wakes up); returns the unsubscribe function. */
  onRecord(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The newest row's sequence number and hash; seq 0 for an empty trail. */
  head(): { seq: number; hash: string } {
    const row = this.stmts.head.get() as { seq: number; hash: string } | undefined;
    return row ?? { seq: 0, hash: GENESIS };
  }

  /** Rows after `seq`, oldest first (the export reads its batches with this). */
  after(seq: number, limit: number): AuditRecord[] {
    return (this.stmts.after.all(seq, limit) as EventRow[]).map(recordOf);
  }

  query(q: AuditQuery = {}): AuditRecord[] {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (q.since !== undefined) {
      where.push('time >= @since');
      params.since = q.since;
    }
    if (q.until !== undefined) {
      where.push('time < @until');
      params.until = q.until;
    }
    if (q.types && q.types.length > 0) {
      where.push(`type IN (${q.types.map((_, i) => `@type${i}`).join(', ')})`);
      q.types.forEach((t, i) => (params[`type${i}`] = t));
    }
    if (q.actor !== undefined) {
      where.push('actor = @actor');
      params.actor = q.actor;
    }
    if (q.outcome !== undefined) {
      where.push('outcome = @outcome');
      params.outcome = q.outcome;
    }
    if (q.afterSeq !== undefined) {
      where.push('seq > @afterSeq');
      params.afterSeq = q.afterSeq;
    }
    params.limit = Math.min(Math.max(q.limit ?? 100, 1), 100_000);
    const sql = `SELECT * FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.newest ? 'DESC' : 'ASC'} LIMIT @limit`;
    const rows = (this.db.prepare(sql).all(params) as EventRow[]).map(recordOf);
    return q.newest ? rows.reverse() : rows;
  }

  /**
   * Walk the whole chain: every row must follow the one before it (no sequence number missing, the trail's own
   * counter not past the last row) and hash to what it stores; the append-only triggers must be in place.
   */
  verify(): VerifyResult {
    let previous = GENESIS;
    let expected = 1;
    let count = 0;
    let broken: VerifyResult['broken'];
    for (const row of this.db.prepare('SELECT * FROM events ORDER BY seq').iterate() as Iterable<EventRow>) {
      count++;
      if (broken) continue;
      if (row.seq !== expected) {
        broken = { seq: expected, problem: row.seq > expected ? `rows ${expected} to ${row.seq - 1} are missing` : `seq ${row.seq} is out of order` };
        continue;
      }
      const hash = chainHash(previous, canonicalRow(row.seq, row.time, eventOf(row), row.detail));
      if (hash !== row.hash) {
        broken = { seq: row.seq, problem: 'the row is not what was recorded (its hash does not match the chain)' };
        continue;
      }
      previous = row.hash;
      expected = row.seq + 1;
    }
    const sequence = (this.stmts.sequence.get() as { seq: number } | undefined)?.seq ?? 0;
    if (!broken && sequence >= expected) broken = { seq: expected, problem: `rows ${expected} to ${sequence} are missing (removed from the end)` };
    const triggers = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'").all() as { name: string }[];
    const appendOnly = TRIGGERS.every((t) => triggers.some((r) => r.name === t));
    return { ok: !broken && appendOnly, count, lastSeq: expected - 1, ...(broken ? { broken } : {}), appendOnly };
  }

  /** The last sequence number an export target has taken (0: none yet). */
  cursor(target: string): number {
    return (this.stmts.cursor.get(target) as { seq: number } | undefined)?.seq ?? 0;
  }

  setCursor(target: string, seq: number): void {
    if (!this.stmts.setCursor) throw new AnofairError('IO', 'the audit trail is open for reading only');
    this.stmts.setCursor.run(target, seq, this.now());
  }

  close(): void {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }
}
