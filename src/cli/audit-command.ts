import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AuditRecord } from '../gateway/audit/audit-chain.js';
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditOutcome } from '../gateway/audit/audit-event.js';
import { AUDIT_FILE, AuditTrail } from '../gateway/audit/audit-trail.js';
import { loadConfig } from '../gateway/config/config-loader.js';
import { didYouMean } from '../gateway/config/did-you-mean.js';

interface TrailFlags {
  config?: string;
  data?: string;
}

interface ListFlags extends TrailFlags {
  since?: number;
  until?: number;
  type?: AuditEventType[];
  actor?: string;
  outcome?: AuditOutcome;
  limit: number;
  json?: boolean;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "24h", "30m", "7d" ago, or an ISO date (UTC midnight) or date-time. */
export function parseWhen(text: string, now = Date.now()): number {
  const ago = /^(\d{1,6})([smhdw])$/.exec(text);
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  const ms = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  throw new InvalidArgumentError('expected a time ago (30m, 24h, 7d) or an ISO date or date-time, e.g. 2026-03-01 or 2026-03-01T08:00:00Z');
}

function parseType(text: string, previous: AuditEventType[] = []): AuditEventType[] {
  const types = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of types) {
    if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(t)) {
      const hint = didYouMean(t, AUDIT_EVENT_TYPES);
      throw new InvalidArgumentError(`unknown event type ${t}${hint ? ` (${hint})` : ''}; the types are: ${AUDIT_EVENT_TYPES.join(', ')}`);
    }
  }
  return [...previous, ...(types as AuditEventType[])];
}

function parseLimit(text: string): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number from 1 to 100000');
  return Math.min(Number(text), 100_000);
}

/** The trail of the gateway that --data (or --config, or the embedded defaults) describes, opened read-only. */
async function openTrail(flags: TrailFlags): Promise<AuditTrail> {
  const data = flags.data !== undefined ? resolve(flags.data) : (await loadConfig(flags.config)).config.data;
  return new AuditTrail(join(data, AUDIT_FILE), { readonly: true });
}

const time = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The request facts of a row in one cell: method, route, status, level, study. */
function request(r: AuditRecord): string {
  return [r.method, r.route, r.status, r.level, r.studyUid ? `study ${r.studyUid}` : undefined].filter((v) => v !== undefined).join(' ');
}

const detail = (r: AuditRecord): string => Object.entries(r.detail ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');

/** A table with columns padded to their widest cell; the last column runs free. */
export function auditTable(rows: readonly AuditRecord[]): string {
  const header = ['SEQ', 'TIME', 'TYPE', 'OUTCOME', 'ACTOR', 'ADDRESS', 'REQUEST', 'DETAIL'];
  const cells = rows.map((r) => [String(r.seq), time(r.time), r.type, r.outcome, r.actor ?? '-', r.address ?? '-', request(r) || '-', detail(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

export function registerAuditCommand(program: Command): void {
  const audit = program
    .command('audit')
    .description(
      `Show the gateway's audit trail (<data>/${AUDIT_FILE}): who authenticated or failed to, clinical queries, ` +
        'retrieves and stores, research uploads, forwards, quarantines, retries, discards, dry runs, configuration ' +
        'and key loads. It holds no patient data. By default the newest 100 events, oldest first.',
    )
    .addOption(new Option('--data <dir>', "the gateway's data folder").conflicts('config'))
    .option('--config <file>', "the gateway's configuration (its data: folder holds the trail)")
    .option('--since <when>', 'from this time on: 30m, 24h, 7d ago, or an ISO date or date-time', (v) => parseWhen(v))
    .option('--until <when>', 'before this time (same forms as --since)', (v) => parseWhen(v))
    .option('--type <type>', `only these event types (repeat or comma-separate): ${AUDIT_EVENT_TYPES.join(', ')}`, parseType)
    .option('--actor <name>', 'only events of this client, token or OIDC subject (gateway: its own)')
    .addOption(new Option('--outcome <outcome>', 'only successes or only failures').choices(['success', 'failure']))
    .option('--limit <n>', 'at most this many events, the newest', parseLimit, 100)
    .option('--json', 'one JSON object per line')
    .action(async (flags: ListFlags) => {
      const trail = await openTrail(flags);
      try {
        const rows = trail.query({ since: flags.since, until: flags.until, types: flags.type, actor: flags.actor, outcome: flags.outcome, limit: flags.limit, newest: true });
        if (flags.json) {
          for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
        } else {
          process.stdout.write(`${auditTable(rows)}\n`);
          if (rows.length === 0) process.stderr.write('no audit events match\n');
        }
      } finally {
        trail.close();
      }
    });

  audit
    .command('verify')
    .description('Check the audit trail: every row where it belongs in the hash chain, none missing, the append-only triggers in place. Exit 1 naming the first broken row.')
    .action(async (_flags: unknown, command: Command) => {
      const flags = command.optsWithGlobals<TrailFlags>();
      const trail = await openTrail(flags);
      try {
        const result = trail.verify();
        const where = `audit trail ${trail.path}`;
        if (result.ok) {
          process.stdout.write(`${where}: intact, ${result.count} events${result.count > 0 ? ` (seq 1 to ${result.lastSeq})` : ''}, append-only triggers in place\n`);
          return;
        }
        if (result.broken) process.stdout.write(`${where}: BROKEN at seq ${result.broken.seq}: ${result.broken.problem}\n`);
        if (!result.appendOnly) process.stdout.write(`${where}: the append-only triggers are missing: the file was changed outside the gateway\n`);
        process.exitCode = 1;
      } finally {
        trail.close();
      }
    });
}
