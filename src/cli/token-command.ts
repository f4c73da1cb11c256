import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseExpiry, TOKENS_FILE, TokenStore, type ApiToken } from '../gateway/access/api-tokens.js';
import { SCOPE_MEANING, SCOPES } from '../gateway/access/scopes.js';
import { loadConfig } from '../gateway/config/config-loader.js';
import { AnofairError } from '../errors/anofair-error.js';
import type { AuditEvent } from '../gateway/audit/audit-event.js';
import { AUDIT_FILE, AuditTrail } from '../gateway/audit/audit-trail.js';

interface StoreFlags {
  config?: string;
  data?: string;
}

/** The data folder of the gateway that --config (or --data, or the embedded defaults) describes. */
async function dataFolder(flags: StoreFlags): Promise<string> {
  return flags.data ?? (await loadConfig(flags.config)).config.data;
}

async function openStore(flags: StoreFlags): Promise<TokenStore> {
  return new TokenStore(join(await dataFolder(flags), TOKENS_FILE));
}

/** Token changes go into the gateway's audit trail (the same file the running gateway appends to). */
async function audit(flags: StoreFlags, event: Omit<AuditEvent, 'outcome' | 'credential' | 'actor'>): Promise<void> {
  const trail = new AuditTrail(join(await dataFolder(flags), AUDIT_FILE));
  try {
    trail.record({ ...event, outcome: 'success', actor: `cli:${userInfo().username}`.slice(0, 64), credential: 'system' });
  } finally {
    trail.close();
  }
}

const when = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function state(t: ApiToken, now: number): string {
  if (t.revokedAt !== undefined) return `revoked ${when(t.revokedAt)}`;
  if (t.expiresAt !== undefined && t.expiresAt <= now) return 'expired';
  return 'active';
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerTokenCommand(program: Command): void {
  const token = program
    .command('token')
    .description(
      `API tokens for the gateway's clients, kept hashed in <data>/${TOKENS_FILE}; the running gateway sees a new or revoked token at the next request. Scopes: ${SCOPES.map((s) => `${s} (${SCOPE_MEANING[s]})`).join('; ')}.`,
    );
  const storeOptions = (c: Command): Command =>
    c.option('--config <file>', "the gateway's configuration (its data folder holds the tokens)").option('--data <dir>', "the gateway's data folder (instead of --config)");

  storeOptions(
    token
      .command('create')
      .description('Make a token and print it once (it is not stored, only its SHA-256).')
      .requiredOption('--name <name>', 'who holds it: routing rules match it with client:, the audit trail names it')
      .requiredOption('--scope <scope...>', `what it may do (repeat or comma-separate): ${SCOPES.join(', ')}`, collect)
      .option('--expires <when>', 'lifetime (90d, 12h, 30m), an ISO date, or never', '90d')
      .option('--json', 'print the token and its record as JSON'),
  ).action(async (flags: StoreFlags & { name: string; scope: string[]; expires: string; json?: boolean }) => {
    const store = await openStore(flags);
    try {
      const created = store.create(flags.name, flags.scope, parseExpiry(flags.expires));
      await audit(flags, { type: 'token-created', detail: { token: created.id, name: created.name, scopes: created.scopes.join(' '), expiresAt: when(created.expiresAt) } });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...created, expiresAt: created.expiresAt === undefined ? null : when(created.expiresAt), createdAt: when(created.createdAt) })}\n`);
      } else {
        process.stdout.write(
          `${created.token}\n` +
            `token ${created.id} for "${created.name}": scopes ${created.scopes.join(', ')}; expires ${when(created.expiresAt)}\n` +
            'It is shown only now; send it as  Authorization: Bearer <token>  (or Basic <name>:<token>).\n',
        );
      }
    } finally {
      store.close();
    }
  });

  storeOptions(token.command('list').description('List the tokens (never their secrets).').option('--json', 'JSON lines')).action(
    async (flags: StoreFlags & { json?: boolean }) => {
      const store = await openStore(flags);
      try {
        const now = Date.now();
        const rows = store.list();
        if (flags.json) {
          for (const t of rows) process.stdout.write(`${JSON.stringify({ ...t, state: state(t, now) })}\n`);
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no tokens yet: anofair token create --name <who> --scope <scope>\n');
          return;
        }
        process.stdout.write(`${['id'.padEnd(16), 'name'.padEnd(24), 'scopes'.padEnd(40), 'expires'.padEnd(21), 'state'].join(' ')}\n`);
        for (const t of rows) {
          process.stdout.write(`${[t.id.padEnd(16), t.name.padEnd(24), t.scopes.join(',').padEnd(40), when(t.expiresAt).padEnd(21), state(t, now)].join(' ')}\n`);
        }
      } finally {
        store.close();
      }
    },
  );

  storeOptions(token.command('revoke').description('Revoke a token by id, or every active token of a name.').argument('<id-or-name>')).action(
    async (idOrName: string, flags: StoreFlags) => {
      const store = await openStore(flags);
      try {
        const revoked = store.revoke(idOrName);
        if (revoked.length === 0) throw new AnofairError('NOT_FOUND', `no active token with id or name "${idOrName}"`);
        for (const t of revoked) {
          await audit(flags, { type: 'token-revoked', detail: { token: t.id, name: t.name } });
          process.stdout.write(`revoked ${t.id} ("${t.name}")\n`);
        }
      } finally {
        store.close();
      }
    },
  );
}
