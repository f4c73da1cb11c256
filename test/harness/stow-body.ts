import { randomBytes } from 'node:crypto';

/** One part of a multipart/related STOW-RS body (PS3.18 10.5.1.1). */
export interface BodyPart {
  bytes: Uint8Array | string;
  /** Default: application/dicom. */
  contentType?: string;
  /** Extra header lines, e.g. ["Content-Location: x"]. */
  headers?: string[];
}

export function newTestBoundary(): string {
  return `test-${randomBytes(12).toString('hex')}`;
}

/** A multipart/related body; `close: false` leaves out the closing delimiter (a truncated request). */
export function multipartBody(parts: readonly BodyPart[], boundary: string, options: { close?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const lines = [`Content-Type: ${part.contentType ?? 'application/dicom'}`, ...(part.headers ?? [])];
    chunks.push(Buffer.from(`--${boundary}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(part.bytes), Buffer.from('\r\n'));
  }
  if (options.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export function stowContentType(boundary: string, type = 'application/dicom'): string {
  return `multipart/related; type="${type}"; boundary=${boundary}`;
}
