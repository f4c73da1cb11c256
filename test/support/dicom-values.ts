import type { DicomDataset, DicomElement, PersonName } from '../../src/dicom/dataset.js';

/**
 * Looking at data sets in tests: values without dcmjs's bookkeeping, every text value at every nesting level,
 * and emptiness as Z means it.
 */

/** An element as comparable plain data: no _rawValue, binary as hex, recursively through sequences. */
export function plain(element: DicomElement | undefined): unknown {
  if (!element) return undefined;
  const values = (element.Value ?? []).map((v: unknown) => {
    if (v instanceof ArrayBuffer) return Buffer.from(v).toString('hex');
    if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    if (element.vr === 'SQ' && v && typeof v === 'object') return plainDataset(v as DicomDataset);
    if (element.vr === 'PN' && v && typeof v === 'object') {
      const pn = v as PersonName;
      return { Alphabetic: pn.Alphabetic, Ideographic: pn.Ideographic, Phonetic: pn.Phonetic };
    }
    return v;
  });
  return { vr: element.vr, Value: values };
}

export function plainDataset(dataset: DicomDataset): Record<string, unknown> {
  return Object.fromEntries(Object.keys(dataset).sort().map((tag) => [tag, plain(dataset[tag])]));
}

/** Zero length: no value, or only empty strings (how a reader gives back a zero-length text element). */
export function isEmpty(element: DicomElement): boolean {
  const values = element.Value ?? [];
  return values.every((v) => v === '' || v === null || v === undefined || (typeof v === 'object' && !(v instanceof ArrayBuffer) && Object.values(v).every((c) => !c)));
}

/** Every text value of a data set at every nesting level, with its path; PN values give each component group. */
export function textValues(dataset: DicomDataset, path = ''): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const [tag, element] of Object.entries(dataset)) {
    const here = `${path}${path ? '.' : ''}${tag}`;
    (element.Value ?? []).forEach((v: unknown, i: number) => {
      if (element.vr === 'SQ' && v && typeof v === 'object') out.push(...textValues(v as DicomDataset, `${here}[${i}]`));
      else if (typeof v === 'string') out.push({ path: here, text: v });
      else if (element.vr === 'PN' && v && typeof v === 'object') {
        for (const group of Object.values(v as PersonName)) if (typeof group === 'string') out.push({ path: here, text: group });
      }
    });
  }
  return out;
}

/** The paths where any of `needles` appears (case-insensitive) in a text value; empty when none does. */
export function findText(dataset: DicomDataset, needles: readonly string[]): string[] {
  const lowered = needles.filter((n) => n.length > 0).map((n) => n.toLowerCase());
  return textValues(dataset)
    .filter(({ text }) => lowered.some((n) => text.toLowerCase().includes(n)))
    .map(({ path, text }) => `${path}=${JSON.stringify(text)}`);
}

/** The first value of an element as a string (PN: Alphabetic group). */
export function firstText(element: DicomElement | undefined): string | undefined {
  const v = element?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && !(v instanceof ArrayBuffer)) return (v as PersonName).Alphabetic;
  return String(v);
}

/** Shift a YYYYMMDD date by whole days, in UTC: the arithmetic the test expects, written independently. */
export function addDays(ymd: string, days: number): string {
  const t = Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(4, 6)) - 1, Number(ymd.slice(6, 8))) + days * 86_400_000;
  const d = new Date(t);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}
