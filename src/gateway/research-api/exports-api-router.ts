import express, { type Router } from 'express';
import { AnofairError } from '../../errors/anofair-error.js';
import type { AuditSink } from '../audit/audit-event.js';
import type { ExportJobs } from '../exports/export-jobs.js';
import { parseDateArgument } from '../exports/study-dates.js';
import { actorOf, handle } from './research-api-router.js';

function dateParam(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new AnofairError('BAD_REQUEST', `${name} must be a date (YYYY-MM-DD)`);
  try {
    return parseDateArgument(value);
  } catch (err) {
    throw new AnofairError('BAD_REQUEST', `${name}: ${(err as Error).message}`);
  }
}

/**
 * The export jobs' API, mounted at /api/exports (scope operator): what `anofair export` and the dashboard use.
 *   GET  /api/exports                  the jobs, their next run, the run in progress and the last one
 *   POST /api/exports/:job/runs        start a run now (?since=&until=&dryRun=true); 202 with the run
 *   GET  /api/exports/:job/runs        the job's runs, newest first (?limit=)
 *   GET  /api/exports/runs/:id         one run, with its progress or report
 */
export function exportsApiRouter(jobs: ExportJobs, audit: AuditSink): Router {
  const router = express.Router();
  router.get('/', handle(async (_req, res) => void res.json({ jobs: await jobs.list() })));
  router.get(
    '/runs/:id',
    handle(async (req, res) => {
      const id = String(req.params.id);
      if (!/^\d{1,15}$/.test(id)) throw new AnofairError('BAD_REQUEST', 'the run id must be a positive integer');
      res.json(await jobs.getRun(Number(id)));
    }),
  );
  router.get(
    '/:job/runs',
    handle(async (req, res) => {
      const limit = req.query.limit === undefined ? 20 : Number(req.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new AnofairError('BAD_REQUEST', 'limit must be an integer from 1 to 500');
      res.json({ runs: await jobs.history(String(req.params.job), limit) });
    }),
  );
  router.post(
    '/:job/runs',
    handle(async (req, res) => {
      const job = String(req.params.job);
      const since = dateParam(req.query.since, 'since');
      const until = dateParam(req.query.until, 'until');
      const dryRun = req.query.dryRun === 'true' || req.query.dryRun === '1';
      const by = actorOf(req, res, '/api/exports/:job/runs');
      try {
        const run = await jobs.runNow(job, { trigger: 'manual', window: { from: since, to: until }, dryRun });
        audit.record({ type: 'export-run', outcome: 'success', ...by, detail: { job, run: run.id, from: run.window.from, to: run.window.to, dryRun } });
        res.status(202).location(`/api/exports/runs/${run.id}`).json(run);
      } catch (err) {
        audit.record({ type: 'export-run', outcome: 'failure', ...by, detail: { job, reason: err instanceof AnofairError ? err.code : 'INTERNAL' } });
        throw err;
      }
    }),
  );
  return router;
}
