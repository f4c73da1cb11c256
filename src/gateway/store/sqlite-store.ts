import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { applyMigrations } from './sqlite-migrations.js';
import { AnofairError } from '../../errors/anofair-error.js';
import type {
  BeginExportRun,
  ClaimRequest,
  ExportRun,
  ExportRunState,
  DestinationState,
  ForwardJob,
  GatewayStore,
  ItemOutcome,
  ItemState,
  QuarantinePage,
  QueueCount,
  QueueItem,
  SpoolEntry,
} from './gateway-store.js';
import { MIGRATIONS } from './sqlite-schema.js';

interface ItemRow {
  id: number;
  spool_id: string;
  instance_ref: string;
  study_ref: string;
  destination: string;
  rule: string;
  job: string;
  state: ItemState;
  attempts: number;
  deferrals: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  quarantine_reason: string | null;
  deid_sop_uid: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
  export_run: number | null;
}

interface RunRow {
  id: number;
  job: string;
  owner: string;
  state: ExportRunState;
  trigger: ExportRun['trigger'];
  window_from: string;
  window_to: string;
  dry_run: number;
  started_at: number;
  ended_at: number | null;
  progress: string | null;
  report: string | null;
}

const toRun = (r: RunRow): ExportRun => ({
  id: r.id,
  job: r.job,
  owner: r.owner,
  state: r.state,
  trigger: r.trigger,
  window: { from: r.window_from, to: r.window_to },
  dryRun: r.dry_run === 1,
  startedAt: r.started_at,
  endedAt: r.ended_at ?? undefined,
  progress: r.progress === null ? undefined : (JSON.parse(r.progress) as unknown),
  report: r.report === null ? undefined : (JSON.parse(r.report) as unknown),
});

interface SpoolRow {
  id: string;
  size: number;
  sha256: string;
  mode: SpoolEntry['mode'];
  instance_ref: string;
  study_ref: string;
  received_at: number;
}

const toItem = (r: ItemRow): QueueItem => ({
  id: r.id,
  spoolId: r.spool_id,
  instanceRef: r.instance_ref,
  studyRef: r.study_ref,
  job: JSON.parse(r.job) as ForwardJob,
  state: r.state,
  attempts: r.attempts,
  deferrals: r.deferrals,
  nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error ?? undefined,
  quarantineReason: r.quarantine_reason ?? undefined,
  deidSopInstanceUID: r.deid_sop_uid ?? undefined,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  deliveredAt: r.delivered_at ?? undefined,
});

const toSpool = (r: SpoolRow): SpoolEntry => ({
  id: r.id,
  size: r.size,
  sha256: r.sha256,
  mode: r.mode,
  instanceRef: r.instance_ref,
  studyRef: r.study_ref,
  receivedAt: r.received_at,
});

/** A LIKE pattern matching text that starts with `prefix` literally (with ESCAPE '\\'). */
const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const DUE = `((state = 'pending' AND next_attempt_at <= @now) OR (state = 'in-flight' AND lease_until < @now))
  AND destination NOT IN (SELECT name FROM destinations WHERE paused_until > @now)`;

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a transaction that returned is on
 * disk (the WAL is fsynced at each commit) and survives a kill -9 or a power cut. One gateway process owns a
 * file; claims run in IMMEDIATE transactions, so two workers of that process never lease the same item.
 */
export class SqliteStore implements GatewayStore {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 10000');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      throw new AnofairError('IO', `cannot open the gateway store ${path}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  private migrate(): void {
    applyMigrations(this.db, MIGRATIONS, 'the store');
  }


  /** The journal mode and synchronous level in force (for tests and `status`). */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
    };
  }

  async enqueue(entry: SpoolEntry, jobs: readonly ForwardJob[], now: number, dueAt = now, exportRun?: number): Promise<number[]> {
    const insertSpool = this.db.prepare(
      `INSERT INTO spool_entries (id, size, sha256, mode, instance_ref, study_ref, received_at)
       VALUES (@id, @size, @sha256, @mode, @instanceRef, @studyRef, @receivedAt)`,
    );
    const insertItem = this.db.prepare(
      `INSERT INTO queue_items (spool_id, instance_ref, study_ref, destination, rule, job, state, next_attempt_at, created_at, updated_at, export_run)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
    );
    return this.db
      .transaction(() => {
        const fresh = jobs.filter((job, i) => !this.ledgerHit(entry.instanceRef, job) && jobs.findIndex((j) => j.destination === job.destination && j.rule === job.rule) === i);
        if (fresh.length === 0) return [];
        insertSpool.run(entry);
        return fresh.map(
          (job) =>
            Number(
              insertItem.run(entry.id, entry.instanceRef, entry.studyRef, job.destination, job.rule, JSON.stringify(job), dueAt, now, now, exportRun ?? null).lastInsertRowid,
            ),
        );
      })
      .immediate();
  }

  private ledgerStatement?: Database.Statement;

  /** On the tap's enqueue path: the statement is prepared once. */
  private ledgerHit(instanceRef: string, job: Pick<ForwardJob, 'destination' | 'rule'>): boolean {
    this.ledgerStatement ??= this.db.prepare('SELECT 1 FROM queue_items WHERE instance_ref = ? AND destination = ? AND rule = ? LIMIT 1').pluck();
    return this.ledgerStatement.get(instanceRef, job.destination, job.rule) !== undefined;
  }

  async ledgerEntries(instanceRef: string): Promise<Array<Pick<ForwardJob, 'destination' | 'rule'>>> {
    return this.db.prepare('SELECT DISTINCT destination, rule FROM queue_items WHERE instance_ref = ? ORDER BY destination, rule').all(instanceRef) as Array<
      Pick<ForwardJob, 'destination' | 'rule'>
    >;
  }

  async claimBatch(request: ClaimRequest): Promise<QueueItem[]> {
    const { owner, now, leaseMs, maxItems } = request;
    const head = this.db.prepare(`SELECT id, destination, study_ref, attempts FROM queue_items WHERE ${DUE} ORDER BY next_attempt_at, id LIMIT 1`);
    // The rest of the head's study joins its batch even if still inside its gathering window (dueAt), unless an
    // item failed on its own account (it waits for its backoff and then goes alone).
    const sameStudy = this.db.prepare(
      `SELECT id FROM queue_items
       WHERE ((state = 'pending' AND attempts = 0) OR (state = 'in-flight' AND lease_until < @now AND attempts = 0))
         AND destination = @destination AND study_ref = @study
       ORDER BY id LIMIT @limit`,
    );
    const lease = this.db.prepare(
      `UPDATE queue_items SET state = 'in-flight', lease_owner = @owner, lease_until = @until, updated_at = @now WHERE id = @id RETURNING *`,
    );
    return this.db
      .transaction(() => {
        const first = head.get({ now }) as { id: number; destination: string; study_ref: string; attempts: number } | undefined;
        if (!first) return [];
        const ids =
          first.attempts > 0 || maxItems <= 1
            ? [first.id]
            : [first.id, ...(sameStudy.all({ now, destination: first.destination, study: first.study_ref, limit: maxItems }) as Array<{ id: number }>)
                .map((r) => r.id)
                .filter((id) => id !== first.id)].slice(0, maxItems);
        return ids.map((id) => toItem(lease.get({ owner, until: now + leaseMs, now, id }) as ItemRow));
      })
      .immediate();
  }

  async settle(owner: string, results: ReadonlyArray<{ itemId: number; outcome: ItemOutcome }>, now: number): Promise<void> {
    const held = `id = @id AND state = 'in-flight' AND lease_owner = @owner`;
    const delivered = this.db.prepare(
      `UPDATE queue_items SET state = 'delivered', lease_owner = NULL, lease_until = NULL, delivered_at = @now, updated_at = @now,
         deid_sop_uid = coalesce(@uid, deid_sop_uid), record = @record, last_error = @warning WHERE ${held}`,
    );
    const retry = this.db.prepare(
      `UPDATE queue_items SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = @now,
         attempts = attempts + @counts, deferrals = deferrals + (1 - @counts), next_attempt_at = @next, last_error = @error,
         deid_sop_uid = coalesce(@uid, deid_sop_uid) WHERE ${held}`,
    );
    const quarantined = this.db.prepare(
      `UPDATE queue_items SET state = 'quarantined', lease_owner = NULL, lease_until = NULL, updated_at = @now,
         quarantine_reason = @reason, attempts = attempts + @counts, deid_sop_uid = coalesce(@uid, deid_sop_uid), record = coalesce(@record, record) WHERE ${held}`,
    );
    this.db
      .transaction(() => {
        for (const { itemId: id, outcome } of results) {
          const uid = outcome.deidSopInstanceUID ?? null;
          switch (outcome.kind) {
            case 'delivered':
              delivered.run({ id, owner, now, uid, record: outcome.record === undefined ? null : JSON.stringify(outcome.record), warning: outcome.warning ?? null });
              break;
            case 'retry':
              retry.run({ id, owner, now, uid, counts: outcome.counts ? 1 : 0, next: outcome.nextAttemptAt, error: outcome.error });
              break;
            case 'quarantined':
              quarantined.run({ id, owner, now, uid, reason: outcome.reason, counts: outcome.counts ? 1 : 0, record: outcome.record === undefined ? null : JSON.stringify(outcome.record) });
              break;
          }
        }
      })
      .immediate();
  }

  async releaseLeases(ownerPrefix: string, now: number): Promise<number> {
    return this.db
      .prepare(
        `UPDATE queue_items SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = @now
         WHERE state = 'in-flight' AND lease_owner LIKE @prefix ESCAPE '\\'`,
      )
      .run({ now, prefix: likePrefix(ownerPrefix) }).changes;
  }

  async getItem(id: number): Promise<QueueItem | undefined> {
    const row = this.db.prepare('SELECT * FROM queue_items WHERE id = ?').get(id) as ItemRow | undefined;
    return row && toItem(row);
  }

  async getSpoolEntry(id: string): Promise<SpoolEntry | undefined> {
    const row = this.db.prepare('SELECT * FROM spool_entries WHERE id = ?').get(id) as SpoolRow | undefined;
    return row && toSpool(row);
  }

  async knownSpoolIds(ids: readonly string[]): Promise<Set<string>> {
    const known = new Set<string>();
    const stmt = this.db.prepare('SELECT 1 FROM spool_entries WHERE id = ?').pluck();
    for (const id of ids) if (stmt.get(id) !== undefined) known.add(id);
    return known;
  }

  async finishedSpoolEntries(limit: number): Promise<SpoolEntry[]> {
    const rows = this.db
      .prepare(
        `SELECT s.* FROM spool_entries s
         WHERE NOT EXISTS (SELECT 1 FROM queue_items q WHERE q.spool_id = s.id AND q.state NOT IN ('delivered', 'discarded'))
         LIMIT ?`,
      )
      .all(limit) as SpoolRow[];
    return rows.map(toSpool);
  }

  async forgetSpoolEntry(id: string): Promise<void> {
    this.db.prepare('DELETE FROM spool_entries WHERE id = ?').run(id);
  }

  async listQuarantine(page: { limit: number; offset: number; destination?: string }): Promise<QuarantinePage> {
    const where = `state = 'quarantined'${page.destination === undefined ? '' : ' AND destination = @destination'}`;
    const params = { destination: page.destination, limit: page.limit, offset: page.offset };
    const total = this.db.prepare(`SELECT count(*) FROM queue_items WHERE ${where}`).pluck().get(params) as number;
    const rows = this.db.prepare(`SELECT * FROM queue_items WHERE ${where} ORDER BY updated_at DESC, id DESC LIMIT @limit OFFSET @offset`).all(params) as ItemRow[];
    return { total, items: rows.map(toItem) };
  }

  async requeue(id: number, now: number): Promise<QueueItem | undefined> {
    const row = this.db
      .prepare(
        `UPDATE queue_items SET state = 'pending', attempts = 0, deferrals = 0, next_attempt_at = @now, quarantine_reason = NULL, updated_at = @now
         WHERE id = @id AND state = 'quarantined' RETURNING *`,
      )
      .get({ id, now }) as ItemRow | undefined;
    return row && toItem(row);
  }

  async discard(id: number, now: number): Promise<QueueItem | undefined> {
    const row = this.db
      .prepare(`UPDATE queue_items SET state = 'discarded', updated_at = @now WHERE id = @id AND state = 'quarantined' RETURNING *`)
      .get({ id, now }) as ItemRow | undefined;
    return row && toItem(row);
  }

  async queueCounts(): Promise<QueueCount[]> {
    return this.db.prepare('SELECT destination, state, count(*) AS count FROM queue_items GROUP BY destination, state ORDER BY destination, state').all() as QueueCount[];
  }

  async oldestWaiting(): Promise<Array<{ destination: string; since: number }>> {
    return this.db
      .prepare(`SELECT destination, min(created_at) AS since FROM queue_items WHERE state IN ('pending', 'in-flight') GROUP BY destination ORDER BY destination`)
      .all() as Array<{ destination: string; since: number }>;
  }

  async beginExportRun(r: BeginExportRun): Promise<ExportRun | undefined> {
    return this.db
      .transaction(() => {
        const lease = this.db.prepare('SELECT owner, lease_until FROM export_leases WHERE job = ?').get(r.job) as { owner: string; lease_until: number } | undefined;
        if (lease && lease.lease_until >= r.now) return undefined;
        this.db.prepare(`UPDATE export_runs SET state = 'interrupted', ended_at = @now WHERE job = @job AND state = 'running'`).run({ job: r.job, now: r.now });
        const row = this.db
          .prepare(
            `INSERT INTO export_runs (job, owner, state, trigger, window_from, window_to, dry_run, started_at)
             VALUES (@job, @owner, 'running', @trigger, @from, @to, @dryRun, @now) RETURNING *`,
          )
          .get({ job: r.job, owner: r.owner, trigger: r.trigger, from: r.window.from, to: r.window.to, dryRun: r.dryRun ? 1 : 0, now: r.now }) as RunRow;
        this.db
          .prepare(
            `INSERT INTO export_leases (job, owner, run_id, lease_until) VALUES (@job, @owner, @run, @until)
             ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, run_id = excluded.run_id, lease_until = excluded.lease_until`,
          )
          .run({ job: r.job, owner: r.owner, run: row.id, until: r.now + r.leaseMs });
        return toRun(row);
      })
      .immediate();
  }

  async heartbeatExportRun(id: number, owner: string, now: number, leaseMs: number, progress: unknown): Promise<boolean> {
    return this.db
      .transaction(() => {
        const held = this.db.prepare('UPDATE export_leases SET lease_until = ? WHERE run_id = ? AND owner = ?').run(now + leaseMs, id, owner).changes === 1;
        if (held) this.db.prepare(`UPDATE export_runs SET progress = ? WHERE id = ? AND state = 'running'`).run(JSON.stringify(progress), id);
        return held;
      })
      .immediate();
  }

  async endExportRun(id: number, owner: string, state: Exclude<ExportRunState, 'running'>, report: unknown, now: number): Promise<void> {
    this.db
      .transaction(() => {
        this.db.prepare(`UPDATE export_runs SET state = ?, report = ?, ended_at = ? WHERE id = ? AND owner = ? AND state = 'running'`).run(state, JSON.stringify(report), now, id, owner);
        this.db.prepare('DELETE FROM export_leases WHERE run_id = ? AND owner = ?').run(id, owner);
      })
      .immediate();
  }

  async releaseExportLeases(ownerPrefix: string, now: number): Promise<number> {
    return this.db
      .transaction(() => {
        const params = { now, prefix: likePrefix(ownerPrefix) };
        this.db.prepare(`UPDATE export_runs SET state = 'interrupted', ended_at = @now WHERE state = 'running' AND owner LIKE @prefix ESCAPE '\\'`).run(params);
        return this.db.prepare(`DELETE FROM export_leases WHERE owner LIKE @prefix ESCAPE '\\'`).run({ prefix: params.prefix }).changes;
      })
      .immediate();
  }

  async getExportRun(id: number): Promise<ExportRun | undefined> {
    const row = this.db.prepare('SELECT * FROM export_runs WHERE id = ?').get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  async listExportRuns(filter: { job?: string; limit: number }): Promise<ExportRun[]> {
    const rows = (
      filter.job === undefined
        ? this.db.prepare('SELECT * FROM export_runs ORDER BY started_at DESC, id DESC LIMIT ?').all(filter.limit)
        : this.db.prepare('SELECT * FROM export_runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT ?').all(filter.job, filter.limit)
    ) as RunRow[];
    return rows.map(toRun);
  }

  async exportRunItems(id: number): Promise<QueueItem[]> {
    return (this.db.prepare('SELECT * FROM queue_items WHERE export_run = ? ORDER BY id').all(id) as ItemRow[]).map(toItem);
  }

  async requeueDelivered(id: number, now: number, replacement?: SpoolEntry): Promise<QueueItem | undefined> {
    return this.db
      .transaction(() => {
        const item = this.db.prepare(`SELECT * FROM queue_items WHERE id = ? AND state = 'delivered'`).get(id) as ItemRow | undefined;
        if (!item) return undefined;
        if (replacement) {
          this.db
            .prepare(
              `INSERT INTO spool_entries (id, size, sha256, mode, instance_ref, study_ref, received_at)
               VALUES (@id, @size, @sha256, @mode, @instanceRef, @studyRef, @receivedAt)`,
            )
            .run(replacement);
        }
        const row = this.db
          .prepare(
            `UPDATE queue_items SET state = 'pending', attempts = 0, deferrals = 0, next_attempt_at = @now, delivered_at = NULL, updated_at = @now,
               spool_id = @spool WHERE id = @id RETURNING *`,
          )
          .get({ id, now, spool: replacement?.id ?? item.spool_id }) as ItemRow;
        return toItem(row);
      })
      .immediate();
  }

  async getDestinationStates(): Promise<DestinationState[]> {
    const rows = this.db.prepare('SELECT * FROM destinations ORDER BY name').all() as Array<{
      name: string;
      health: DestinationState['health'];
      since: number;
      last_error: string | null;
      last_success_at: number | null;
      paused_until: number | null;
      consecutive_failures: number;
    }>;
    return rows.map((r) => ({
      name: r.name,
      health: r.health,
      since: r.since,
      lastError: r.last_error ?? undefined,
      lastSuccessAt: r.last_success_at ?? undefined,
      pausedUntil: r.paused_until ?? undefined,
      consecutiveFailures: r.consecutive_failures,
    }));
  }

  async putDestinationState(s: DestinationState): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO destinations (name, health, since, last_error, last_success_at, paused_until, consecutive_failures)
         VALUES (@name, @health, @since, @lastError, @lastSuccessAt, @pausedUntil, @consecutiveFailures)
         ON CONFLICT (name) DO UPDATE SET health = excluded.health, since = excluded.since, last_error = excluded.last_error,
           last_success_at = excluded.last_success_at, paused_until = excluded.paused_until, consecutive_failures = excluded.consecutive_failures`,
      )
      .run({
        name: s.name,
        health: s.health,
        since: s.since,
        lastError: s.lastError ?? null,
        lastSuccessAt: s.lastSuccessAt ?? null,
        pausedUntil: s.pausedUntil ?? null,
        consecutiveFailures: s.consecutiveFailures,
      });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
