import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { AnofairError } from '../../errors/anofair-error.js';
import type { PseudonymKey } from '../deid-types.js';

export const KEY_ENV = 'ANOFAIR_DEID_KEY';
const MIN_KEY_BYTES = 32;

function decode(text: string, source: string): Uint8Array {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0 ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (bytes.length < MIN_KEY_BYTES) {
    throw new AnofairError('DEID_KEY_MISSING', `the key in ${source} has ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are needed (create one with \`anofair keygen --out <file>\`)`);
  }
  return bytes;
}

/** A fingerprint that names the key in records without revealing it. */
export function keyFingerprint(secret: Uint8Array): string {
  return `sha256:${createHash('sha256').update('anofair-key-id\0').update(secret).digest('hex').slice(0, 16)}`;
}

/** The key from the environment (precedence) or a key file; a clear error when there is none. */
export function loadPseudonymKey(settings: { keyFile?: string; keyId?: string }, env: NodeJS.ProcessEnv = process.env): PseudonymKey {
  let secret: Uint8Array;
  if (env[KEY_ENV]) {
    secret = decode(env[KEY_ENV]!, `the environment variable ${KEY_ENV}`);
  } else if (settings.keyFile) {
    let text: string;
    try {
      text = readFileSync(settings.keyFile, 'utf8');
    } catch (err) {
      throw new AnofairError('DEID_KEY_MISSING', `cannot read the key file ${settings.keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    secret = decode(text, `the key file ${settings.keyFile}`);
  } else {
    throw new AnofairError(
      'DEID_KEY_MISSING',
      `no pseudonymisation key: set ${KEY_ENV} (base64 or hex, 32+ bytes) or deidentification.keyFile (create one with \`anofair keygen --out <file>\`)`,
    );
  }
  return { id: settings.keyId ?? keyFingerprint(secret), secret };
}

/** Write a new random key file readable by its owner only. */
export function writeNewKeyFile(path: string): string {
  const secret = randomBytes(32);
  writeFileSync(path, `${secret.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return keyFingerprint(secret);
}
