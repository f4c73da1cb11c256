import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../test/support/repo-paths.js';
import { after, before, describe, it } from 'node:test';
import { startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { orthancJson, uploadInstance } from '../../../test/harness/orthanc.js';
import { syntheticStudy } from '../../../test/support/synthetic-instance.js';
import { multipartBody, newTestBoundary, stowContentType } from '../../../test/harness/stow-body.js';
import { waitFor } from '../../../test/support/wait-for.js';
import type { ExportReport } from './export-report.js';
import { localDate } from './study-dates.js';
import type { ExportRun } from '../store/gateway-store.js';

/**
 * Nightly exports against two real Orthanc servers: a job configured in YAML moves yesterday's chest
 * radiographs from the PACS to the research archive, de-identified, exactly once: across re-runs, overlapping
 * windows and a copy of the same study that came by the STOW tap; a destination that is down makes the run
 * 'incomplete' and reconciliation says what is missing.
 */

const RULES = `version: 1
rules:
  - name: chest
    when:
      attribute: Modality
      oneOf: [CR, DX]
    forward: { destinations: [research] }
  - name: to-nowhere
    when:
      attribute: Modality
      oneOf: [CR, DX]
    forward: { destinations: [nowhere] }
`;

const NOW = Date.now();
const YESTERDAY = localDate(NOW, 'UTC', -1);
const THREE_DAYS_AGO = localDate(NOW, 'UTC', -3);
const iso = (d: string): string => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;

async function startRun(stack: Stack, job: string, query = ''): Promise<ExportRun> {
  const res = await fetch(`${stack.url}/api/exports/${job}/runs${query}`, { method: 'POST' });
  const body = (await res.json()) as ExportRun;
  assert.equal(res.status, 202, JSON.stringify(body));
  return body;
}

async function finished(stack: Stack, id: number): Promise<ExportRun & { report: ExportReport }> {
  return waitFor(
    `export run ${id} to end`,
    async () => {
      const run = (await (await fetch(`${stack.url}/api/exports/runs/${id}`)).json()) as ExportRun;
      return run.state !== 'running' && (run as ExportRun & { report: ExportReport });
    },
    60_000,
    100,
  );
}

async function archived(stack: Stack): Promise<Array<{ PatientName?: string; SOPInstanceUID: string }>> {
  const ids = await orthancJson<string[]>(stack.archive!, '/instances');
  return Promise.all(ids.map(async (id) => (await orthancJson<Record<string, string>>(stack.archive!, `/instances/${id}/simplified-tags`)) as { PatientName?: string; SOPInstanceUID: string }));
}

describe('nightly exports from the PACS through the research path (real PACS and archive)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      rules: RULES,
      config: {
        auth: { mode: 'off' },
        forwarding: { pollMs: 100 },
        destinations: { nowhere: { url: 'http://127.0.0.1:9/dicom-web', timeoutMs: 1_000 } },
        exports: {
          'chest-nightly': { query: { studyDate: 'yesterday', modalitiesInStudy: ['CR', 'DX'], pageSize: 1 }, rules: ['chest'], limits: { instancesPerSecond: 0 }, settleTimeoutMs: 30_000 },
          'to-nowhere': { query: { studyDate: 'yesterday' }, rules: ['to-nowhere'], settleTimeoutMs: 1_500 },
        },
      },
    });
    // On the PACS: yesterday's chest study (2 instances) and CT study, and a chest study of three days ago.
    for (const bytes of [
      ...syntheticStudy('export-yesterday', 2, { StudyDate: YESTERDAY, PatientName: 'Export^Yesterday', PatientID: 'EXP-1' }),
      ...syntheticStudy('export-ct', 1, { StudyDate: YESTERDAY, Modality: 'CT', PatientName: 'Export^Ct', PatientID: 'EXP-2' }),
      ...syntheticStudy('export-older', 1, { StudyDate: THREE_DAYS_AGO, PatientName: 'Export^Older', PatientID: 'EXP-3' }),
    ]) {
      await uploadInstance(stack.pacs, bytes);
    }
  });
  after(async () => {
    await stack?.stop();
  });

  it("moves yesterday's chest radiographs into the archive, de-identified, and reports and reconciles the run", async () => {
    const started = await startRun(stack, 'chest-nightly');
    assert.deepEqual([started.state, started.trigger, started.window], ['running', 'manual', { from: YESTERDAY, to: YESTERDAY }]);
    const run = await finished(stack, started.id);
    const r = run.report;
    assert.equal(run.state, 'complete', JSON.stringify(r));
    assert.equal(r.studies, 1, 'the CT study and the older study are not selected');
    assert.deepEqual(r.instances, { found: 2, alreadyDelivered: 0, retrieved: 2, queued: 2, notQueued: 0, failed: 0 });
    assert.deepEqual([r.outcome.delivered, r.outcome.quarantined, r.outcome.waiting], [2, 0, 0]);
    assert.deepEqual(r.reconciliation, { checked: 2, confirmed: 2, missing: 0, requeued: 0, unchecked: 0 });
    const inArchive = await archived(stack);
    assert.equal(inArchive.length, 2);
    for (const i of inArchive) assert.ok(!/Export\^/.test(i.PatientName ?? ''), 'the patient name did not reach the archive');
    const history = (await (await fetch(`${stack.url}/api/exports/chest-nightly/runs`)).json()) as { runs: ExportRun[] };
    assert.deepEqual(history.runs.map((h) => h.id), [started.id]);
    assert.doesNotMatch(JSON.stringify(history), /Export\^|EXP-|2\.25\./, 'the run record holds no name, ID or original UID');
    assert.doesNotMatch(stack.logs.join('\n'), /Export\^|EXP-1/, 'nor do the logs');
  });

  it('sends nothing twice: a re-run, an overlapping window and a copy that came by the STOW tap', async () => {
    const again = (await finished(stack, (await startRun(stack, 'chest-nightly')).id)).report;
    assert.deepEqual([again.instances.alreadyDelivered, again.instances.retrieved, again.instances.queued], [2, 0, 0], 'the ledger skips them without a retrieve');
    assert.equal((await archived(stack)).length, 2);

    // yesterday's study of a second patient arrives by the tap first, then the window widens to three days ago
    const tapped = syntheticStudy('export-tapped', 1, { StudyDate: YESTERDAY, PatientName: 'Export^Tapped', PatientID: 'EXP-4' });
    const boundary = newTestBoundary();
    const stow = await fetch(`${stack.url}/dicom-web/studies`, { method: 'POST', headers: { 'content-type': stowContentType(boundary), accept: 'application/dicom+json' }, body: new Uint8Array(multipartBody(tapped.map((bytes) => ({ bytes })), boundary)) });
    assert.equal(stow.status, 200, await stow.text());
    await waitFor('the tapped instance to reach the archive', async () => (await archived(stack)).length === 3, 20_000);
    const wide = await finished(stack, (await startRun(stack, 'chest-nightly', `?since=${iso(THREE_DAYS_AGO)}`)).id);
    assert.equal(wide.state, 'complete', JSON.stringify(wide.report));
    assert.deepEqual(wide.window, { from: THREE_DAYS_AGO, to: YESTERDAY });
    assert.equal(wide.report.studies, 3);
    assert.deepEqual([wide.report.instances.alreadyDelivered, wide.report.instances.queued], [3, 1], 'only the older study is new');
    const inArchive = await archived(stack);
    assert.equal(inArchive.length, 4, 'every instance exactly once');
    assert.equal(new Set(inArchive.map((i) => i.SOPInstanceUID)).size, 4);
  });

  it("ends 'incomplete' when the destination cannot take the instances, and they stay queued for retry", async () => {
    const run = await finished(stack, (await startRun(stack, 'to-nowhere')).id);
    assert.equal(run.state, 'incomplete');
    // yesterday: three chest radiographs (two by export, one by the tap, none yet to "nowhere") and a CT no rule routes
    assert.deepEqual([run.report.instances.queued, run.report.instances.notQueued], [3, 1]);
    assert.equal(run.report.outcome.waiting, 3);
    assert.ok(run.report.problems.some((p) => /3 instance\(s\) still waiting/.test(p)), run.report.problems.join('; '));
    const queue = (await (await fetch(`${stack.url}/api/queue`)).json()) as unknown;
    assert.match(JSON.stringify(queue), /nowhere/);
  });

  it('refuses a second run of a job in progress, an unknown job and a bad date, each with a reason', async () => {
    const slow = await startRun(stack, 'to-nowhere');
    const again = await fetch(`${stack.url}/api/exports/to-nowhere/runs`, { method: 'POST' });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { error: { message: string } }).error.message, /running already/);
    await finished(stack, slow.id);
    const unknown = await fetch(`${stack.url}/api/exports/no-such-job/runs`, { method: 'POST' });
    assert.equal(unknown.status, 404);
    const bad = await fetch(`${stack.url}/api/exports/chest-nightly/runs?since=2026-02-30`, { method: 'POST' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /since: "2026-02-30" is not a date/);
  });

  it('`anofair export run` starts a run through the API, follows it and prints its report; `history` lists the runs', async () => {
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin/anofair.js'), 'export', ...args, '--gateway', stack.url], { timeout: 60_000 });
    const { stdout, stderr } = await cli('run', 'chest-nightly', '--since', iso(THREE_DAYS_AGO));
    assert.match(stderr, new RegExp(`study dates ${iso(THREE_DAYS_AGO)} to ${iso(YESTERDAY)}`));
    assert.match(stdout, /: complete \(/);
    assert.match(stdout, /studies 3; instances found 4, already delivered 4, retrieved 0/);
    const history = await cli('history', 'chest-nightly');
    assert.equal(history.stdout.trim().split('\n').length, 4);
    const failed = await cli('run', 'no-such-job').then(() => undefined, (err: { code: number; stderr: string }) => err);
    assert.equal(failed?.code, 2);
    assert.match(failed?.stderr ?? '', /no export job "no-such-job"/);
  });

  it('lists the jobs with their last run and exposes export metrics', async () => {
    const { jobs } = (await (await fetch(`${stack.url}/api/exports`)).json()) as { jobs: Array<{ name: string; lastRun?: ExportRun; lastSuccessAt?: number }> };
    assert.deepEqual(jobs.map((j) => j.name), ['chest-nightly', 'to-nowhere']);
    assert.equal(jobs[0]!.lastRun?.state, 'complete');
    assert.ok(jobs[0]!.lastSuccessAt);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    assert.match(metrics, /anofair_export_runs_total\{job="chest-nightly",state="complete"\} 4/);
    assert.match(metrics, /anofair_export_instances_total\{job="chest-nightly",outcome="already-delivered"\} 9/);
    assert.match(metrics, /anofair_export_last_success_timestamp_seconds\{job="chest-nightly"\} \d+/);
  });
});
