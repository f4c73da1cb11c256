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
];
