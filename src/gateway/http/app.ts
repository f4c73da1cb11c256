import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Registry } from 'prom-client';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { dicomWebTarget } from '../proxy/dicomweb-path.js';
import { relayRead } from '../proxy/dicomweb-proxy.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import { receiveDeidStow } from '../stow/deid-stow.js';
import type { ResearchIntake } from '../stow/research-intake.js';
import type { AccessControl } from '../access/access-control.js';
import { researchApiScopes } from '../access/scopes.js';
import { NO_AUDIT, type AuditSink } from '../audit/audit-event.js';
import { relayStow } from '../stow/stow-tap.js';
import { requestAudit } from './request-audit.js';
import { errorHandler, notFound } from './error-response.js';
import { HttpMetrics } from './http-metrics.js';
import { requestLog } from './request-log.js';
import { UploadGuard, uploadLimits } from './upload-guard.js';

export interface AppDependencies {
  config: Readonly<GatewayConfig>;
  upstream: UpstreamClient;
  logger: Logger;
  registry: Registry;
  /** The research pipeline (STOW tap and de-identify-only endpoint); absent: both are off. */
  research?: ResearchIntake;
  /** Routes mounted at /api (rules dry-run, quarantine, queue status). */
  apiRouter?: Router;
  /** The export jobs' routes, mounted at /api/exports (scope operator). */
  exportsRouter?: Router;
  /** Folder for temporary files (STOW part capture). */
  tmpRoot: string;
  /** Extra facts for GET /status (e.g. the research pipeline's queue status). */
  status?: () => Promise<Record<string, unknown>>;
  /** Host check, authentication and the scope of each route family. */
  access: AccessControl;
  /** The audit trail (clinical requests and de-identify-only uploads are recorded here). */
  audit?: AuditSink;
}

/** Express 5 passes rejected promises to next(); this names the intent. */
const route =
  (fn: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next);
  };

const STOW_PATH = /^\/studies(\/[^/?]+)?\/?$/;

/**
 * The gateway's HTTP application: /dicom-web (clinical pass-through with the STOW tap), /deid/dicom-web
 * (de-identify-only STOW-RS), /api (research API), /healthz, /status and /metrics. No request body is parsed
 * here: DICOMweb bodies are streamed by the handlers themselves.
 */
export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const metrics = new HttpMetrics(deps.registry);
  const { config, upstream, logger } = deps;
  const stowCtx = { upstream, config, research: deps.research, tmpRoot: deps.tmpRoot, metrics, logger };
  const uploads = new UploadGuard(uploadLimits(config), { registry: deps.registry, logger });

  const { access } = deps;
  const audit = deps.audit ?? NO_AUDIT;
  app.use(requestLog(logger, metrics));
  app.use(access.hostCheck());
  app.use(access.authenticate());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(
    '/status',
    access.requireScope(['operator']),
    route(async (_req, res) => {
      res.json({
        upstream: upstream.url,
        stowTap: Boolean(config.stow.tap && deps.research),
        deidEndpoint: Boolean(config.deidEndpoint.enabled && deps.research),
        ...(deps.status ? await deps.status() : {}),
      });
    }),
  );
  if (config.metrics.enabled) {
    app.get(
      '/metrics',
      access.requireScope(['metrics']),
      route(async (_req, res) => {
        res.type(deps.registry.contentType).send(await deps.registry.metrics());
      }),
    );
  }

  const dicomWeb = express.Router();
  dicomWeb.use(
    route(async (req, res) => {
      const target = dicomWebTarget(req.url);
      if (req.method === 'GET' || req.method === 'HEAD') {
        await relayRead(req, res, target, { upstream, forwardedHeaders: config.upstream.forwardedHeaders, logger });
        return;
      }
      if (req.method === 'POST' && STOW_PATH.test(target.path)) {
        await uploads.run('stow', req, res, () => relayStow(req, res, target, stowCtx));
        return;
      }
      throw methodNotAllowed(req.method, target.path);
    }),
  );
  app.use('/dicom-web', access.requireScope(['clinical']), requestAudit(audit, 'clinical'), dicomWeb);

  if (config.deidEndpoint.enabled) {
    const deid = express.Router();
    deid.use(
      route(async (req, res) => {
        const target = dicomWebTarget(req.url);
        if (req.method !== 'POST' || !STOW_PATH.test(target.path)) {
          throw new AnofairError('METHOD_NOT_ALLOWED', 'the de-identify-only endpoint takes STOW-RS: POST /deid/dicom-web/studies[/{study}]', { allow: ['POST'] });
        }
        await uploads.run('deid-stow', req, res, () => receiveDeidStow(req, res, target, stowCtx));
      }),
    );
    app.use('/deid/dicom-web', access.requireScope(['research-ingest']), requestAudit(audit, 'deid'), deid);
  }

  if (deps.exportsRouter) app.use('/api/exports', access.requireScope(['operator']), deps.exportsRouter);
  if (deps.apiRouter) app.use('/api', access.requireScope((req) => researchApiScopes(req.method, req.path)), deps.apiRouter);

  app.use(notFound);
  app.use(errorHandler(logger, metrics));
  return app;
}

function methodNotAllowed(method: string, path: string): AnofairError {
  const allow = STOW_PATH.test(path) ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
  return new AnofairError('METHOD_NOT_ALLOWED', `${method} is not relayed: the gateway offers QIDO-RS and WADO-RS (GET) and STOW-RS (POST /studies)`, { allow });
}
