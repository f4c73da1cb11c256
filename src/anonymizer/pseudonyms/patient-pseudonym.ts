import type { PseudonymKey } from '../deid-types.js';
import { keyedDigest } from './keyed-hash.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(bytes: Uint8Array, length: number): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/**
 * The research subject identifier for a patient: from the site's lookup table when it lists the patient,
 * otherwise a keyed pseudonym ("ANON-" and 12 Crockford base-32 characters, 60 bits). Patient ID and Patient's
 * Name both become this identifier, so a research data manager can match subjects without the key.
 */
export function subjectIdentifier(key: PseudonymKey, patientKey: string, lookup?: ReadonlyMap<string, string>): string {
  const mapped = lookup?.get(patientKey);
  if (mapped) return mapped;
  return `ANON-${base32(keyedDigest(key, 'patient', patientKey), 12)}`;
}
