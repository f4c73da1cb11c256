import type { Request, Response } from 'express';
import { AnofairError, isAnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayConfig } from '../config/config-schema.js';
import type { HttpMetrics } from '../http/http-metrics.js';
import type { DicomWebTarget } from '../proxy/dicomweb-path.js';
import type { InstanceIdentity } from './instance-identity.js';
import { MultipartRelatedParser, type MultipartEvent } from './multipart-parser.js';
import { PartInspector } from './part-inspector.js';
import type { ResearchIntake } from './research-intake.js';
import { senderOf } from './sender.js';
import { checkStowRequest, partMediaType, stowParserLimits, stowPartLimits } from './stow-request.js';
import { FAILURE_REASON, storeInstancesResponse, type InstanceOutcome } from './store-instances-response.js';

export interface DeidStowContext {
  config: Readonly<GatewayConfig>;
  research?: ResearchIntake;
  metrics: HttpMetrics;
  logger: Logger;
}

/** Failure Reason for an error of the research pipeline. */
function failureReasonFor(err: unknown): number {
  if (!isAnofairError(err)) return FAILURE_REASON.processingFailure;
  switch (err.code) {
    case 'DICOM_PARSE':
    case 'DICOM_UNSUPPORTED':
      return FAILURE_REASON.cannotUnderstand;
    case 'DICOM_MISSING_ATTRIBUTE':
      return FAILURE_REASON.dataSetDoesNotMatch;
    case 'DICOM_LIMIT':
    case 'RESEARCH_UNAVAILABLE':
    case 'IO':
      return FAILURE_REASON.outOfResources;
    default:
      return FAILURE_REASON.processingFailure;
  }
}

/** A part given up while it arrives: its bytes are let go, its reason kept for the answer. */
function skipPart(part: { skip?: string; failureReason?: number; chunks: Buffer[]; inspector?: { destroy(): void } }, reason: string, failureReason: number): void {
  part.skip = reason;
  part.failureReason = failureReason;
  part.chunks = [];
  part.inspector?.destroy();
}

function limitReason(err: unknown): string {
  if (isAnofairError(err)) return err.message;
  throw err;
}

/** PS3.18 8.7: the answer is application/dicom+json; refuse (406) an Accept that rules it out. */
function checkAccept(req: Request): void {
  const accept = req.headers.accept;
  if (!accept) return;
  const ok = accept.split(',').some((item) => {
    const type = item.split(';')[0]!.trim().toLowerCase();
    return type === 'application/dicom+json' || type === 'application/json' || type === '*/*' || type === 'application/*';
  });
  if (!ok) throw new AnofairError('NOT_ACCEPTABLE', 'this endpoint answers application/dicom+json only', { accept });
}

/**
 * POST /deid/dicom-web/studies[/{study}]: STOW-RS that is not stored clinically. Each part is read as it
 * arrives and, when whole, handed to the research pipeline ('deid-only'), which spools it durably before it
 * answers; the reply is a Store Instances Response with one result per part (PS3.18 10.5.3). Memory holds one
 * instance at a time. Bad parts fail on their own; the valid parts of the same request are still handled. Each
 * part is held to the input limits as it arrives, as on the clinical relay (a part past one fails with 0xA700 and
 * is not kept in memory); a body past the multipart limits (parts, part header sizes) is refused with 413.
 */
export async function receiveDeidStow(req: Request, res: Response, target: DicomWebTarget, ctx: DeidStowContext): Promise<void> {
  const research = ctx.research;
  if (!research) throw new AnofairError('RESEARCH_UNAVAILABLE', 'the research pipeline is not configured on this gateway');
  checkAccept(req);
  const limit = ctx.config.deidEndpoint.maxBodyBytes;
  const maxInstance = ctx.config.deidEndpoint.maxInstanceBytes;
  const { boundary } = checkStowRequest(req, limit);
  const studyInUrl = target.segments[0] === 'studies' ? target.segments[1] : undefined;
  const sender = senderOf(req, res);
  const parser = new MultipartRelatedParser(boundary, stowParserLimits(ctx.config));
  const limits = stowPartLimits(ctx.config);

  const outcomes: InstanceOutcome[] = [];
  const other: Array<{ failureReason: number; reason: string }> = [];
  let current: { index: number; chunks: Buffer[]; size: number; skip?: string; failureReason?: number; inspector?: PartInspector } | undefined;

  const fail = (failureReason: number, reason: string, ids: { sopClassUID?: string; sopInstanceUID?: string } = {}): void => {
    outcomes.push({ status: 'failed', failureReason, reason, ...ids });
    ctx.metrics.deidInstances.inc({ outcome: failureReason === FAILURE_REASON.notAuthorized ? 'refused' : 'failed' });
  };

  const finishPart = async (index: number, chunks: Buffer[], identity: InstanceIdentity | undefined): Promise<void> => {
    const bytes = Buffer.concat(chunks);
    if (!identity) {
      fail(FAILURE_REASON.cannotUnderstand, `part ${index + 1} is not a DICOM Part 10 object (no "DICM" prefix or unreadable File Meta Information)`);
      return;
    }
    const ids = { sopClassUID: identity.sopClassUID, sopInstanceUID: identity.sopInstanceUID };
    if (studyInUrl !== undefined && identity.studyInstanceUID !== studyInUrl) {
      // PS3.18 10.5.1: instances posted to /studies/{study} must belong to that study.
      fail(FAILURE_REASON.dataSetDoesNotMatch, `part ${index + 1}: its Study Instance UID (0020,000D) is not the study in the URL`, ids);
      return;
    }
    try {
      const result = await research.accept({ bytes }, sender, 'deid-only');
      if (result.queued || result.alreadyQueued) {
        // sent again: it is already queued or delivered for each destination (the ledger), so storing is idempotent
        outcomes.push({ status: 'stored', sopClassUID: identity.sopClassUID, sopInstanceUID: result.sopInstanceUID });
        ctx.metrics.deidInstances.inc({ outcome: result.queued ? 'queued' : 'already-queued' });
      } else {
        fail(FAILURE_REASON.notAuthorized, `part ${index + 1}: not sent to any research destination (${result.reason ?? 'no routing rule forwards it'})`, ids);
      }
    } catch (err) {
      if (!isAnofairError(err)) ctx.logger.error({ err: { message: (err as Error).message } }, 'de-identify-only STOW: unexpected failure');
      fail(failureReasonFor(err), `part ${index + 1}: ${isAnofairError(err) ? err.message : 'processing failed'}`, ids);
    }
  };

  const handle = async (ev: MultipartEvent): Promise<void> => {
    switch (ev.type) {
      case 'part-start': {
        const media = partMediaType(ev.headers.fields.get('content-type'));
        const encoding = ev.headers.fields.get('content-transfer-encoding')?.toLowerCase();
        const skip =
          media?.type !== 'application/dicom'
            ? `part ${ev.index + 1} has Content-Type ${media?.type ?? '(none)'}; only application/dicom parts are stored`
            : encoding && encoding !== 'binary' && encoding !== '8bit'
              ? `part ${ev.index + 1} uses Content-Transfer-Encoding ${encoding}; only binary is supported`
              : undefined;
        current = { index: ev.index, chunks: [], size: 0, skip, ...(skip ? {} : { inspector: new PartInspector(limits, `part ${ev.index + 1}`) }) };
        return;
      }
      case 'part-data':
        if (!current || current.skip) return;
        current.size += ev.data.length;
        if (current.size > maxInstance) {
          skipPart(current, `part ${current.index + 1} is larger than deidEndpoint.maxInstanceBytes (${maxInstance} bytes)`, FAILURE_REASON.outOfResources);
          return;
        }
        try {
          await current.inspector?.push(ev.data);
        } catch (err) {
          skipPart(current, limitReason(err), FAILURE_REASON.outOfResources);
          return;
        }
        current.chunks.push(ev.data);
        return;
      case 'part-end': {
        const part = current;
        current = undefined;
        if (!part) return;
        let identity: InstanceIdentity | undefined;
        if (!part.skip) {
          try {
            identity = (await part.inspector?.end())?.identity;
          } catch (err) {
            skipPart(part, limitReason(err), FAILURE_REASON.outOfResources);
          }
        }
        if (part.skip) fail(part.failureReason ?? FAILURE_REASON.cannotUnderstand, part.skip);
        else await finishPart(part.index, part.chunks, identity);
        return;
      }
      case 'error':
        current?.inspector?.destroy();
        if (ev.limit) {
          // A body past the multipart limits: refused whole, like one past deidEndpoint.maxBodyBytes.
          res.setHeader('connection', 'close');
          throw new AnofairError('PAYLOAD_TOO_LARGE', `${ev.reason}; ${accepted()} instance(s) before that point were accepted`, { limit: ev.limit, accepted: accepted() });
        }
        if (ev.index !== undefined && current) {
          fail(FAILURE_REASON.cannotUnderstand, `part ${current.index + 1} is incomplete: ${ev.reason}`);
          current = undefined;
        } else {
          other.push({ failureReason: FAILURE_REASON.cannotUnderstand, reason: ev.reason });
        }
        return;
      default:
        return;
    }
  };

  const accepted = (): number => outcomes.filter((o) => o.status === 'stored').length;
  let received = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    received += buf.length;
    if (received > limit) {
      // Parts before the limit are queued already; say so, and read no further.
      res.setHeader('connection', 'close');
      throw new AnofairError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${limit} bytes; ${accepted()} instance(s) before that point were accepted`, {
        limit,
        accepted: accepted(),
      });
    }
    if (parser.failed) continue;
    for (const ev of parser.push(buf)) await handle(ev);
  }
  for (const ev of parser.end()) await handle(ev);

  if (outcomes.length === 0) {
    throw new AnofairError('BAD_REQUEST', other[0] ? `no instance could be read: ${other[0].reason}` : 'the request holds no parts');
  }
  const answer = storeInstancesResponse(outcomes, other);
  res.status(answer.status).type('application/dicom+json').send(JSON.stringify(answer.body));
}
