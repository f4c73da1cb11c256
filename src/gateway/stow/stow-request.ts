import type { IncomingMessage } from 'node:http';
import type { InputLimits } from '../../dicom/input-limits.js';
import { AnofairError } from '../../errors/anofair-error.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { parseMediaType } from './media-type.js';
import { isValidBoundary, type MultipartParserOptions } from './multipart-parser.js';

export interface StowRequest {
  boundary: string;
  /** Declared Content-Length, if any. */
  length?: number;
}

/**
 * Check a STOW-RS request's framing before any byte is forwarded (PS3.18 10.5.1.1): multipart/related with a
 * boundary, and type application/dicom when the type parameter is present (the gateway accepts Part 10
 * instances only; the metadata-and-bulk-data form is refused with 415). A declared body above the limit is
 * refused with 413 before it is read.
 */
export function checkStowRequest(req: IncomingMessage, maxBodyBytes: number): StowRequest {
  const header = req.headers['content-type'];
  const media = parseMediaType(header);
  if (!media) {
    throw new AnofairError('UNSUPPORTED_MEDIA_TYPE', header ? 'the Content-Type header is not a media type' : 'a STOW-RS request needs Content-Type: multipart/related; type="application/dicom"; boundary=...');
  }
  if (media.type !== 'multipart/related') {
    throw new AnofairError('UNSUPPORTED_MEDIA_TYPE', `STOW-RS takes multipart/related; type="application/dicom" (got ${media.type})`, { contentType: media.type });
  }
  const type = media.params.get('type')?.toLowerCase();
  if (type !== undefined && type !== 'application/dicom') {
    throw new AnofairError('UNSUPPORTED_MEDIA_TYPE', `this gateway stores DICOM Part 10 instances only: type must be "application/dicom" (got "${type}")`, { type });
  }
  const boundary = media.params.get('boundary');
  if (!boundary || !isValidBoundary(boundary)) {
    throw new AnofairError('BAD_REQUEST', boundary ? 'the multipart boundary parameter is not valid (RFC 2046 5.1.1 characters, at most 256 here)' : 'the multipart/related Content-Type has no boundary parameter');
  }
  const lengthHeader = req.headers['content-length'];
  let length: number | undefined;
  if (lengthHeader !== undefined) {
    length = Number(lengthHeader);
    if (!Number.isSafeInteger(length) || length < 0) throw new AnofairError('BAD_REQUEST', 'the Content-Length header is not a number');
    if (length > maxBodyBytes) {
      throw new AnofairError('PAYLOAD_TOO_LARGE', `the request body (${length} bytes) exceeds the limit of ${maxBodyBytes} bytes`, { limit: maxBodyBytes });
    }
  }
  return { boundary, length };
}

/** The essence and transfer-syntax of a part's Content-Type (PS3.18 8.7.3.5.2 allows the parameter on parts). */
export function partMediaType(contentType: string | undefined): { type: string; transferSyntax?: string } | undefined {
  const media = parseMediaType(contentType);
  if (!media) return undefined;
  return { type: media.type, transferSyntax: media.params.get('transfer-syntax') };
}

/** The multipart limits of a STOW-RS body, the same for the clinical relay and the de-identify-only endpoint. */
export function stowParserLimits(config: Readonly<GatewayConfig>): MultipartParserOptions {
  return {
    maxHeaderBytes: config.stow.maxPartHeaderBytes,
    maxParts: config.limits.maxParts,
    maxTotalHeaderBytes: config.limits.maxPartHeadersBytes,
    limitNames: { maxHeaderBytes: 'stow.maxPartHeaderBytes', maxParts: 'limits.maxParts', maxTotalHeaderBytes: 'limits.maxPartHeadersBytes' },
  };
}

/** The input limits each instance of a STOW-RS body is held to (src/dicom/input-limits.ts). */
export function stowPartLimits(config: Readonly<GatewayConfig>): InputLimits {
  const { maxInflatedBytes, maxSequenceDepth, maxElements } = config.limits;
  return { maxInflatedBytes, maxSequenceDepth, maxElements };
}
