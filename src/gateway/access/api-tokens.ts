import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AnofairError } from '../../errors/anofair-error.js';
import { isScope, SCOPES, type Scope } from './scopes.js';

/**
 * API tokens, kept in <data>/tokens.sqlite: `anofair token create` writes them, the gateway reads them on every
 * request, so a revocation or an expiry takes effect at the next request, without a restart. Only the SHA-256
 * of a token is stored; the token itself is shown once, when it is created.
 */

export const TOKENS_FILE = 'tokens.sqlite';
/** Tokens start with this, so that secret scanners and people recognise one in a paste or a log. */
export const TOKEN_PREFIX = 'anofair_';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ApiToken {
  id: string;
  name: string;
  scopes: readonly Scope[];
  createdAt: number;
  /** Absent: never expires (only when asked for explicitly). */
  expiresAt?: number;
  revokedAt?: number;
}

export interface CreatedToken extends ApiToken {
  /** The secret, shown once. */
  token: string;
}

export type TokenCheck = { ok: true; token: ApiToken } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' };

interface TokenRow {
  id: string;
  name: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
  );
  CREATE INDEX IF NOT EXISTS api_tokens_name ON api_tokens (name);
`;

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const toToken = (r: TokenRow): ApiToken => ({
  id: r.id,
  name: r.name,
  scopes: (JSON.parse(r.scopes) as string[]).filter(isScope),
  createdAt: r.created_at,
  ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
  ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
});

export class TokenStore {
  private readonly db: Database.Database;
  private readonly byDigest: Database.Statement<[string], TokenRow>;

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw new AnofairError('IO', `cannot open the token store ${path}: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.byDigest = this.db.prepare('SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE sha256 = ?');
  }

  /** A new token for `name` with these scopes; `expiresAt` undefined only for a token that never expires. */
  create(name: string, scopes: readonly string[], expiresAt: number | undefined, now = Date.now()): CreatedToken {
    if (!NAME.test(name)) throw new AnofairError('BAD_REQUEST', 'a token name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    const unknown = scopes.filter((s) => !isScope(s));
    if (unknown.length > 0) throw new AnofairError('BAD_REQUEST', `unknown scope(s) ${unknown.join(', ')}; the scopes are ${SCOPES.join(', ')}`);
    if (scopes.length === 0) throw new AnofairError('BAD_REQUEST', `a token needs at least one scope (${SCOPES.join(', ')})`);
    if (expiresAt !== undefined && expiresAt <= now) throw new AnofairError('BAD_REQUEST', 'the expiry must lie in the future');
    const unique = [...new Set(scopes)] as Scope[];
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const id = `tok_${randomBytes(6).toString('hex')}`;
    this.db
      .prepare('INSERT INTO api_tokens (id, name, sha256, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, name, tokenSha256(token), JSON.stringify(unique), now, expiresAt ?? null);
    return { id, name, scopes: unique, createdAt: now, ...(expiresAt !== undefined ? { expiresAt } : {}), token };
  }

  /** The token's record if it is known, not revoked and not expired. */
  check(token: string, now = Date.now()): TokenCheck {
    const row = this.byDigest.get(tokenSha256(token));
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: 'expired' };
    return { ok: true, token: toToken(row) };
  }

  /** Revoke one token by id, or every active token of a name. Returns the tokens revoked. */
  revoke(idOrName: string, now = Date.now()): ApiToken[] {
    const rows = this.db
      .prepare<[string, string], TokenRow>('SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE (id = ? OR name = ?) AND revoked_at IS NULL')
      .all(idOrName, idOrName);
    const mark = this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const r of rows) mark.run(now, r.id);
    })();
    return rows.map((r) => ({ ...toToken(r), revokedAt: now }));
  }

  list(): ApiToken[] {
    return this.db.prepare<[], TokenRow>('SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens ORDER BY created_at, id').all().map(toToken);
  }

  /** Whether any token was ever created here (revoked ones count): the first start creates the initial one. */
  isEmpty(): boolean {
    return this.db.prepare('SELECT 1 FROM api_tokens LIMIT 1').get() === undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** "90d", "12h", "30m", "never" or an ISO date -> an expiry time (ms) or undefined for never. */
export function parseExpiry(text: string, now = Date.now()): number | undefined {
  if (text === 'never') return undefined;
  const m = /^(\d{1,5})([dhm])$/.exec(text);
  if (m) return now + Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
  const t = Date.parse(text);
  if (Number.isFinite(t) && /^\d{4}-\d{2}-\d{2}/.test(text)) return t;
  throw new AnofairError('BAD_REQUEST', `cannot read the expiry "${text}": use e.g. 90d, 12h, 30m, an ISO date (2027-06-30) or never`);
}
