import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { tlsDispatcher } from '../tls/tls-client-options.js';
import { stowUrl, type DestinationConfig } from './destination.js';

/** The HTTP answer to a STOW-RS request: status, a few headers, and the body as text (bounded). */
export interface StowHttpAnswer {
  status: number;
  contentType?: string;
  retryAfterMs?: number;
  body: string;
}

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const CRLF = Buffer.from('\r\n');

/** A boundary no instance contains: 24 random bytes (PS3.18 8.6.1.2 multipart, RFC 2046 5.1.1). */
export function newBoundary(): string {
  return `anofair-${randomBytes(24).toString('hex')}`;
}

export function partHeader(boundary: string): Buffer {
  return Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
}

export function closingDelimiter(boundary: string): Buffer {
  return Buffer.from(`--${boundary}--\r\n`);
}

function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Multipart/related body parts from instances, produced lazily: an instance is de-identified (by `next`) only
 * when the request is ready for it, so memory holds one instance at a time whatever the batch size.
 */
async function* multipartBody(boundary: string, parts: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const marker = Buffer.from(`--${boundary}`);
  for await (const part of parts) {
    if (Buffer.from(part.buffer, part.byteOffset, part.byteLength).includes(marker)) {
      throw new Error('an instance contains the multipart boundary');
    }
    yield partHeader(boundary);
    yield part;
    yield CRLF;
  }
  yield closingDelimiter(boundary);
}

/**
 * The dispatcher for a destination: with `tls`, an Agent holding its CA and client certificate (its files are
 * read on the first call: the gateway calls this for every destination at start, so a bad file fails the
 * start); without, undici's global one.
 */
export function destinationDispatcher(name: string, destination: DestinationConfig): Dispatcher | undefined {
  return destination.tls ? tlsDispatcher(`destinations.${name}.tls`, destination.tls) : undefined;
}

/**
 * POST instances to a destination with STOW-RS (PS3.18 10.5): multipart/related; type="application/dicom",
 * one Part 10 instance per part, asking for a application/dicom+json response. Network failures reject with
 * the undici/Node error (its `code` says what happened); any HTTP answer resolves.
 */
export async function postInstances(
  destination: DestinationConfig,
  parts: AsyncIterable<Uint8Array>,
  options: { dispatcher?: Dispatcher; signal?: AbortSignal } = {},
): Promise<StowHttpAnswer> {
  const boundary = newBoundary();
  const headers: Record<string, string> = {
    ...destination.headers,
    'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
    accept: 'application/dicom+json',
  };
  if (destination.basicAuth) {
    const { username, password } = destination.basicAuth;
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  let body: Readable | Buffer;
  if (destination.transfer === 'buffered') {
    const chunks: Uint8Array[] = [];
    for await (const chunk of multipartBody(boundary, parts)) chunks.push(chunk);
    body = Buffer.concat(chunks);
  } else {
    body = Readable.from(multipartBody(boundary, parts), { objectMode: false });
  }
  const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(destination.timeoutMs)]) : AbortSignal.timeout(destination.timeoutMs);
  const response = await request(stowUrl(destination), {
    method: 'POST',
    headers,
    body,
    signal,
    dispatcher: options.dispatcher ?? destinationDispatcher('<name>', destination),
    headersTimeout: destination.timeoutMs,
    bodyTimeout: destination.timeoutMs,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).byteLength;
    if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk as Buffer);
  }
  const contentType = response.headers['content-type'];
  return {
    status: response.statusCode,
    contentType: Array.isArray(contentType) ? contentType[0] : contentType,
    retryAfterMs: retryAfterMs(response.headers['retry-after'], Date.now()),
    body: Buffer.concat(chunks).toString('utf8'),
  };
}
