import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { Logger } from '../../observability/logger.js';
import type { DicomWebTarget } from './dicomweb-path.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './proxy-headers.js';
import type { UpstreamClient } from './upstream-client.js';

/**
 * Relay a QIDO-RS or WADO-RS request (GET or HEAD) to the upstream and stream its answer back unchanged:
 * status, media type, Content-Length and the body bytes as they arrive (never buffered whole), so Accept
 * negotiation (PS3.18 8.7), multipart boundaries and transfer syntaxes are the upstream's own.
 * Errors before the response starts reject (the HTTP layer answers 502/504); after it started, the client
 * connection is cut, which is the only honest signal left (the status line is already sent).
 */
export async function relayRead(
  req: Request,
  res: Response,
  target: DicomWebTarget,
  ctx: { upstream: UpstreamClient; forwardedHeaders: boolean; logger?: Logger },
): Promise<void> {
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  let answer: Awaited<ReturnType<UpstreamClient['request']>>;
  try {
    answer = await ctx.upstream.request({
      method: req.method === 'HEAD' ? 'HEAD' : 'GET',
      path: `${target.path}${target.query}`,
      headers: upstreamRequestHeaders(req, { forwarded: ctx.forwardedHeaders, keepContentLength: false }),
      signal: abort.signal,
    });
  } catch (err) {
    res.off('close', onClose);
    if (abort.signal.aborted) return; // the client went away first: nobody to answer, and not the PACS's fault
    throw err;
  }
  res.writeHead(answer.statusCode, clientResponseHeaders(answer.headers));
  if (req.method === 'HEAD') {
    answer.body.resume();
    res.end();
    return;
  }
  try {
    await pipeline(answer.body, res);
  } catch (err) {
    if (!abort.signal.aborted) ctx.logger?.warn({ err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'upstream response cut while relaying');
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}
