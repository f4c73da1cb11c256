import type { Request, RequestHandler } from 'express';
import type { Logger } from '../../observability/logger.js';
import type { HttpMetrics } from './http-metrics.js';

/**
 * The service a request belongs to, for logs and metrics (PS3.18: QIDO-RS 10.6, WADO-RS 10.4, STOW-RS 10.5).
 * Computed from the path shape only: no UID and no query string ever reaches a log line or a label.
 */
export function serviceOf(req: Request): string {
  const path = req.originalUrl.split('?')[0]!;
  const segments = path.split('/').filter(Boolean);
  if (segments[0] === 'deid') return 'deid-stow';
  if (segments[0] === 'api') return 'api';
  if (segments[0] !== 'dicom-web') return 'other';
  if (req.method === 'POST') return 'stow';
  const last = segments[segments.length - 1];
  return last === 'studies' || last === 'series' || last === 'instances' ? 'qido' : 'wado';
}

/** One log line and one metric sample per request, written when the response is finished or cut. */
export function requestLog(logger: Logger, metrics: HttpMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const service = serviceOf(req);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.writableFinished ? res.statusCode : 0; // 0: the connection was cut
      metrics.requests.inc({ service, method: req.method, status: String(status) });
      metrics.seconds.observe({ service }, seconds);
      const line = { kind: service, method: req.method, status, ms: Math.round(seconds * 10_000) / 10, bytesIn: Number(req.headers['content-length'] ?? 0) || undefined };
      if (status >= 500 || status === 0) logger.warn(line, 'request');
      else logger.info(line, 'request');
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  };
}
