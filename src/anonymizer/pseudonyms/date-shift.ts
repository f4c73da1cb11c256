import type { PseudonymKey } from '../deid-types.js';
import { keyedDigest } from './keyed-hash.js';

/**
 * Keyed per-patient date shift for the Retain Longitudinal Temporal Information with Modified Dates Option.
 * Whole days: every DA and the date part of every DT move by the same amount, times of day (TM) stay as they are,
 * so intervals, ordering and ages computed from shifted dates are all preserved.
 */
export function dateShiftDays(key: PseudonymKey, patientKey: string, range: { min: number; max: number }): number {
  const span = range.max - range.min + 1;
  const candidates = range.min <= 0 && range.max >= 0 ? span - 1 : span; // never 0: that would not shift
  const n = keyedDigest(key, 'date-shift', patientKey).readUInt32BE(0) % candidates;
  const days = range.min + n;
  return range.min <= 0 && days >= 0 ? days + 1 : days;
}

function shiftYmd(ymd: string, days: number): string | undefined {
  const precision = ymd.length;
  if (!/^\d{4}(\d{2}(\d{2})?)?$/.test(ymd)) return undefined;
  const y = Number(ymd.slice(0, 4));
  const m = precision >= 6 ? Number(ymd.slice(4, 6)) : 1;
  const d = precision >= 8 ? Number(ymd.slice(6, 8)) : 1;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  date.setUTCDate(date.getUTCDate() + days);
  const out =
    String(date.getUTCFullYear()).padStart(4, '0') +
    String(date.getUTCMonth() + 1).padStart(2, '0') +
    String(date.getUTCDate()).padStart(2, '0');
  return out.slice(0, precision); // keep the precision the value had
}

/** Shift a DA value (also a range "A-B"); undefined when it is not a valid date. */
export function shiftDA(value: string, days: number): string | undefined {
  const v = value.trim();
  if (v === '') return v;
  if (v.includes('-')) {
    const parts = v.split('-').map((p) => (p === '' ? '' : shiftYmd(p, days)));
    return parts.some((p) => p === undefined) ? undefined : parts.join('-');
  }
  return shiftYmd(v, days);
}

/** Shift the date part of a DT value, keeping time, fraction and UTC offset (PS3.5 6.2 DT). */
export function shiftDT(value: string, days: number): string | undefined {
  const v = value.trim();
  if (v === '') return v;
  const m = /^(\d{4}(?:\d{2}(?:\d{2})?)?)(.*)$/.exec(v);
  if (!m) return undefined;
  const date = shiftYmd(m[1], days);
  return date === undefined ? undefined : date + m[2];
}
