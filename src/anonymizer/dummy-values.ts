/**
 * Dummy values for action D ("replace with a non-zero length value that may be a dummy value and consistent with
 * the VR", Table E.1-1a). Fixed and obviously artificial, so nobody mistakes them for data.
 */
const DUMMY_TEXT: Record<string, string> = {
  AE: 'ANONYMIZED',
  AS: '000D',
  CS: 'ANONYMIZED',
  DA: '19000101',
  DT: '19000101000000.000000',
  TM: '000000.00',
  DS: '0',
  IS: '0',
  LO: 'ANONYMIZED',
  LT: 'ANONYMIZED',
  SH: 'ANONYMIZED',
  ST: 'ANONYMIZED',
  UC: 'ANONYMIZED',
  UT: 'ANONYMIZED',
  UR: 'urn:anonymized',
};

const NUMERIC_VRS = new Set(['FL', 'FD', 'SL', 'SS', 'UL', 'US', 'SV', 'UV', 'AT']);

/** The dummy Value array for an element of this VR (UIDs and sequences are handled by their own actions). */
export function dummyValue(vr: string): unknown[] {
  if (vr === 'PN') return [{ Alphabetic: 'ANONYMIZED' }];
  if (NUMERIC_VRS.has(vr)) return [0];
  const text = DUMMY_TEXT[vr];
  if (text !== undefined) return [text];
  return [new ArrayBuffer(2)]; // OB, OW, OD, OF, OL, OV, UN: two zero bytes
}
