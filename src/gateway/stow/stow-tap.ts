import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { AnofairError, isAnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayConfig } from '../config/config-schema.js';
import type { HttpMetrics } from '../http/http-metrics.js';
import type { DicomWebTarget } from '../proxy/dicomweb-path.js';
import { clientResponseHeaders, upstreamRequestHeaders } from '../proxy/proxy-headers.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import { MultipartRelatedParser, type MultipartEvent, type PartHeaders } from './multipart-parser.js';
import { PartFiles, type CapturedPart } from './part-files.js';
import { PartInspector } from './part-inspector.js';
import { readBounded } from './read-bounded.js';
import type { ResearchIntake } from './research-intake.js';
import { senderOf } from './sender.js';
import { checkStowRequest, partMediaType, stowPartLimits, stowParserLimits } from './stow-request.js';
import { storedByUpstream, type StoredByUpstream } from './upstream-stow-answer.js';
import { stripTransferSyntax } from './transfer-syntax-strip.js';

export interface StowTapContext {
  upstream: UpstreamClient;
  config: Readonly<GatewayConfig>;
  /** The research pipeline; undefined when the tap is off. */
  research?: ResearchIntake;
  /** Folder for the temporary part files. */
  tmpRoot: string;
  metrics: HttpMetrics;
  logger: Logger;
}

function isDicomPart(headers: PartHeaders): boolean {
  return partMediaType(headers.fields.get('content-type'))?.type === 'application/dicom';
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Clinical STOW-RS (PS3.18 10.5) through the gateway, with the research tap.
 *
 * The body goes to the upstream as it arrives (relayed unchanged, except an optional strip of the part
 * transfer-syntax parameter) while the same bytes are split into parts and each application/dicom part is
 * written to a temporary file. When the upstream answers, the gateway reads its Store Instances Response and
 * hands every instance the upstream stored to the research pipeline (which spools and queues it durably before it
 * resolves); then the upstream's answer goes back to the client unchanged. The research path can never fail the
 * clinical STOW: its errors are logged without PHI and counted.
 *
 * Input limits (config `limits:`, docs/INPUT-LIMITS.md): each application/dicom part is inspected as it passes
 * (inflated size, sequence depth, element count), and the body as a whole (parts, part header sizes). A request
 * past one is refused with 413 and the upstream request aborted before the part that went past them is whole, so
 * the PACS never parses it and stores nothing of the request.
 */
export async function relayStow(req: Request, res: Response, target: DicomWebTarget, ctx: StowTapContext): Promise<void> {
  const limit = ctx.config.stow.maxBodyBytes;
  const { boundary } = checkStowRequest(req, limit);
  const strip = ctx.config.upstream.stowPartTransferSyntax === 'strip';
  let parts: PartFiles | undefined;
  let tapProblem: string | undefined;
  if (ctx.config.stow.tap && ctx.research) {
    try {
      parts = await PartFiles.create(ctx.tmpRoot);
    } catch (err) {
      tapProblem = noteTapFailure(ctx, err, 'the temporary folder for the STOW tap is not writable');
    }
  }
  let background: Promise<void> | undefined;
  try {
    const answer = await forward(req, target, ctx, { boundary, strip, parts, limit, onTapFailure: (err) => (tapProblem ??= noteTapFailure(ctx, err, 'a part could not be captured')) });
    const { statusCode, headers, body, early } = answer;
    const read = await readBounded(body, ctx.config.stow.maxUpstreamResponseBytes);
    if (parts && !tapProblem && !early) {
      const stored = read.complete ? storedByUpstream(statusCode, headerValue(headers['content-type']), read.head.toString('utf8')) : ({ kind: 'none', why: 'the upstream answer is larger than stow.maxUpstreamResponseBytes' } as const);
      const tapping = tapStored(parts, stored, senderOf(req, res), ctx);
      if (await finishesWithin(tapping, ctx.config.stow.tapTimeoutMs)) {
        // Every instance the PACS stored and the rules select is spooled and queued: the client may know.
      } else {
        // The research path is stuck (e.g. its disk): it may not slow the clinical STOW beyond the spool write,
        // so the client gets its answer; the copies go on in the background, and this is counted.
        ctx.metrics.tapFailures.inc({ reason: 'TIMEOUT' });
        ctx.logger.warn({ timeoutMs: ctx.config.stow.tapTimeoutMs }, 'STOW tap: the research pipeline did not take the instances in time; answering the client, copying goes on');
        background = tapping;
      }
    }
    const out = clientResponseHeaders(headers);
    if (early) out.connection = 'close';
    res.writeHead(statusCode, out);
    if (read.complete) {
      res.end(read.head);
    } else {
      res.write(read.head);
      await pipeline(body, res).catch(() => res.destroy());
    }
  } catch (err) {
    // refused before the body was read whole (a part past a limit): the rest of the upload is still on the
    // connection, so it is closed after the answer rather than reused, where the client's next request would
    // wait behind bytes nobody reads (RFC 9112 9.6)
    if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
    throw err;
  } finally {
    const dispose = (): Promise<void> => parts?.dispose().catch(() => undefined) ?? Promise.resolve();
    if (background) void background.finally(dispose);
    else await dispose();
  }
}

async function finishesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function noteTapFailure(ctx: StowTapContext, err: unknown, what: string): string {
  const code = isAnofairError(err) ? err.code : ((err as { code?: string })?.code ?? 'error');
  ctx.metrics.tapFailures.inc({ reason: code });
  ctx.logger.warn({ code, reason: isAnofairError(err) ? err.message : (err as Error)?.message }, `STOW tap: ${what}; the clinical STOW goes on`);
  return what;
}

interface ForwardOptions {
  boundary: string;
  strip: boolean;
  parts?: PartFiles;
  limit: number;
  onTapFailure: (err: unknown) => void;
}

/**
 * Stream the request to the upstream and capture its parts. Resolves with the upstream's response once the
 * whole body was sent (early: false) or, when the upstream answered before reading it all, at once (early: true).
 * Rejects with 413 when the body exceeds the limit and with 502/504 when the upstream fails; in both cases the
 * upstream request is aborted, so a partial body is never completed.
 */
async function forward(req: Request, target: DicomWebTarget, ctx: StowTapContext, o: ForwardOptions) {
  const parser = new MultipartRelatedParser(o.boundary, {
    ...stowParserLimits(ctx.config),
    rewriteHeaders: o.strip ? stripTransferSyntax : undefined,
  });
  const limits = stowPartLimits(ctx.config);
  let inspector: PartInspector | undefined;
  const body = new PassThrough({ highWaterMark: 256 * 1024 });
  const abort = new AbortController();
  let answered = false;
  const answer: Promise<Settled<Awaited<ReturnType<UpstreamClient['request']>>>> = ctx.upstream
    .request({
      method: 'POST',
      path: `${target.path}${target.query}`,
      // The body is relayed byte for byte unless parts may be rewritten: only then is the length unknown.
      headers: upstreamRequestHeaders(req, { forwarded: ctx.config.upstream.forwardedHeaders, keepContentLength: !o.strip }),
      body,
      signal: abort.signal,
      headersTimeoutMs: ctx.config.upstream.stowTimeoutMs,
    })
    .then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    .finally(() => {
      answered = true;
    });

  let capturing = false;
  let tapBroken = !o.parts;
  const tap = async (fn: () => Promise<void>): Promise<void> => {
    if (tapBroken) return;
    try {
      await fn();
    } catch (err) {
      tapBroken = true;
      o.onTapFailure(err);
    }
  };
  const handle = async (ev: MultipartEvent): Promise<void> => {
    switch (ev.type) {
      case 'forward':
        if (answered || body.destroyed) return;
        if (!body.write(ev.data)) await Promise.race([once(body, 'drain'), answer]);
        return;
      case 'part-start':
        capturing = isDicomPart(ev.headers);
        inspector = capturing ? new PartInspector(limits, `part ${ev.index + 1}`) : undefined;
        if (capturing) await tap(() => o.parts!.start(ev.index));
        return;
      case 'part-data':
        // Checked before these bytes go on (the 'forward' event follows): past a limit, this throws.
        await inspector?.push(ev.data);
        if (capturing) await tap(() => o.parts!.write(ev.data));
        return;
      case 'part-end': {
        // The part's last bytes and its closing delimiter are still held: the upstream has it whole only if it passes.
        const inspection = await inspector?.end();
        inspector = undefined;
        if (capturing) await tap(() => o.parts!.end(inspection?.identity));
        capturing = false;
        return;
      }
      case 'error':
        inspector?.destroy();
        inspector = undefined;
        if (ev.limit) throw new AnofairError('PAYLOAD_TOO_LARGE', ev.reason, { limit: ev.limit });
        // The upstream gets the same bytes and judges them; the tap keeps only the parts that were whole.
        ctx.logger.info({ reason: ev.reason }, 'STOW body is not well-formed multipart/related; relayed for the upstream to judge');
        return;
      case 'end':
        return;
    }
  };

  const pump = (async (): Promise<void> => {
    let received = 0;
    for await (const chunk of req) {
      if (answered) continue; // drain: the upstream has answered already
      const buf = chunk as Buffer;
      received += buf.length;
      if (received > o.limit) {
        throw new AnofairError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${o.limit} bytes`, { limit: o.limit });
      }
      for (const ev of parser.push(buf)) await handle(ev);
    }
    if (!answered) for (const ev of parser.end()) await handle(ev);
    body.end();
  })().finally(() => inspector?.destroy());

  const first = await Promise.race([
    pump.then(
      () => 'sent' as const,
      (error: unknown) => ({ error }),
    ),
    answer.then(() => 'answered' as const),
  ]);
  if (typeof first === 'object') {
    abort.abort();
    body.destroy();
    throw isAnofairError(first.error) ? first.error : new AnofairError('BAD_REQUEST', 'the request body could not be read (the client went away?)');
  }
  const early = first === 'answered';
  if (early) pump.catch(() => undefined);
  const settled = await answer;
  if (!settled.ok) {
    body.destroy();
    throw settled.error;
  }
  const { statusCode, headers, body: responseBody } = settled.value;
  return { statusCode, headers, body: responseBody, early };
}

/**
 * Instances handed to the research pipeline at once. Each holds one whole instance in memory, so memory stays
 * independent of the study only while this is small; measured on this project's machine, more workers did not
 * raise the ingest rate (the spool's fsyncs and the SQLite commit dominate), so one it is.
 */
const TAP_CONCURRENCY = 1;

/** Hand every whole, stored instance to the research pipeline; never throws. */
async function tapStored(parts: PartFiles, stored: StoredByUpstream, sender: { client?: string; address?: string }, ctx: StowTapContext): Promise<void> {
  if (stored.kind === 'none') {
    if (parts.captured.length > 0) ctx.logger.info({ parts: parts.captured.length, why: stored.why }, 'STOW tap: nothing to copy');
    ctx.metrics.tapInstances.inc({ outcome: 'not-stored-upstream' }, parts.captured.length);
    return;
  }
  const seen = new Set<string>();
  const one = async (part: CapturedPart): Promise<void> => {
    try {
      if (!part.complete) {
        ctx.metrics.tapInstances.inc({ outcome: 'incomplete' });
        return;
      }
      const uid = part.identity?.sopInstanceUID;
      if (!uid || (stored.kind === 'listed' && !stored.sopInstanceUIDs.has(uid))) {
        ctx.metrics.tapInstances.inc({ outcome: 'not-stored-upstream' });
        return;
      }
      if (seen.has(uid)) return; // the same instance twice in one request: copy it once
      seen.add(uid);
      const result = await ctx.research!.accept({ bytes: await parts.read(part) }, sender, 'tap');
      ctx.metrics.tapInstances.inc({ outcome: result.queued ? 'queued' : 'not-routed' });
    } catch (err) {
      ctx.metrics.tapInstances.inc({ outcome: 'failed' });
      noteTapFailure(ctx, err, `part ${part.index + 1} could not be handed to the research pipeline`);
    }
  };
  const queue = [...parts.captured];
  const workers = Array.from({ length: Math.min(TAP_CONCURRENCY, queue.length) }, async () => {
    for (let part = queue.shift(); part; part = queue.shift()) await one(part);
  });
  await Promise.all(workers);
}
