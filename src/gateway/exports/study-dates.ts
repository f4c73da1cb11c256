import type { StudyDateWindowSpec } from './export-job-schema.js';

/**
 * Dates and hours in a job's time zone: which study dates a run selects, and whether the PACS may be loaded now.
 * Pure functions of the clock value they are given.
 */

export interface DateWindow {
  /** Inclusive, YYYYMMDD. */
  from: string;
  to: string;
}

function parts(now: number, timeZone: string): Record<'year' | 'month' | 'day' | 'hour' | 'minute', number> {
  const fields = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(
    new Date(now),
  );
  const get = (type: string): number => Number(fields.find((f) => f.type === type)!.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute') };
}

/** The calendar date `days` after the local date of `now` in `timeZone`, as YYYYMMDD. */
export function localDate(now: number, timeZone: string, days = 0): string {
  const p = parts(now, timeZone);
  const d = new Date(Date.UTC(p.year, p.month - 1, p.day + days));
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** The study dates a run at `now` selects. */
export function studyDates(spec: StudyDateWindowSpec, now: number, timeZone: string): DateWindow {
  if (spec === 'today') return { from: localDate(now, timeZone), to: localDate(now, timeZone) };
  if (spec === 'yesterday') return { from: localDate(now, timeZone, -1), to: localDate(now, timeZone, -1) };
  return { from: localDate(now, timeZone, -spec.lastDays), to: localDate(now, timeZone, -1) };
}

/** A date given on the command line or to the API (YYYY-MM-DD or YYYYMMDD) as YYYYMMDD; throws on anything else. */
export function parseDateArgument(text: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text.trim());
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const date = new Date(Date.UTC(y, mo - 1, d));
    if (date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d) return `${m[1]}${m[2]}${m[3]}`;
  }
  throw new RangeError(`"${text}" is not a date (expected YYYY-MM-DD)`);
}

/** The DICOM date range matching value for QIDO-RS (PS3.18 8.3.4.1: "from-to"). */
export function dicomDateRange(w: DateWindow): string {
  return w.from === w.to ? w.from : `${w.from}-${w.to}`;
}

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Milliseconds until the job may load the PACS again: 0 inside its hours (or when it has none). `from` after `to`
 * spans midnight. Accurate to the minute, which is what a window of hours needs.
 */
export function msUntilHoursOpen(now: number, hours: { from: string; to: string } | undefined, timeZone: string): number {
  if (!hours) return 0;
  const p = parts(now, timeZone);
  const at = p.hour * 60 + p.minute;
  const [from, to] = [minutes(hours.from), minutes(hours.to)];
  const inside = from === to ? true : from < to ? at >= from && at < to : at >= from || at < to;
  if (inside) return 0;
  const wait = (from - at + 24 * 60) % (24 * 60);
  return Math.max(1, wait * 60_000 - (now % 60_000));
}
