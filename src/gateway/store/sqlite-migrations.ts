import type Database from 'better-sqlite3';

/**
 * Apply ordered migrations keyed by PRAGMA user_version, each in its own immediate transaction, so two processes
 * opening the same file never apply one twice. A file newer than the migrations known here is refused.
 */
export function applyMigrations(db: Database.Database, migrations: readonly string[], what: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > migrations.length) throw new Error(`${what} was written by a newer gateway (schema ${version}, this one knows ${migrations.length})`);
  for (let v = version; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
