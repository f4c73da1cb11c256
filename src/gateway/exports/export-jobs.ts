import cron, { type ScheduledTask } from 'node-cron';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { DestinationConfig } from '../forwarding/destination.js';
import type { ResearchPipeline } from '../research-pipeline.js';
import type { RuleSet } from '../rules/rule-types.js';
import type { ExportRun, ExportTrigger } from '../store/gateway-store.js';
import { DicomwebSource, type DicomwebServer } from './dicomweb-source.js';
import type { ExportJobConfig, ExportsConfig } from './export-job-schema.js';
import type { ExportProgress, ExportReport } from './export-report.js';
import { runExport } from './export-runner.js';
import { studyDates, type DateWindow } from './study-dates.js';

export interface ExportJobsOptions {
  jobs: ExportsConfig;
  pipeline: ResearchPipeline;
  rules: RuleSet;
  pacs: DicomwebServer;
  destinations: Readonly<Record<string, DestinationConfig>>;
  nodeId: string;
  /** Largest instance a retrieve may return, bytes. */
  maxInstanceBytes: number;
  registry: Registry;
  logger?: Logger;
  leaseMs?: number;
  now?: () => number;
  settlePollMs?: number;
}

export interface ExportJobView {
  name: string;
  description?: string;
  schedule?: string;
  timeZone: string;
  nextRun?: number;
  running?: { id: number; progress?: ExportProgress };
  lastRun?: ExportRun;
  lastSuccessAt?: number;
}

/** How far back a missed scheduled run is looked for at start. */
const CATCH_UP_LOOKBACK_MS = 8 * 24 * 3_600_000;

/** The rule set an export job routes with: the rules it names, in file order, or all of them. */
export function jobRules(all: RuleSet, names: readonly string[] | undefined, job: string): RuleSet {
  if (!names) return all;
  const known = new Set(all.rules.map((r) => r.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new AnofairError('CONFIG_INVALID', `exports.${job}.rules names no routing rule "${unknown.join('", "')}" (rules: ${all.source})`, { job });
  return { ...all, rules: all.rules.filter((r) => names.includes(r.name)) };
}

/**
 * The export jobs of a running gateway: their schedules (node-cron, in each job's time zone), a catch-up of the
 * run missed while the gateway was down (once, over the whole missed span), the resume of an interrupted run,
 * runs on request (API, CLI), and their metrics.
 */
export class ExportJobs {
  private readonly pacs: DicomwebSource;
  private readonly destinations = new Map<string, DicomwebSource>();
  private readonly rules = new Map<string, RuleSet>();
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly running = new Map<string, { id?: number; progress?: ExportProgress; done: Promise<unknown> }>();
  private readonly abort = new AbortController();
  private readonly owner: string;
  private readonly metrics: { instances: Counter<'job' | 'outcome'>; runs: Counter<'job' | 'state'>; lastSuccess: Gauge<'job'>; behind: Gauge<'job'> };

  constructor(private readonly o: ExportJobsOptions) {
    this.owner = `${o.nodeId}/export`;
    for (const [name, job] of Object.entries(o.jobs)) this.rules.set(name, jobRules(o.rules, job.rules, name));
    const connections = Math.max(1, ...Object.values(o.jobs).map((j) => j.limits.concurrentRetrieves)) + 1;
    this.pacs = new DicomwebSource('the PACS', o.pacs, { connections, maxInstanceBytes: o.maxInstanceBytes, timeoutMs: 120_000, setting: 'upstream' });
    for (const [name, d] of Object.entries(o.destinations)) {
      this.destinations.set(name, new DicomwebSource(`destination "${name}"`, d, { connections: 2, maxInstanceBytes: 1, timeoutMs: d.timeoutMs, setting: `destinations.${name}` }));
    }
    const metric = <T>(name: string, make: () => T): T => (o.registry.getSingleMetric(name) as T | undefined) ?? make();
    this.metrics = {
      instances: metric('anofair_export_instances_total', () => new Counter({ name: 'anofair_export_instances_total', help: 'Instances seen by export runs, by job and outcome (queued, already-delivered, not-queued, failed)', labelNames: ['job', 'outcome'], registers: [o.registry] })),
      runs: metric('anofair_export_runs_total', () => new Counter({ name: 'anofair_export_runs_total', help: 'Export runs ended, by job and state', labelNames: ['job', 'state'], registers: [o.registry] })),
      lastSuccess: metric('anofair_export_last_success_timestamp_seconds', () => new Gauge({ name: 'anofair_export_last_success_timestamp_seconds', help: 'End of the last complete export run, by job (Unix seconds)', labelNames: ['job'], registers: [o.registry] })),
      behind: metric('anofair_export_instances_behind', () => new Gauge({ name: 'anofair_export_instances_behind', help: 'Instances the running export has found and not yet handled, by job', labelNames: ['job'], registers: [o.registry] })),
    };
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private job(name: string): ExportJobConfig {
    const job = this.o.jobs[name];
    if (!job) throw new AnofairError('NOT_FOUND', `no export job "${name}"`, { job: name });
    return job;
  }

  /** Free what this node held before a restart, schedule the jobs, and make up missed or interrupted runs. */
  async start(): Promise<void> {
    const store = this.o.pipeline.exportStore;
    const released = await store.releaseExportLeases(`${this.owner}`, this.now());
    if (released > 0) this.o.logger?.warn({ runs: released }, 'export runs interrupted by the last stop are marked interrupted');
    for (const [name, job] of Object.entries(this.o.jobs)) {
      if (!job.schedule) continue;
      const task = cron.schedule(job.schedule.cron, () => void this.runInBackground(name, { trigger: 'schedule' }), { timezone: job.timeZone, name: `export:${name}`, noOverlap: true });
      this.tasks.set(name, task);
      const makeUp = job.schedule.catchUp ? await this.missed(name, task) : undefined;
      if (makeUp) {
        this.o.logger?.info({ job: name, trigger: makeUp.trigger, window: makeUp.window }, 'export: making up a run');
        void this.runInBackground(name, makeUp);
      }
    }
  }

  /** The run to make up at start, if any: an interrupted run's window again, or every scheduled run missed since the last. */
  private async missed(name: string, task: ScheduledTask): Promise<{ trigger: ExportTrigger; window: DateWindow } | undefined> {
    const job = this.job(name);
    const [last] = await this.o.pipeline.exportStore.listExportRuns({ job: name, limit: 1 });
    if (last?.state === 'interrupted') return { trigger: 'resume', window: last.window };
    const now = this.now();
    const since = Math.max(last?.startedAt ?? 0, now - CATCH_UP_LOOKBACK_MS);
    let latest: number | undefined;
    let earliest: number | undefined;
    for (let t = Math.floor(now / 60_000) * 60_000; t > since; t -= 60_000) {
      if (!task.match(new Date(t))) continue;
      latest ??= t;
      earliest = t;
      if (!last) break; // never ran: only the latest scheduled run is made up
    }
    if (latest === undefined || earliest === undefined) return undefined;
    return { trigger: 'catch-up', window: { from: studyDates(job.query.studyDate, earliest, job.timeZone).from, to: studyDates(job.query.studyDate, latest, job.timeZone).to } };
  }

  /**
   * Start a run and return at once with its id. CONFLICT when the job is running here already; NOT_FOUND for an
   * unknown job. The window defaults to the job's study dates as of now.
   */
  async runNow(name: string, o: { trigger?: ExportTrigger; window?: Partial<DateWindow>; dryRun?: boolean } = {}): Promise<ExportRun> {
    const job = this.job(name);
    if (this.running.has(name)) throw new AnofairError('CONFLICT', `export job "${name}" is running already`, { job: name });
    const dflt = studyDates(job.query.studyDate, this.now(), job.timeZone);
    const window = { from: o.window?.from ?? dflt.from, to: o.window?.to ?? dflt.to };
    if (window.from > window.to) throw new AnofairError('BAD_REQUEST', `the window starts after it ends (${window.from} > ${window.to})`);
    let resolveStarted!: (run: ExportRun) => void;
    let rejectStarted!: (err: unknown) => void;
    const started = new Promise<ExportRun>((res, rej) => {
      resolveStarted = res;
      rejectStarted = rej;
    });
    const entry: { id?: number; progress?: ExportProgress; done: Promise<unknown> } = { done: Promise.resolve() };
    this.running.set(name, entry);
    let announced = false;
    entry.done = runExport(
      { job: name, config: job, window, trigger: o.trigger ?? 'manual', dryRun: o.dryRun ?? false },
      {
        pipeline: this.o.pipeline,
        rules: this.rules.get(name)!,
        pacs: this.pacs,
        destinations: this.destinations,
        owner: this.owner,
        leaseMs: this.o.leaseMs ?? 60_000,
        logger: this.o.logger,
        now: this.o.now,
        settlePollMs: this.o.settlePollMs,
        onBegin: (run) => {
          entry.id = run.id;
          announced = true;
          resolveStarted(run);
        },
        onProgress: (_run, progress) => {
          entry.progress = progress;
          this.metrics.behind.set({ job: name }, Math.max(0, progress.instances.found - progress.instances.retrieved - progress.instances.alreadyDelivered - progress.instances.failed));
        },
        onEnd: (run, report) => this.ended(name, run, report),
      },
      this.abort.signal,
    )
      // runExport either throws before its run begins (the lease is held elsewhere) or calls onBegin
      .then(
        () => undefined,
        (err: unknown) => {
          if (!announced) rejectStarted(err);
          else this.o.logger?.error({ job: name, code: err instanceof AnofairError ? err.code : 'INTERNAL' }, 'export run failed');
        },
      )
      .finally(() => this.running.delete(name));
    return started;
  }

  private runInBackground(name: string, o: { trigger: ExportTrigger; window?: DateWindow }): Promise<void> {
    return this.runNow(name, o).then(
      () => undefined,
      (err: unknown) => this.o.logger?.warn({ job: name, trigger: o.trigger, code: err instanceof AnofairError ? err.code : 'INTERNAL' }, `export run not started: ${err instanceof AnofairError ? err.message : 'internal error'}`),
    );
  }

  private ended(name: string, run: ExportRun, report: ExportReport): void {
    const i = report.instances;
    for (const [outcome, n] of [['queued', i.queued], ['already-delivered', i.alreadyDelivered], ['not-queued', i.notQueued], ['failed', i.failed]] as const) if (n > 0) this.metrics.instances.inc({ job: name, outcome }, n);
    this.metrics.runs.inc({ job: name, state: report.state });
    this.metrics.behind.set({ job: name }, 0);
    if (report.state === 'complete' && !report.dryRun) this.metrics.lastSuccess.set({ job: name }, Math.floor((run.endedAt ?? this.now()) / 1000));
  }

  /** Wait for the run in progress of a job (tests, the CLI's in-process mode). */
  async settled(name: string): Promise<void> {
    await this.running.get(name)?.done;
  }

  async list(): Promise<ExportJobView[]> {
    const store = this.o.pipeline.exportStore;
    const views: ExportJobView[] = [];
    for (const [name, job] of Object.entries(this.o.jobs)) {
      const recent = await store.listExportRuns({ job: name, limit: 50 });
      const lastRun = recent[0];
      const success = recent.find((r) => r.state === 'complete' && !r.dryRun);
      const running = this.running.get(name);
      views.push({
        name,
        ...(job.description ? { description: job.description } : {}),
        ...(job.schedule ? { schedule: job.schedule.cron } : {}),
        timeZone: job.timeZone,
        ...(this.tasks.get(name)?.getNextRun() ? { nextRun: this.tasks.get(name)!.getNextRun()!.getTime() } : {}),
        ...(running?.id ? { running: { id: running.id, progress: running.progress } } : {}),
        ...(lastRun ? { lastRun } : {}),
        ...(success ? { lastSuccessAt: success.endedAt } : {}),
      });
    }
    return views;
  }

  async history(name: string, limit: number): Promise<ExportRun[]> {
    this.job(name);
    return this.o.pipeline.exportStore.listExportRuns({ job: name, limit });
  }

  async getRun(id: number): Promise<ExportRun> {
    const run = await this.o.pipeline.exportStore.getExportRun(id);
    if (!run) throw new AnofairError('NOT_FOUND', `no export run ${id}`, { id });
    const live = [...this.running.values()].find((r) => r.id === id);
    return live?.progress ? { ...run, progress: live.progress } : run;
  }

  /** Stop the schedules and interrupt the runs in progress (they resume at the next start). */
  async stop(): Promise<void> {
    for (const task of this.tasks.values()) await task.destroy();
    this.tasks.clear();
    this.abort.abort();
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.pacs.close();
    await Promise.all([...this.destinations.values()].map((d) => d.close()));
  }
}
