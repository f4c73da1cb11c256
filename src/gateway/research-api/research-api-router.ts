import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AnofairError } from '../../errors/anofair-error.js';
import { principalOf } from '../access/access-control.js';
import type { AuditActor } from '../audit/audit-event.js';
import type { ResearchPipeline } from '../research-pipeline.js';
import { senderOf } from '../stow/sender.js';
import { itemView, quarantineView } from './queue-report.js';

function parseId(text: string | string[] | undefined): number {
  const value = Array.isArray(text) ? text[0] : text;
  if (!value || !/^\d{1,15}$/.test(value)) throw new AnofairError('BAD_REQUEST', 'the quarantine id must be a positive integer');
  return Number(value);
}

function parseCount(text: unknown, name: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (typeof text !== 'string' || !/^\d{1,9}$/.test(text) || Number(text) > max) {
    throw new AnofairError('BAD_REQUEST', `${name} must be an integer from 0 to ${max}`);
  }
  return Number(text);
}

/** Who asks, for the audit trail: the principal access control set (absent without it) and the peer address. */
export function actorOf(req: Request, res: Response, route: string): AuditActor {
  const principal = principalOf(res);
  return { actor: principal?.name, credential: principal?.credential, address: senderOf(req, res).address, method: req.method, route };
}

/** Express 5 passes rejected promises to next(); this keeps the handlers short and typed. */
export const handle =
  (fn: (req: Request, res: Response) => Promise<unknown> | unknown) =>
  async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      await fn(req, res);
    } catch (err) {
      next(err);
    }
  };

/**
 * The research API, mounted by the HTTP layer at /api. Errors go to next() as AnofairError values; the HTTP
 * layer maps them to statuses in one place. Nothing here logs request bodies: a dry run's answer holds PHI.
 */
export function researchApiRouter(pipeline: ResearchPipeline, options: { dryRunMaxBytes: number }): Router {
  const router = express.Router();
  const rawDicom = express.raw({ type: () => true, limit: options.dryRunMaxBytes });

  router.post(
    '/rules/dry-run',
    (req, _res, next) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/dicom') {
        next(new AnofairError('UNSUPPORTED_MEDIA_TYPE', `send one DICOM instance as application/dicom (got ${type || 'no content type'})`));
        return;
      }
      rawDicom(req, _res, (err?: unknown) => {
        const e = err as { type?: string; status?: number } | undefined;
        if (e?.type === 'entity.too.large') next(new AnofairError('PAYLOAD_TOO_LARGE', `the instance exceeds ${options.dryRunMaxBytes} bytes`));
        else if (e) next(new AnofairError('BAD_REQUEST', 'the request body could not be read'));
        else next();
      });
    },
    handle(async (req, res) => {
      const body = req.body as Buffer | undefined;
      if (!Buffer.isBuffer(body) || body.byteLength === 0) throw new AnofairError('BAD_REQUEST', 'the body is empty: send one DICOM instance');
      const q = req.query as Record<string, unknown>;
      const sender = {
        client: typeof q.client === 'string' && q.client !== '' ? q.client : undefined,
        address: typeof q.address === 'string' && q.address !== '' ? q.address : undefined,
      };
      res.set('cache-control', 'no-store');
      res.json(await pipeline.dryRun(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), sender, actorOf(req, res, '/api/rules')));
    }),
  );

  router.get(
    '/queue',
    handle(async (_req, res) => {
      res.json(await pipeline.status());
    }),
  );

  router.get(
    '/quarantine',
    handle(async (req, res) => {
      const limit = parseCount(req.query.limit, 'limit', 100, 1000);
      const offset = parseCount(req.query.offset, 'offset', 0, 1_000_000_000);
      const destination = typeof req.query.destination === 'string' ? req.query.destination : undefined;
      const page = await pipeline.listQuarantine({ limit, offset, destination });
      res.json({ total: page.total, limit, offset, items: page.items.map(quarantineView) });
    }),
  );

  router.post(
    '/quarantine/:id/retry',
    handle(async (req, res) => {
      res.json(itemView(await pipeline.retryQuarantined(parseId(req.params.id), actorOf(req, res, '/api/quarantine'))));
    }),
  );

  router.delete(
    '/quarantine/:id',
    handle(async (req, res) => {
      res.json(itemView(await pipeline.discardQuarantined(parseId(req.params.id), actorOf(req, res, '/api/quarantine'))));
    }),
  );

  return router;
}
