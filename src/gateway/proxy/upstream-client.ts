import { Pool, type Dispatcher } from 'undici';
import { AnofairError, withLogContext } from '../../errors/anofair-error.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { clientTlsOptions, isTlsFailure } from '../tls/tls-client-options.js';

export interface UpstreamRequest {
  method: 'GET' | 'HEAD' | 'POST';
  /** Path and query relative to the upstream's DICOMweb root, starting with "/", e.g. "/studies?limit=5". */
  path: string;
  headers: Record<string, string | string[]>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
  /** Overrides the configured wait for response headers, ms. */
  headersTimeoutMs?: number;
}

/** Bytes buffered per relayed response body. */
export const RELAY_BUFFER_BYTES = 1024 * 1024;

/** Network failures that mean the upstream could not be reached, or answered nothing usable. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errorCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && e.code !== 'UND_ERR') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * The gateway's one connection pool to the clinical PACS (undici: keep-alive, pipelined bodies, streams both
 * ways). Failures become AnofairError values that the HTTP layer maps to 502/504 with a JSON body.
 */
export class UpstreamClient {
  readonly origin: string;
  /** The DICOMweb root's path on the upstream, without a trailing "/" (may be ""). */
  readonly basePath: string;
  private readonly pool: Pool;
  private readonly fixedHeaders: Record<string, string>;

  constructor(private readonly config: GatewayConfig['upstream']) {
    const url = new URL(config.url);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, {
      connections: config.connections,
      // upstream.tls's files are read here, once: a missing or unusable one fails the start (CONFIG_INVALID).
      connect: { timeout: config.connectTimeoutMs, ...clientTlsOptions('upstream.tls', config.tls) },
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
      keepAliveTimeout: 30_000,
    });
    this.fixedHeaders = Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k.toLowerCase(), v]));
    if (config.basicAuth) {
      this.fixedHeaders.authorization = `Basic ${Buffer.from(`${config.basicAuth.username}:${config.basicAuth.password}`).toString('base64')}`;
    }
  }

  /** The upstream's DICOMweb root, for messages (origin and path only: never user info). */
  get url(): string {
    return `${this.origin}${this.basePath}`;
  }

  /** Send a request; resolves with the response (body not yet read) or rejects with an AnofairError. */
  async request(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool.request({
        method: req.method,
        path: `${this.basePath}${req.path}`,
        headers: { ...req.headers, ...this.fixedHeaders },
        body: req.body,
        signal: req.signal,
        headersTimeout: req.headersTimeoutMs,
        // Larger buffers mean fewer hand-offs between the upstream socket and the client socket (WADO throughput).
        highWaterMark: RELAY_BUFFER_BYTES,
      });
    } catch (err) {
      throw toUpstreamError(err, this.url);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** The PACS's address goes to the gateway's log only: a client is never told where the PACS is. */
function upstreamError(code: 'UPSTREAM_TIMEOUT' | 'UPSTREAM_UNREACHABLE' | 'UPSTREAM_ERROR', message: string, cause: string, upstream: string, err: unknown, context: Record<string, string> = {}): AnofairError {
  return withLogContext(new AnofairError(code, message, { cause }, { cause: err }), { upstream, ...context });
}

/** The innermost message of an error chain (Node's TLS errors say there what failed, e.g. "certificate has expired"). */
function innermostMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = 'error';
  for (let depth = 0; e && depth < 4; depth++, e = e.cause as typeof e) if (typeof e.message === 'string' && e.message) message = e.message;
  return message;
}

/** The one mapping from network failures to the catalogue (502 unreachable / 504 timeout / 502 failed). */
export function toUpstreamError(err: unknown, upstream: string): AnofairError {
  if (err instanceof AnofairError) return err;
  const code = errorCode(err);
  if (code && TIMEOUT.has(code)) return upstreamError('UPSTREAM_TIMEOUT', `the clinical PACS did not answer in time (${code})`, code, upstream, err);
  // Why the certificate or handshake failed (names the PACS's host) is for the log only.
  if (isTlsFailure(code)) return upstreamError('UPSTREAM_UNREACHABLE', `no trusted TLS connection to the clinical PACS (${code})`, code!, upstream, err, { tls: innermostMessage(err) });
  if (code && UNREACHABLE.has(code)) return upstreamError('UPSTREAM_UNREACHABLE', `the clinical PACS could not be reached (${code})`, code, upstream, err);
  if ((err as Error)?.name === 'AbortError' || code === 'UND_ERR_ABORTED') {
    return upstreamError('UPSTREAM_ERROR', 'the upstream request was aborted', 'aborted', upstream, err);
  }
  return upstreamError('UPSTREAM_ERROR', `the request to the clinical PACS failed (${code ?? 'error'})`, code ?? 'error', upstream, err);
}
