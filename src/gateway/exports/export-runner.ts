import { setTimeout as sleep } from 'node:timers/promises';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { ResearchPipeline } from '../research-pipeline.js';
import type { RuleSet } from '../rules/rule-types.js';
import type { ExportRun, ExportTrigger, GatewayStore, QueueItem, SpoolEntry } from '../store/gateway-store.js';
import type { DicomwebSource, InstanceHit } from './dicomweb-source.js';
import type { ExportJobConfig } from './export-job-schema.js';
import { emptyCounts, type ExportProgress, type ExportReport } from './export-report.js';
import { dicomDateRange, msUntilHoursOpen, type DateWindow } from './study-dates.js';

export interface ExportRunRequest {
  job: string;
  config: ExportJobConfig;
  window: DateWindow;
  trigger: ExportTrigger;
  dryRun: boolean;
}

export interface ExportRunnerDeps {
  pipeline: ResearchPipeline;
  /** The rules that route this job's instances (the job's subset of the rule set, or all of it). */
  rules: RuleSet;
  pacs: DicomwebSource;
  /** Destinations by name, for reconciliation. */
  destinations: ReadonlyMap<string, DicomwebSource>;
  /** Lease owner: `<nodeId>/export`. */
  owner: string;
  leaseMs: number;
  logger?: Logger;
  now?: () => number;
  /** How often the run looks whether its instances have settled, ms. */
  settlePollMs?: number;
  /** Called once the run holds its lease and has an id. */
  onBegin?: (run: ExportRun) => void;
  onProgress?: (run: ExportRun, progress: ExportProgress) => void;
  onEnd?: (run: ExportRun, report: ExportReport) => void;
}

/**
 * The query parameters of the job's study search (QIDO-RS matching keys, PS3.18 8.3.4). ModalitiesInStudy is
 * not sent: some PACSs apply limit/offset before that filter (Orthanc 1.10 returns an empty second page where
 * more studies match), which would end the paging early and skip studies. It is checked here, on each page.
 */
export function studyQuery(config: ExportJobConfig, window: DateWindow): Record<string, string> {
  const q = config.query;
  return {
    ...q.attributes,
    StudyDate: dicomDateRange(window),
    ...(q.studyDescription ? { StudyDescription: q.studyDescription } : {}),
  };
}

/** Whether a study's modalities meet the job's ModalitiesInStudy; a PACS that does not list them lets the rules decide. */
export function modalitiesMatch(config: ExportJobConfig, modalities: readonly string[]): boolean {
  const wanted = config.query.modalitiesInStudy;
  return !wanted || modalities.length === 0 || modalities.some((m) => wanted.includes(m));
}

/**
 * Whether the ledger already holds this instance wherever the job's rules could send it: some rule of the job
 * queued it, for every destination of that rule. Routing is a function of the instance and the rules, so the
 * same rules would decide the same again; the retrieve is skipped. (The store's enqueue checks again, atomically.)
 */
export function coveredByLedger(entries: ReadonlyArray<{ destination: string; rule: string }>, rules: RuleSet): boolean {
  const byRule = new Map<string, Set<string>>();
  for (const e of entries) byRule.set(e.rule, (byRule.get(e.rule) ?? new Set()).add(e.destination));
  let some = false;
  for (const rule of rules.rules) {
    const have = byRule.get(rule.name);
    if (!have || rule.action.kind !== 'forward') continue;
    if (!rule.action.destinations.every((d) => have.has(d))) return false;
    some = true;
  }
  return some;
}

/**
 * One run of an export job: search the PACS, retrieve what the ledger does not have (bounded in concurrency, rate
 * and hours), hand each instance to the research pipeline (the same rules, de-identification and forwarding as
 * the tap), wait for the forwarder to settle them, reconcile with the destinations, and report. UIDs live only in
 * this function's memory; the store, the progress and the report hold counts and keyed references.
 */
export async function runExport(request: ExportRunRequest, deps: ExportRunnerDeps, signal: AbortSignal): Promise<{ run: ExportRun; report: ExportReport }> {
  const now = deps.now ?? Date.now;
  const store: GatewayStore = deps.pipeline.exportStore;
  const run = await store.beginExportRun({ job: request.job, owner: deps.owner, now: now(), leaseMs: deps.leaseMs, trigger: request.trigger, window: request.window, dryRun: request.dryRun });
  if (!run) throw new AnofairError('CONFLICT', `export job "${request.job}" is running already (on this or another gateway)`, { job: request.job });
  deps.onBegin?.(run);
  const { config } = request;
  const started = now();
  const progress: ExportProgress = { phase: 'searching', studies: { found: 0, done: 0 }, instances: emptyCounts(), bytes: 0 };
  const problems: string[] = [];
  const failures = new Map<string, number>();
  const note = (what: string): void => void failures.set(what, (failures.get(what) ?? 0) + 1);
  const refs = new Map<string, InstanceHit>();
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let leaseLost = false;
  const heartbeat = async (): Promise<void> => {
    if (!(await store.heartbeatExportRun(run.id, deps.owner, now(), deps.leaseMs, progress))) {
      leaseLost = true;
      stop.abort();
    }
    deps.onProgress?.(run, progress);
  };
  const beat = setInterval(() => void heartbeat().catch(() => undefined), Math.max(250, Math.floor(deps.leaseMs / 4)));
  let state: ExportReport['state'] = 'complete';
  let items: QueueItem[] = [];
  let reconciliation: ExportReport['reconciliation'];
  try {
    // 1. the studies, page by page
    const studies = new Set<string>();
    const query = studyQuery(config, request.window);
    for (let offset = 0; ; offset += config.query.pageSize) {
      const page = await deps.pacs.searchStudies(query, { limit: config.query.pageSize, offset }, stop.signal);
      for (const s of page) if (modalitiesMatch(config, s.modalities)) studies.add(s.studyInstanceUID);
      progress.studies.found = studies.size;
      if (page.length < config.query.pageSize) break;
    }
    await heartbeat();

    // 2. their instances: the ledger first, then retrieves within the limits
    progress.phase = 'retrieving';
    const limits = config.limits;
    const spacingMs = limits.instancesPerSecond > 0 ? 1_000 / limits.instancesPerSecond : 0;
    let nextSlot = now();
    const retrieveStart = now();
    const waitForTurn = async (): Promise<void> => {
      for (;;) {
        const closed = msUntilHoursOpen(now(), limits.window, config.timeZone);
        if (closed === 0) break;
        progress.phase = 'paused';
        progress.pausedUntil = now() + closed;
        await sleep(Math.min(closed, 5_000), undefined, { signal: stop.signal });
      }
      progress.phase = 'retrieving';
      progress.pausedUntil = undefined;
      const at = Math.max(nextSlot, now());
      nextSlot = at + spacingMs;
      if (at > now()) await sleep(at - now(), undefined, { signal: stop.signal });
    };
    const one = async (hit: InstanceHit): Promise<void> => {
      const ref = deps.pipeline.instanceRef(hit.sopInstanceUID);
      if (coveredByLedger(await store.ledgerEntries(ref), deps.rules)) {
        progress.instances.alreadyDelivered++;
        return;
      }
      if (request.dryRun) return;
      await waitForTurn();
      let bytes: Uint8Array;
      try {
        bytes = await deps.pacs.retrieve(hit, stop.signal);
      } catch (err) {
        if (stop.signal.aborted) throw err;
        progress.instances.failed++;
        note(`retrieve: ${err instanceof AnofairError ? (err.details?.status ? `HTTP ${String(err.details.status)}` : err.code) : 'INTERNAL'}`);
        return;
      }
      progress.instances.retrieved++;
      progress.bytes += bytes.length;
      refs.set(ref, hit);
      try {
        const result = await deps.pipeline.accept({ bytes }, { client: `export:${request.job}` }, 'export', { rules: deps.rules, exportRun: run.id });
        if (result.queued) progress.instances.queued++;
        else progress.instances.notQueued++;
      } catch (err) {
        progress.instances.failed++;
        note(`accept: ${err instanceof AnofairError ? err.code : 'INTERNAL'}`);
      }
    };
    for (const study of studies) {
      const hits = await deps.pacs.searchInstances({ studyInstanceUID: study }, stop.signal);
      progress.instances.found += hits.length;
      const queue = [...hits];
      const workers = Array.from({ length: Math.min(limits.concurrentRetrieves, queue.length) }, async () => {
        for (let hit = queue.shift(); hit; hit = queue.shift()) await one(hit);
      });
      await Promise.all(workers);
      progress.studies.done++;
      const rate = progress.instances.retrieved / Math.max(1, now() - retrieveStart);
      const left = progress.instances.found - progress.instances.retrieved - progress.instances.alreadyDelivered - progress.instances.failed;
      progress.etaMs = rate > 0 ? Math.round(left / rate) : undefined;
    }
    deps.pipeline.wake();

    // 3. wait for the forwarder to deliver or quarantine what this run queued
    progress.phase = 'settling';
    await heartbeat();
    const settleBy = now() + config.settleTimeoutMs;
    for (;;) {
      items = await store.exportRunItems(run.id);
      if (!items.some((i) => i.state === 'pending' || i.state === 'in-flight') || now() >= settleBy) break;
      await sleep(deps.settlePollMs ?? 500, undefined, { signal: stop.signal });
    }

    // 4. reconcile: is what the ledger calls delivered at its destination?
    if (config.reconcile && !request.dryRun) {
      progress.phase = 'reconciling';
      reconciliation = await reconcile(items, refs, deps, stop.signal, now);
      if (reconciliation.requeued > 0) items = await store.exportRunItems(run.id);
    }
  } catch (err) {
    if (stop.signal.aborted) {
      state = 'interrupted';
      problems.push(leaseLost ? 'the job lease was lost to another gateway' : 'the gateway stopped during the run');
    } else {
      state = 'failed';
      problems.push(err instanceof AnofairError ? `${err.code}: ${err.message}` : 'INTERNAL: the run failed');
      deps.logger?.error({ job: request.job, run: run.id, code: err instanceof AnofairError ? err.code : 'INTERNAL' }, 'export run failed');
    }
    items = await store.exportRunItems(run.id).catch(() => items);
  } finally {
    clearInterval(beat);
    signal.removeEventListener('abort', onAbort);
  }

  const count = (s: QueueItem['state']): number => items.filter((i) => i.state === s).length;
  const quarantineReasons: Record<string, number> = {};
  for (const i of items) {
    if (i.state !== 'quarantined') continue;
    const reason = i.quarantineReason ?? 'unknown';
    quarantineReasons[reason] = (quarantineReasons[reason] ?? 0) + 1;
  }
  const outcome = { delivered: count('delivered'), quarantined: count('quarantined'), waiting: count('pending') + count('in-flight'), discarded: count('discarded'), quarantineReasons };
  for (const [what, n] of failures) problems.push(`${n} instance(s) failed (${what}); the next run retries them`);
  if (outcome.waiting > 0) problems.push(`${outcome.waiting} instance(s) still waiting for their destination; the forwarder keeps retrying them`);
  if (reconciliation && reconciliation.missing > 0) problems.push(`${reconciliation.missing} delivered instance(s) missing at their destination; ${reconciliation.requeued} re-queued`);
  if (reconciliation && reconciliation.unchecked > 0) problems.push(`${reconciliation.unchecked} delivered instance(s) could not be checked at their destination`);
  if (state === 'complete' && problems.length > 0) state = 'incomplete';
  const report: ExportReport = {
    state,
    window: request.window,
    dryRun: request.dryRun,
    durationMs: now() - started,
    studies: progress.studies.found,
    instances: progress.instances,
    bytes: progress.bytes,
    outcome,
    ...(reconciliation ? { reconciliation } : {}),
    problems,
  };
  if (!leaseLost) await store.endExportRun(run.id, deps.owner, state, report, now());
  deps.logger?.info({ job: request.job, run: run.id, state, studies: report.studies, instances: report.instances, outcome: { delivered: outcome.delivered, quarantined: outcome.quarantined, waiting: outcome.waiting } }, 'export run ended');
  const ended = { ...run, state, endedAt: now(), report };
  deps.onEnd?.(ended, report);
  return { run: ended, report };
}

async function reconcile(
  items: readonly QueueItem[],
  refs: ReadonlyMap<string, InstanceHit>,
  deps: ExportRunnerDeps,
  signal: AbortSignal,
  now: () => number,
): Promise<NonNullable<ExportReport['reconciliation']>> {
  const result = { checked: 0, confirmed: 0, missing: 0, requeued: 0, unchecked: 0 };
  const store = deps.pipeline.exportStore;
  for (const item of items) {
    if (item.state !== 'delivered') continue;
    const destination = deps.destinations.get(item.job.destination);
    if (!destination || !item.deidSopInstanceUID) {
      result.unchecked++;
      continue;
    }
    let found: InstanceHit[];
    try {
      found = await destination.searchInstances({ query: { SOPInstanceUID: item.deidSopInstanceUID } }, signal);
    } catch {
      if (signal.aborted) throw new Error('aborted');
      result.unchecked++;
      continue;
    }
    result.checked++;
    if (found.some((h) => h.sopInstanceUID === item.deidSopInstanceUID)) {
      result.confirmed++;
      continue;
    }
    result.missing++;
    // the spool file went once the item was delivered: retrieve the instance again and point the item at it
    const hit = refs.get(item.instanceRef);
    if (!hit) continue;
    try {
      let replacement: SpoolEntry | undefined;
      if (!(await store.getSpoolEntry(item.spoolId))) {
        const written = await deps.pipeline.exportSpool.write(await deps.pacs.retrieve(hit, signal));
        replacement = { ...written, mode: 'export', instanceRef: item.instanceRef, studyRef: item.studyRef, receivedAt: now() };
      }
      if (await store.requeueDelivered(item.id, now(), replacement)) result.requeued++;
    } catch {
      if (signal.aborted) throw new Error('aborted');
    }
  }
  if (result.requeued > 0) deps.pipeline.wake();
  return result;
}
