import { createHmac } from 'node:crypto';
import type { PseudonymKey } from '../deid-types.js';

/**
 * HMAC-SHA-256 under the site key, with a purpose label for domain separation, so that a UID, a patient ID and a
 * date shift derived from the same original value are unrelated. Without the key nobody can recompute them
 * (unlike the unkeyed MD5 of CTP and dcm4chee).
 */
export function keyedDigest(key: PseudonymKey, purpose: string, value: string): Buffer {
  return createHmac('sha256', key.secret).update(purpose).update('\0').update(value, 'utf8').digest();
}
