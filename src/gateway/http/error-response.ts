import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AnofairError, isAnofairError, logContextOf } from '../../errors/anofair-error.js';
import { ERROR_CATALOGUE } from '../../errors/catalogue.js';
import type { Logger } from '../../observability/logger.js';
import type { HttpMetrics } from './http-metrics.js';
import { serviceOf } from './request-log.js';

/** The JSON body of every error the gateway itself answers: a stable code, a reason to act on, safe details. */
export interface ErrorBody {
  error: { code: string; status: number; message: string; details?: Record<string, unknown>; reference?: string };
}

/** Errors thrown by Express and its body parsers (http-errors), turned into catalogue errors. */
function fromFrameworkError(err: unknown): AnofairError | undefined {
  const e = err as { type?: string; status?: number; statusCode?: number; expose?: boolean; message?: string; limit?: number };
  if (e?.type === 'entity.too.large') return new AnofairError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${e.limit ?? '?'} bytes`);
  if (e?.type === 'entity.parse.failed') return new AnofairError('BAD_REQUEST', 'the request body could not be parsed');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AnofairError('UNSUPPORTED_MEDIA_TYPE', 'the request body encoding is not supported');
  if (err instanceof URIError) return new AnofairError('BAD_REQUEST', 'the URL is not correctly percent-encoded');
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && e?.expose) return new AnofairError('BAD_REQUEST', e.message ?? 'bad request');
  return undefined;
}

/** The one place that turns an error into an HTTP answer (STYLE 5). Never a stack trace, never PHI. */
export function sendError(res: Response, err: AnofairError, reference?: string): void {
  const status = ERROR_CATALOGUE[err.code].http;
  const body: ErrorBody = { error: { code: err.code, status, message: err.message, ...(err.details ? { details: err.details } : {}), ...(reference ? { reference } : {}) } };
  if (err.code === 'METHOD_NOT_ALLOWED' && Array.isArray(err.details?.allow)) res.setHeader('allow', (err.details.allow as string[]).join(', '));
  if (err.code === 'UNAUTHORIZED') {
    // RFC 6750 3: a refused token is invalid_token; no credentials at all gets the bare challenge
    const invalid = err.details?.invalidToken === true ? `, error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"` : '';
    res.setHeader('www-authenticate', [`Bearer realm="anofair"${invalid}`, 'Basic realm="anofair", charset="UTF-8"']);
  }
  if (err.code === 'FORBIDDEN' && typeof err.details?.scope === 'string') {
    res.setHeader('www-authenticate', `Bearer realm="anofair", error="insufficient_scope", scope="${err.details.scope}"`);
  }
  if ((err.code === 'THROTTLED' || err.code === 'BUSY') && typeof err.details?.retryAfterS === 'number') res.setHeader('retry-after', String(err.details.retryAfterS));
  res.status(status).type('application/json').send(JSON.stringify(body));
}

export function errorHandler(logger: Logger, metrics?: HttpMetrics): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (isAnofairError(err) && err.code.startsWith('UPSTREAM_')) metrics?.upstreamFailures.inc({ service: serviceOf(req), code: err.code });
    if (res.headersSent) {
      // The status line is out: cutting the connection is the only way left to say the answer is incomplete.
      res.destroy();
      return;
    }
    let known = isAnofairError(err) ? err : fromFrameworkError(err);
    let reference: string | undefined;
    if (!known) {
      reference = randomUUID();
      // The full error goes to the log under a reference the client can quote; the client gets neither stack nor message.
      logger.error({ reference, err: { name: (err as Error)?.name, message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'internal error');
      known = new AnofairError('INTERNAL', `an internal error occurred; quote reference ${reference} to the administrator`);
    } else if (ERROR_CATALOGUE[known.code].http >= 500) {
      logger.warn({ code: known.code, reason: known.message, method: req.method, ...logContextOf(known) }, 'request failed');
    } else {
      // Catalogue messages name attributes and limits, never values: safe to log.
      logger.info({ code: known.code, reason: known.message, method: req.method }, 'request refused');
    }
    sendError(res, known, reference);
  };
}

/** JSON 404 for everything no route claimed. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new AnofairError('NOT_FOUND', `no such resource on this gateway (${req.method}); see /dicom-web, /deid/dicom-web, /api`));
};
