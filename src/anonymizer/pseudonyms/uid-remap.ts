import type { PseudonymKey } from '../deid-types.js';
import { keyedDigest } from './keyed-hash.js';

/**
 * Keyed UID replacement (action U). The new UID is "2.25." followed by the decimal form of a 128-bit value
 * (PS3.5 B.2), here an RFC 9562 version 8 UUID built from HMAC-SHA-256 of the original UID: the same original
 * gives the same new UID in every file, run and machine that holds the key, so references stay intact.
 */
export function remapUid(key: PseudonymKey, uid: string): string {
  const digest = keyedDigest(key, 'uid', uid.trim());
  const bytes = Buffer.from(digest.subarray(0, 16));
  bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}
