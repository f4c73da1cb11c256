import type { Request, Response } from 'express';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { senderOf } from '../stow/sender.js';
import { sendError } from './error-response.js';

/**
 * The upload guard of the STOW-RS endpoints: how many uploads run at once, and how slowly a body may arrive.
 *
 * A clinical STOW-RS is streamed to the PACS as it arrives, so each upload in progress holds one of the PACS's
 * HTTP workers (Orthanc: HttpThreadsCount) for as long as its client takes to send the body. Without a guard, a
 * few dozen clients that announce a large body and then send a trickle hold every worker, and the PACS stops
 * answering queries for everyone. The guard therefore
 *   - admits at most stow.maxConcurrentRequests uploads per endpoint and stow.maxConcurrentPerClient per client,
 *     refusing the others (429 THROTTLED, 503 BUSY, with Retry-After) before anything is sent to the PACS;
 *   - cuts an admitted upload whose body stalls (server.bodyIdleTimeoutMs) or arrives slower than
 *     server.minUploadBytesPerSecond over server.uploadRateWindowMs, with 408 UPLOAD_TOO_SLOW, and aborts its
 *     upstream request so that the PACS frees the worker at once.
 * The clinical relay and the de-identify-only endpoint have separate slots: research uploads never take the
 * slots of clinical ones.
 */

export type UploadEndpoint = 'stow' | 'deid-stow';

export interface UploadLimits {
  /** Uploads in progress on one endpoint, all clients together. */
  maxConcurrentRequests: number;
  /** Uploads in progress on one endpoint from one client. */
  maxConcurrentPerClient: number;
  /** Slowest accepted average body rate, bytes/s; 0 = not checked. */
  minUploadBytesPerSecond: number;
  /** The rate is averaged over this long; the first window of an upload is not judged. */
  uploadRateWindowMs: number;
  /** Longest time without a byte of the body, ms; 0 = not checked. */
  bodyIdleTimeoutMs: number;
}

export function uploadLimits(config: Readonly<GatewayConfig>): UploadLimits {
  const { maxConcurrentRequests, maxConcurrentPerClient } = config.stow;
  const { minUploadBytesPerSecond, uploadRateWindowMs, bodyIdleTimeoutMs } = config.server;
  return { maxConcurrentRequests, maxConcurrentPerClient, minUploadBytesPerSecond, uploadRateWindowMs, bodyIdleTimeoutMs };
}

/** Retry-After of a refused upload, s: a slot frees as soon as any upload ends, so the hint is short. */
const RETRY_AFTER_S = 5;

export type UploadRefusal = 'client-limit' | 'total-limit' | 'too-slow' | 'stalled';

/**
 * Who an upload counts against: the authenticated principal (set by access control), else the peer address.
 * An anonymous principal ('none' credential) is no identity, so anonymous clients are told apart by address.
 */
export function uploadClient(req: Request, res: Response): string {
  const principal = res.locals.principal as { name?: unknown; credential?: unknown } | undefined;
  if (typeof principal?.name === 'string' && principal.credential !== 'none') return `principal:${principal.name}`;
  const sender = senderOf(req, res);
  if (sender.client) return `principal:${sender.client}`;
  return `address:${sender.address ?? 'unknown'}`;
}

/** The upload slots of one endpoint. */
class UploadSlots {
  private total = 0;
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: UploadLimits) {}

  get inUse(): number {
    return this.total;
  }

  /** A release function, or why there is no slot. The client's own share is checked first: that refusal is one it can act on. */
  take(client: string): (() => void) | 'client-limit' | 'total-limit' {
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.limits.maxConcurrentPerClient) return 'client-limit';
    if (this.total >= this.limits.maxConcurrentRequests) return 'total-limit';
    this.total++;
    this.perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
  }
}

/** One look at an upload's body: when, how many body bytes had arrived, and whether the gateway held unread bytes. */
export interface BodySample {
  at: number;
  bytes: number;
  /** The gateway has not consumed what arrived (its buffer for the request is full while the PACS or the spool is slow). */
  backlog: boolean;
}

/**
 * How fast a body arrives, judged from samples (pure: a test can hold it). Time in which the gateway itself held
 * the body back is never held against the client: after a backlog the idle clock and the rate window start again.
 */
export class BodyPace {
  private lastProgressAt: number;
  private lastBytes: number;
  private windowStartAt: number;
  /** Samples since the window start, oldest first: the rate is taken against the newest one a window old. */
  private samples: Array<{ at: number; bytes: number }>;

  constructor(
    private readonly limits: Pick<UploadLimits, 'minUploadBytesPerSecond' | 'uploadRateWindowMs' | 'bodyIdleTimeoutMs'>,
    start: { at: number; bytes: number },
  ) {
    this.lastProgressAt = start.at;
    this.lastBytes = start.bytes;
    this.windowStartAt = start.at;
    this.samples = [start];
  }

  /** The verdict on one sample: undefined while the client keeps up. */
  judge(s: BodySample): { reason: 'stalled'; idleMs: number } | { reason: 'too-slow'; bytesPerSecond: number } | undefined {
    if (s.backlog) {
      this.lastProgressAt = s.at;
      this.lastBytes = s.bytes;
      this.windowStartAt = s.at;
      this.samples = [{ at: s.at, bytes: s.bytes }];
      return undefined;
    }
    if (s.bytes > this.lastBytes) {
      this.lastBytes = s.bytes;
      this.lastProgressAt = s.at;
    }
    const idle = this.limits.bodyIdleTimeoutMs;
    if (idle > 0 && s.at - this.lastProgressAt >= idle) return { reason: 'stalled', idleMs: s.at - this.lastProgressAt };
    this.samples.push({ at: s.at, bytes: s.bytes });
    const min = this.limits.minUploadBytesPerSecond;
    const window = this.limits.uploadRateWindowMs;
    if (min <= 0 || s.at - this.windowStartAt < window) return undefined; // the first window is grace
    while (this.samples.length > 2 && s.at - this.samples[1]!.at >= window) this.samples.shift();
    const base = this.samples[0]!;
    const bytesPerSecond = ((s.bytes - base.bytes) * 1000) / (s.at - base.at);
    return bytesPerSecond < min ? { reason: 'too-slow', bytesPerSecond: Math.round(bytesPerSecond) } : undefined;
  }
}

interface Watched {
  endpoint: UploadEndpoint;
  client: string;
  req: Request;
  res: Response;
  startAt: number;
  startBytes: number;
  pace: BodyPace;
}

export interface UploadGuardOptions {
  registry: Registry;
  logger: Logger;
}

/** Admits STOW-RS uploads within the limits and cuts those whose body stalls or crawls (see the file comment). */
export class UploadGuard {
  private readonly slots: Record<UploadEndpoint, UploadSlots>;
  private readonly watched = new Set<Watched>();
  private readonly refusals: Counter<'endpoint' | 'reason'>;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: UploadLimits,
    private readonly o: UploadGuardOptions,
  ) {
    this.slots = { stow: new UploadSlots(limits), 'deid-stow': new UploadSlots(limits) };
    // A tenth of the shortest limit, at most a second: a cut comes at most that late.
    const checked = [limits.bodyIdleTimeoutMs, limits.minUploadBytesPerSecond > 0 ? limits.uploadRateWindowMs : 0].filter((ms) => ms > 0);
    this.tickMs = checked.length ? Math.max(20, Math.min(1_000, Math.floor(Math.min(...checked) / 10))) : 0;
    this.refusals =
      (o.registry.getSingleMetric('anofair_upload_refusals_total') as Counter<'endpoint' | 'reason'> | undefined) ??
      new Counter({
        name: 'anofair_upload_refusals_total',
        help: 'STOW-RS uploads refused (client-limit, total-limit) or cut (too-slow, stalled) by the upload guard, by endpoint',
        labelNames: ['endpoint', 'reason'],
        registers: [o.registry],
      });
    const slots = this.slots;
    if (!o.registry.getSingleMetric('anofair_uploads_in_progress')) {
      new Gauge({
        name: 'anofair_uploads_in_progress',
        help: 'STOW-RS uploads admitted and not yet answered, by endpoint',
        labelNames: ['endpoint'],
        registers: [o.registry],
        collect() {
          for (const endpoint of Object.keys(slots) as UploadEndpoint[]) this.set({ endpoint }, slots[endpoint].inUse);
        },
      });
    }
  }

  /**
   * Run an upload handler under the limits: refused with 429/503 before the handler starts when no slot is free;
   * cut with 408 while it runs when the body stalls or crawls. The handler reads the body from `req` as usual; a
   * cut makes that read fail, and the handler aborts its upstream request as on any failed read.
   */
  async run(endpoint: UploadEndpoint, req: Request, res: Response, handler: () => Promise<void>): Promise<void> {
    const client = uploadClient(req, res);
    const release = this.slots[endpoint].take(client);
    if (typeof release !== 'function') throw this.refuse(endpoint, client, release, res);
    const watch = this.watch(endpoint, client, req, res);
    // Outside the body, silence on the socket is the gateway's doing (it waits for the PACS's answer, bounded by
    // upstream.stowTimeoutMs) or is judged above; only a client that stops reading the answer is cut on
    // server.socketIdleTimeoutMs. A 'timeout' listener keeps Node from destroying the socket by itself.
    const onSocketIdle = (): void => {
      if (res.headersSent) res.socket?.destroy();
    };
    res.on('timeout', onSocketIdle);
    try {
      await handler();
    } finally {
      res.off('timeout', onSocketIdle);
      if (watch) this.unwatch(watch);
      release();
    }
  }

  private refuse(endpoint: UploadEndpoint, client: string, reason: 'client-limit' | 'total-limit', res: Response): AnofairError {
    this.refusals.inc({ endpoint, reason });
    this.o.logger.info({ endpoint, client, reason }, 'upload refused: no free upload slot');
    // The body is not read: closing the connection after the answer is the only way to be rid of it.
    res.setHeader('connection', 'close');
    const details = { retryAfterS: RETRY_AFTER_S };
    return reason === 'client-limit'
      ? new AnofairError('THROTTLED', `this client already has ${this.limits.maxConcurrentPerClient} STOW-RS uploads in progress (stow.maxConcurrentPerClient); retry in ${RETRY_AFTER_S} s`, { ...details, limit: 'stow.maxConcurrentPerClient' })
      : new AnofairError('BUSY', `the gateway has ${this.limits.maxConcurrentRequests} STOW-RS uploads in progress (stow.maxConcurrentRequests); retry in ${RETRY_AFTER_S} s`, { ...details, limit: 'stow.maxConcurrentRequests' });
  }

  private watch(endpoint: UploadEndpoint, client: string, req: Request, res: Response): Watched | undefined {
    if (this.tickMs === 0 || req.complete || !req.socket) return undefined;
    const at = Date.now();
    // Bytes the socket has read, headers included: the parser reads the socket directly, so the request stream
    // does not see bytes that arrive while the handler is busy, and the socket's count does.
    const startBytes = req.socket.bytesRead;
    const w: Watched = { endpoint, client, req, res, startAt: at, startBytes, pace: new BodyPace(this.limits, { at, bytes: 0 }) };
    this.watched.add(w);
    this.timer ??= setInterval(() => this.tick(), this.tickMs).unref();
    return w;
  }

  private unwatch(w: Watched): void {
    this.watched.delete(w);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const at = Date.now();
    for (const w of [...this.watched]) {
      const { req, res } = w;
      if (req.complete || req.destroyed || res.writableEnded || !req.socket) {
        this.unwatch(w); // the body is in (or the exchange is over): from here on the handler's own limits apply
        continue;
      }
      const verdict = w.pace.judge({ at, bytes: req.socket.bytesRead - w.startBytes, backlog: req.readableLength > 0 });
      if (verdict) this.cut(w, verdict, at);
    }
  }

  private cut(w: Watched, verdict: NonNullable<ReturnType<BodyPace['judge']>>, at: number): void {
    this.unwatch(w);
    const { endpoint, client, req, res } = w;
    const received = (req.socket?.bytesRead ?? w.startBytes) - w.startBytes;
    this.refusals.inc({ endpoint, reason: verdict.reason });
    const err =
      verdict.reason === 'stalled'
        ? new AnofairError('UPLOAD_TOO_SLOW', `no byte of the request body arrived for ${this.limits.bodyIdleTimeoutMs} ms (server.bodyIdleTimeoutMs)`, {
            reason: 'stalled',
            limit: 'server.bodyIdleTimeoutMs',
            idleMs: verdict.idleMs,
          })
        : new AnofairError(
            'UPLOAD_TOO_SLOW',
            `the request body arrived at ${verdict.bytesPerSecond} bytes/s over the last ${this.limits.uploadRateWindowMs} ms, below the minimum of ${this.limits.minUploadBytesPerSecond} bytes/s (server.minUploadBytesPerSecond)`,
            { reason: 'too-slow', limit: 'server.minUploadBytesPerSecond', bytesPerSecond: verdict.bytesPerSecond, windowMs: this.limits.uploadRateWindowMs },
          );
    this.o.logger.info({ endpoint, client, reason: verdict.reason, receivedBytes: received, ms: at - w.startAt }, 'upload cut: the body arrives too slowly');
    // Destroying the request makes the handler's read of the body fail, and the handler then aborts its upstream
    // request: that is what frees the PACS's worker. It waits for the answer to be handed to the socket, since
    // destroying the request closes the socket.
    let aborted = false;
    const abortUpstream = (): void => {
      if (aborted) return;
      aborted = true;
      clearTimeout(fallback);
      req.destroy(err);
    };
    const fallback = setTimeout(abortUpstream, 1_000);
    fallback.unref();
    if (res.headersSent) {
      abortUpstream();
      return;
    }
    res.setHeader('connection', 'close');
    res.once('finish', abortUpstream);
    res.once('close', abortUpstream);
    sendError(res, err);
  }
}
