import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { AnofairError } from '../errors/anofair-error.js';
import type { ExportJobView } from '../gateway/exports/export-jobs.js';
import type { ExportProgress, ExportReport } from '../gateway/exports/export-report.js';
import { parseDateArgument } from '../gateway/exports/study-dates.js';
import type { ExportRun } from '../gateway/store/gateway-store.js';

/**
 * `anofair export`: the export jobs of a running gateway, through its API (/api/exports, scope operator), the
 * same calls the dashboard and curl make. Runs happen inside `anofair serve`, which owns the store and the
 * schedules; this command starts them and follows them.
 */

interface ApiFlags {
  gateway: string;
  tokenFile?: string;
}

function date(value: string): string {
  try {
    return parseDateArgument(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function client(flags: ApiFlags): (method: string, path: string) => Promise<unknown> {
  const token = flags.tokenFile ? readFileSync(flags.tokenFile, 'utf8').trim() : process.env.ANOFAIR_TOKEN;
  const base = flags.gateway.replace(/\/+$/, '');
  return async (method, path) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new AnofairError('UPSTREAM_UNREACHABLE', `cannot reach the gateway at ${base} (${(err as Error).cause ? String((err as { cause: { code?: string } }).cause.code) : (err as Error).message}); is \`anofair serve\` running?`);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!res.ok) throw new AnofairError(res.status === 404 ? 'NOT_FOUND' : res.status === 409 ? 'CONFLICT' : res.status === 401 ? 'UNAUTHORIZED' : res.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST', body.error?.message ?? `HTTP ${res.status}`);
    return body;
  };
}

const when = (ms?: number): string => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '-');
const day = (d: string): string => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;

function runLine(run: ExportRun): string {
  const r = run.report as ExportReport | undefined;
  const counts = r ? `studies ${r.studies}, queued ${r.instances.queued}, already delivered ${r.instances.alreadyDelivered}, delivered ${r.outcome.delivered}, quarantined ${r.outcome.quarantined}, waiting ${r.outcome.waiting}, failed ${r.instances.failed}` : '';
  return `#${run.id}  ${run.state.padEnd(11)} ${run.trigger.padEnd(8)} ${day(run.window.from)}..${day(run.window.to)}${run.dryRun ? ' (dry run)' : ''}  started ${when(run.startedAt)}  ${counts}`;
}

export function formatReport(run: ExportRun): string {
  const r = run.report as ExportReport | undefined;
  if (!r) return runLine(run);
  const lines = [
    `export run #${run.id} of "${run.job}": ${r.state} (${day(r.window.from)} to ${day(r.window.to)}${r.dryRun ? ', dry run' : ''}, ${(r.durationMs / 1000).toFixed(1)} s)`,
    `  studies ${r.studies}; instances found ${r.instances.found}, already delivered ${r.instances.alreadyDelivered}, retrieved ${r.instances.retrieved} (${(r.bytes / 1e6).toFixed(1)} MB), queued ${r.instances.queued}, not routed ${r.instances.notQueued}, failed ${r.instances.failed}`,
    `  delivered ${r.outcome.delivered}, quarantined ${r.outcome.quarantined}, still waiting ${r.outcome.waiting}`,
    ...Object.entries(r.outcome.quarantineReasons).map(([reason, n]) => `    quarantined ${n}: ${reason}`),
    ...(r.reconciliation ? [`  reconciliation: ${r.reconciliation.confirmed} of ${r.reconciliation.checked} confirmed at the destination, ${r.reconciliation.missing} missing (${r.reconciliation.requeued} re-queued), ${r.reconciliation.unchecked} not checked`] : []),
    ...r.problems.map((p) => `  problem: ${p}`),
  ];
  return lines.join('\n');
}

export function registerExportCommand(program: Command): void {
  const exp = program
    .command('export')
    .description('Nightly de-identification exports of a running gateway (`anofair serve` with exports: in its configuration): run one now, list jobs, show runs.');
  const api = (c: Command): Command =>
    c
      .option('--gateway <url>', 'the gateway\'s base URL', 'http://127.0.0.1:8080')
      .option('--token-file <file>', 'a file holding an API token with the operator scope (default: $ANOFAIR_TOKEN)');

  api(exp.command('run <job>').description('Start a run of <job> now and follow it with a progress bar; exits 0 when it ends complete, 1 otherwise.'))
    .option('--since <date>', 'first study date (YYYY-MM-DD); default: the job\'s window', date)
    .option('--until <date>', 'last study date (YYYY-MM-DD); default: the job\'s window', date)
    .option('--dry-run', 'search and count only: nothing is retrieved or sent')
    .action(async (job: string, flags: ApiFlags & { since?: string; until?: string; dryRun?: boolean }) => {
      const call = client(flags);
      const q = new URLSearchParams({ ...(flags.since ? { since: flags.since } : {}), ...(flags.until ? { until: flags.until } : {}), ...(flags.dryRun ? { dryRun: 'true' } : {}) });
      let run = (await call('POST', `/api/exports/${encodeURIComponent(job)}/runs${q.size ? `?${q}` : ''}`)) as ExportRun;
      process.stderr.write(`export run #${run.id} of "${job}" started: study dates ${day(run.window.from)} to ${day(run.window.to)}\n`);
      const tty = process.stderr.isTTY;
      const bar = tty
        ? new cliProgress.SingleBar({ format: '{phase} [{bar}] {value}/{total} instances | {studies} studies | {mb} MB | ETA {eta_text}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      bar?.start(1, 0, { phase: 'searching', studies: '0/0', mb: '0.0', eta_text: '-' });
      let lastLine = 0;
      while (run.state === 'running') {
        await new Promise((r) => setTimeout(r, 1_000));
        run = (await call('GET', `/api/exports/runs/${run.id}`)) as ExportRun;
        const p = run.progress as ExportProgress | undefined;
        if (!p) continue;
        const done = p.instances.retrieved + p.instances.alreadyDelivered + p.instances.failed;
        const fields = { phase: p.phase, studies: `${p.studies.done}/${p.studies.found}`, mb: (p.bytes / 1e6).toFixed(1), eta_text: p.etaMs !== undefined ? `${Math.ceil(p.etaMs / 1000)} s` : '-' };
        if (bar) {
          bar.setTotal(Math.max(1, p.instances.found));
          bar.update(done, fields);
        } else if (Date.now() - lastLine > 10_000) {
          lastLine = Date.now();
          process.stderr.write(`  ${p.phase}: ${done}/${p.instances.found} instances, studies ${fields.studies}, ${fields.mb} MB\n`);
        }
      }
      bar?.stop();
      process.stdout.write(`${formatReport(run)}\n`);
      process.exitCode = run.state === 'complete' ? 0 : 1;
    });

  api(exp.command('list').description('The export jobs: schedule, next run, the run in progress and the last one.')).action(async (flags: ApiFlags) => {
    const { jobs } = (await client(flags)('GET', '/api/exports')) as { jobs: ExportJobView[] };
    for (const j of jobs) {
      process.stdout.write(`${j.name}${j.description ? ` (${j.description})` : ''}\n  schedule ${j.schedule ?? 'none (on request)'} ${j.timeZone}; next run ${when(j.nextRun)}; last success ${when(j.lastSuccessAt)}\n`);
      if (j.running) process.stdout.write(`  running: #${j.running.id}\n`);
      if (j.lastRun) process.stdout.write(`  last: ${runLine(j.lastRun)}\n`);
    }
  });

  api(exp.command('history <job>').description('The runs of <job>, newest first.'))
    .option('--limit <n>', 'how many', (v) => {
      if (!/^\d{1,3}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('expected a number from 1 to 500');
      return Number(v);
    }, 20)
    .action(async (job: string, flags: ApiFlags & { limit: number }) => {
      const { runs } = (await client(flags)('GET', `/api/exports/${encodeURIComponent(job)}/runs?limit=${flags.limit}`)) as { runs: ExportRun[] };
      if (runs.length === 0) process.stdout.write(`no runs of "${job}" yet\n`);
      for (const r of runs) process.stdout.write(`${runLine(r)}\n`);
    });

  api(exp.command('status <run>').description('One run: its progress while it runs, its report when it has ended.')).action(async (id: string, flags: ApiFlags) => {
    if (!/^\d{1,15}$/.test(id)) throw new InvalidArgumentError('expected a run number');
    const run = (await client(flags)('GET', `/api/exports/runs/${id}`)) as ExportRun;
    process.stdout.write(`${run.state === 'running' ? `${runLine(run)}\n  progress: ${JSON.stringify(run.progress ?? {})}` : formatReport(run)}\n`);
  });
}
