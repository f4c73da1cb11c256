/**
 * The SQLite schema of the gateway store, as ordered migrations keyed by PRAGMA user_version. A migration is
 * never edited once released: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE spool_entries (
    id            TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('tap', 'deid-only')),
    instance_ref  TEXT NOT NULL,
    study_ref     TEXT NOT NULL,
    received_at   INTEGER NOT NULL
  );

  -- One row per (spooled instance, rule, destination). Delivered and discarded rows stay as the ledger.
  CREATE TABLE queue_items (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    spool_id           TEXT NOT NULL,
    instance_ref       TEXT NOT NULL,
    study_ref          TEXT NOT NULL,
    destination        TEXT NOT NULL,
    rule               TEXT NOT NULL,
    job                TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'in-flight', 'delivered', 'quarantined', 'discarded')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    deferrals          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    lease_owner        TEXT,
    lease_until        INTEGER,
    last_error         TEXT,
    quarantine_reason  TEXT,
    deid_sop_uid       TEXT,
    record             TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    delivered_at       INTEGER
  );
  CREATE INDEX queue_items_due ON queue_items (state, next_attempt_at, id);
  CREATE INDEX queue_items_batch ON queue_items (destination, study_ref, state);
  CREATE INDEX queue_items_spool ON queue_items (spool_id);

  CREATE TABLE destinations (
    name                  TEXT PRIMARY KEY,
    health                TEXT NOT NULL,
    since                 INTEGER NOT NULL,
    last_error            TEXT,
    last_success_at       INTEGER,
    paused_until          INTEGER,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0
  );
  `,
  `
  -- Nightly exports. Spool entries may now come from an export job; the CHECK cannot be altered in place.
  CREATE TABLE spool_entries_v2 (
    id            TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('tap', 'deid-only', 'export')),
    instance_ref  TEXT NOT NULL,
    study_ref     TEXT NOT NULL,
    received_at   INTEGER NOT NULL
  );
  INSERT INTO spool_entries_v2 SELECT id, size, sha256, mode, instance_ref, study_ref, received_at FROM spool_entries;
  DROP TABLE spool_entries;
  ALTER TABLE spool_entries_v2 RENAME TO spool_entries;

  -- The ledger: one item per (instance, destination, rule), whichever way the instance came (tap, export, re-run).
  ALTER TABLE queue_items ADD COLUMN export_run INTEGER;
  CREATE INDEX queue_items_ledger ON queue_items (instance_ref, destination, rule);
  CREATE INDEX queue_items_export_run ON queue_items (export_run, state);

  CREATE TABLE export_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job           TEXT NOT NULL,
    owner         TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('running', 'complete', 'incomplete', 'failed', 'interrupted')),
    trigger       TEXT NOT NULL,
    window_from   TEXT NOT NULL,
    window_to     TEXT NOT NULL,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    progress      TEXT,
    report        TEXT
  );
  CREATE INDEX export_runs_job ON export_runs (job, started_at);

  -- Who runs a job now: two gateways never run the same job at once.
  CREATE TABLE export_leases (
    job          TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    run_id       INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL
  );
  `,
];
