import { readFileSync } from 'node:fs';
import { AnofairError } from '../../errors/anofair-error.js';

/**
 * Read a PEM file named by the setting `setting` (e.g. "upstream.tls.caFile"). A missing, unreadable or non-PEM
 * file is CONFIG_INVALID naming the setting and the path; the file's content never goes into the message.
 */
export function readPemFile(setting: string, path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `${setting}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { setting, file: path });
  }
  // RFC 7468 2: PEM data is between "-----BEGIN <label>-----" lines; anything else is the wrong file.
  if (!bytes.includes('-----BEGIN ')) {
    throw new AnofairError('CONFIG_INVALID', `${setting}: ${path} is not a PEM file (no "-----BEGIN" line)`, { setting, file: path });
  }
  return bytes;
}

/** The OpenSSL reason of a TLS error ("key values mismatch"), without codes or file contents. */
export function tlsReason(err: unknown): string {
  const e = err as { reason?: string; message?: string; code?: string };
  return e.reason ?? e.message?.replace(/^error:[0-9A-F]+:[^:]*::?/, '') ?? e.code ?? 'error';
}
