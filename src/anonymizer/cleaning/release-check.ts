import { groupOf, elementOf, type DicomDataset, type PersonName, type Tag } from '../../dicom/dataset.js';
import type { IdentifyingValue, ReleaseValue } from '../identifying-values.js';

/**
 * The release check: the last step before an instance leaves, and the one that fails closed. It looks for the
 * input's strong identifying values (whole person names and their long parts, patient and visit identifiers,
 * full dates, the UIDs the profile replaced) in every value of the output, at every nesting level, whatever the
 * VR and whatever the profile decided about the attribute. A hit withholds the instance; the reason names the
 * attribute, never the value.
 *
 * Where it looks, by VR:
 * - text (AE AS CS DA DT LO LT PN SH ST TM UC UR UT; each PN component group separately): folded (NFKD, accents
 *   and case dropped, every run of characters that are neither letters nor digits one space), then one pattern per
 *   instance finds any form below as a whole word; digit runs of IDs and dates also where letters touch them
 *   ("MRN0012345678", "20210304093000"); names in scripts without spaces between words (Han, kana, Hangul)
 *   anywhere;
 * - Code Value, Coding Scheme Designator and Version, Long Code Value, URN Code Value: compared as whole values,
 *   and a Coding Scheme Designator or Version never with a single name part (a registry named "TEST" is no
 *   patient "Test");
 * - IS, DS and the binary numbers: whole numeric values, against IDs of 6+ significant digits and YYYYMMDD dates;
 * - UI: the input's replaced UIDs, whole; else every dot-separated component against IDs of 6+ significant digits
 *   and dates (YYYYMMDD, or followed by hhmm or hhmmss). UIDs under the roots of DICOM, HL7, IHE and ASTM (SOP
 *   classes, transfer syntaxes, coding schemes) are not looked into; our keyed 2.25 UIDs have one component of 24+
 *   digits, so whole components never match them;
 * - OB and UN (except the bulk data below): the bytes read as Latin-1 and, when any is above 0x7F, as UTF-8, then
 *   as text: binary bytes act as separators, so a value is found in a run of text between them;
 * - not looked at: Pixel Data, Float and Double Float Pixel Data, Overlay Data, Curve Data, Waveform Data and
 *   Spectroscopy Data (bulk binary, not text), OW OF OD OL OV values (LUTs, image data: numbers), AT (tags), and our
 *   own De-identification Method and its code sequence, which are written from the configuration.
 *
 * The forms, from the input:
 * - a name (each component group): "Family Given", "Given Family", with the middle name "Family Given Middle" and
 *   "Given Middle Family" (so "Family^Given", "Family, Given", "GIVEN FAMILY", "Given Middle Family" in any case and
 *   with or without accents), and the family and the given name alone when 4+ letters; shorter parts only in
 *   these combinations; prefixes and suffixes (Dr, MD) not at all;
 * - an ID (Patient ID and the others of PATIENT_IDENTIFIER_KEYWORDS, 4+ characters): as written with its
 *   separators read as any separator, without its separators, and without leading zeros (numeric IDs whose
 *   significant digits are 4+); a run of 6+ significant digits inside an ID also alone;
 * - a date (1850-2199): YYYYMMDD; Y M D, D M Y and M D Y with any separators, with and without leading zeros
 *   (so YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY, MM/DD/YYYY, 4.3.2021); "4 March 2021", "4th March 2021", "March 4,
 *   2021", "4 Mar 2021" (English month names). Two-digit years only for the birth date, with two-digit day and
 *   month (DD MM YY and MM DD YY with any separators: "23.09.70", "09/23/70");
 * - a UID the profile replaced: whole (16+ characters in text); not one the input also holds where an option keeps
 *   it (identifying-values.ts).
 * Our own dummies (ANONYMIZED, 19000101) are never looked for: every output holds them.
 */

/**
 * Letters and digits only, lower case, accents and compatibility forms folded (NFKD, combining marks dropped, a few
 * letters NFKD keeps spelt out), one space between runs. A loop over the characters rather than regular expression
 * replacements: a replacement per separator costs a microsecond, which a megabyte of text would notice.
 */
export function fold(text: string): string {
  const ascii = ASCII.test(text);
  if (ascii && text.length < 256) return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
  const s = (ascii ? text : text.normalize('NFKD')).toLowerCase();
  const out = new Uint16Array(s.length * 2);
  let n = 0;
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const kind = c < 0x80 ? ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ? KEEP : SEPARATOR) : classOf(c);
    if (kind === DROP) continue;
    if (kind === SEPARATOR) {
      space = n > 0;
      continue;
    }
    if (space) {
      out[n++] = 0x20;
      space = false;
    }
    const spelt = c < 0x80 ? undefined : FOLDED_LETTERS[c];
    if (spelt) for (let k = 0; k < spelt.length; k++) out[n++] = spelt.charCodeAt(k);
    else out[n++] = c;
  }
  return n < 4096 ? String.fromCharCode(...out.subarray(0, n)) : UTF16.decode(out.subarray(0, n));
}

const ASCII = /^[\x00-\x7f]*$/;
const UTF16 = new TextDecoder('utf-16le');
const KEEP = 1;
const DROP = 2;
const SEPARATOR = 3;
/** What each UTF-16 code unit is, worked out once per code unit: a letter or digit, a combining mark, or neither. */
const CLASSES = new Uint8Array(0x10000);
function classOf(c: number): number {
  let kind = CLASSES[c]!;
  if (kind === 0) {
    const ch = String.fromCharCode(c);
    kind = c >= 0xd800 && c <= 0xdfff ? KEEP : /\p{M}/u.test(ch) ? DROP : /[\p{L}\p{N}]/u.test(ch) ? KEEP : SEPARATOR;
    CLASSES[c] = kind;
  }
  return kind;
}
/** Letters NFKD does not decompose, by code unit (lower case). */
const FOLDED_LETTERS: Record<number, string> = Object.fromEntries(
  Object.entries({ ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i' }).map(([k, v]) => [k.charCodeAt(0), v]),
);

/** Values every output holds, which are therefore never looked for (dummy-values.ts, markers.ts). */
const OWN_DUMMIES: ReadonlySet<string> = new Set(['anonymized', '19000101']);

/** Code Value, Coding Scheme Designator, Coding Scheme Version, Long Code Value, URN Code Value (PS3.3 8.8). */
const CODED_TAGS: ReadonlySet<Tag> = new Set(['00080100', '00080102', '00080103', '00080119', '00080120']);
/** The coded values that can be a person's name; a designator or a version names a registry. */
const CODES_THAT_MAY_NAME: ReadonlySet<Tag> = new Set(['00080100', '00080119']);
/** De-identification Method and De-identification Method Code Sequence: ours, from the configuration. */
const OWN_MARKS: ReadonlySet<Tag> = new Set(['00120063', '00120064']);
/** Pixel Data, Float and Double Float Pixel Data, Waveform Data, Spectroscopy Data. */
const BULK_TAGS: ReadonlySet<Tag> = new Set(['7FE00010', '7FE00008', '7FE00009', '54001010', '56000020']);

function isBulk(tag: Tag): boolean {
  if (BULK_TAGS.has(tag)) return true;
  const group = groupOf(tag);
  // Overlay Data (60xx,3000) and Curve Data (50xx,3000), repeating groups of even numbers.
  return (group & 0xff01) === 0x6000 || (group & 0xff01) === 0x5000 ? elementOf(tag) === 0x3000 : false;
}

const NUMBER_VRS: ReadonlySet<string> = new Set(['IS', 'DS', 'UL', 'SL', 'FL', 'FD', 'SV', 'UV']);
/** US and SS hold at most 5 digits: never an ID of 6+ digits or a date. */
const SHORT_NUMBER_VRS: ReadonlySet<string> = new Set(['US', 'SS']);
const NOT_TEXT_VRS: ReadonlySet<string> = new Set(['OW', 'OF', 'OD', 'OL', 'OV', 'AT']);
const BYTES_VRS: ReadonlySet<string> = new Set(['OB', 'UN']);

/** Roots of the UIDs that standards assign (DICOM, HL7, IHE, ASTM): SOP classes, transfer syntaxes, coding schemes. */
const STANDARD_UID_ROOTS = ['1.2.840.10008.', '2.16.840.1.113883.', '1.3.6.1.4.1.19376.', '1.2.840.10065.'];

export function isStandardUid(uid: string): boolean {
  return STANDARD_UID_ROOTS.some((root) => uid.startsWith(root));
}

/** An ID's significant digits are looked for in numbers and UIDs from this length on. */
const NUMERIC_ID_DIGITS = 6;
/** A single name part (family or given name) is strong from this many letters or digits on. */
const NAME_PART_LENGTH = 4;

const MONTHS: readonly string[][] = [
  ['january', 'jan'], ['february', 'feb'], ['march', 'mar'], ['april', 'apr'], ['may'], ['june', 'jun'],
  ['july', 'jul'], ['august', 'aug'], ['september', 'sep', 'sept'], ['october', 'oct'], ['november', 'nov'], ['december', 'dec'],
];
const TIME_OF_DAY = '(?:[01]\\d|2[0-3])[0-5]\\d(?:[0-5]\\d)?';
const TIME_OF_DAY_WHOLE = new RegExp(`^${TIME_OF_DAY}$`);
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const alphanumerics = (s: string) => s.replace(/ /g, '').length;
const ordinal = (d: number) => (d % 10 === 1 && d !== 11 ? 'st' : d % 10 === 2 && d !== 12 ? 'nd' : d % 10 === 3 && d !== 13 ? 'rd' : 'th');

/** What one instance's strong values look like, by where they are looked for. */
class Forms {
  /** Folded, whole words of text. */
  readonly words = new Set<string>();
  /** Regular expression sources matched as whole words (numeric IDs with any leading zeros). */
  readonly wordPatterns = new Set<string>();
  /** Folded dates, whole words, also when an ISO "T" and a time follow. */
  readonly dateWords = new Set<string>();
  /** Sources matched between digit boundaries only: digit runs of IDs, YYYYMMDD with an optional time. */
  readonly digitRuns = new Set<string>();
  /** Folded names in scripts without spaces between words, matched anywhere. */
  readonly anywhere = new Set<string>();
  /** Folded whole values a code may equal (not single name parts). */
  readonly whole = new Set<string>();
  /** Single name parts: whole words of text and whole Code Values. */
  readonly nameParts = new Set<string>();
  /** Significant digits of IDs (6+) and YYYYMMDD dates: whole numbers, UID components, numeric codes. */
  readonly numbers = new Set<string>();
  /** YYYYMMDD, for UID components that are a date and a time. */
  readonly dates = new Set<string>();
  /** The input's UIDs that the profile replaced. */
  readonly uids = new Set<string>();

  add(value: ReleaseValue): void {
    if (value.kind === 'name') this.addName(value.components);
    else if (value.kind === 'date') this.addDate(value.ymd, value.birth === true);
    else if (value.kind === 'id') this.addId(value.value);
    else this.addUid(value.value);
  }

  private addName(components: readonly string[]): void {
    const [family, given, middle] = components.slice(0, 3).map((c) => fold(c ?? ''));
    const full: string[] = [];
    if (family && given) {
      full.push(`${family} ${given}`, `${given} ${family}`);
      if (middle) full.push(`${family} ${given} ${middle}`, `${given} ${middle} ${family}`);
    } else if (family && middle) {
      full.push(`${family} ${middle}`, `${middle} ${family}`);
    }
    for (const form of full) {
      if (form.length < 4) continue;
      this.words.add(form);
      this.whole.add(form);
      if (CJK.test(form) && alphanumerics(form) >= 3) this.anywhere.add(form.replace(/ /g, ''));
    }
    for (const part of [family, given]) {
      if (part && alphanumerics(part) >= NAME_PART_LENGTH && !OWN_DUMMIES.has(part)) {
        this.words.add(part);
        this.nameParts.add(part);
      }
    }
  }

  private addDate(ymd: string, birth: boolean): void {
    if (!/^\d{8}$/.test(ymd) || OWN_DUMMIES.has(ymd)) return;
    const year = Number(ymd.slice(0, 4));
    const month = Number(ymd.slice(4, 6));
    const day = Number(ymd.slice(6, 8));
    const valid = new Date(Date.UTC(year, month - 1, day));
    if (year < 1850 || year > 2199 || valid.getUTCMonth() !== month - 1 || valid.getUTCDate() !== day) return;
    const Y = ymd.slice(0, 4);
    const words = new Set<string>();
    for (const [m, d] of [[ymd.slice(4, 6), ymd.slice(6, 8)], [String(month), String(day)]]) {
      words.add(`${Y} ${m} ${d}`).add(`${d} ${m} ${Y}`).add(`${m} ${d} ${Y}`);
    }
    for (const name of MONTHS[month - 1]!) {
      for (const d of new Set([String(day), ymd.slice(6, 8)])) {
        words.add(`${d} ${name} ${Y}`).add(`${name} ${d} ${Y}`).add(`${Y} ${name} ${d}`);
      }
      const nth = `${day}${ordinal(day)}`;
      words.add(`${nth} ${name} ${Y}`).add(`${nth} of ${name} ${Y}`).add(`${name} ${nth} ${Y}`);
    }
    if (birth) {
      // a birth date is often written with a two-digit year ("DOB 23.09.70"); only with two-digit day and month,
      // because "3.4.21" is as likely a version number as a date
      const yy = ymd.slice(2, 4);
      const [mm, dd] = [ymd.slice(4, 6), ymd.slice(6, 8)];
      words.add(`${dd} ${mm} ${yy}`).add(`${mm} ${dd} ${yy}`);
    }
    for (const w of words) {
      this.dateWords.add(w);
      this.whole.add(w);
    }
    this.digitRuns.add(`${ymd}(?:${TIME_OF_DAY})?`);
    this.whole.add(ymd);
    this.numbers.add(ymd);
    this.dates.add(ymd);
  }

  private addId(value: string): void {
    const folded = fold(value);
    if (alphanumerics(folded) < 4) return;
    const compact = folded.replace(/ /g, '');
    this.whole.add(folded).add(compact);
    if (/^\d+$/.test(compact)) {
      const significant = compact.replace(/^0+/, '');
      if (significant.length >= NUMERIC_ID_DIGITS) this.addDigitRun(significant);
      else if (significant.length >= 4) this.wordPatterns.add(`0*${significant}`);
      else this.words.add(compact);
      if (folded !== compact) this.words.add(folded);
      if (significant.length >= 4) this.whole.add(significant);
      return;
    }
    this.words.add(folded);
    if (compact !== folded && compact.length >= NUMERIC_ID_DIGITS) this.words.add(compact);
    for (const run of compact.match(/\d+/g) ?? []) {
      const significant = run.replace(/^0+/, '');
      if (significant.length >= NUMERIC_ID_DIGITS) this.addDigitRun(significant);
    }
  }

  private addDigitRun(significant: string): void {
    this.digitRuns.add(`0*${significant}`);
    this.numbers.add(significant);
  }

  private addUid(uid: string): void {
    if (isStandardUid(uid)) return;
    this.uids.add(uid);
    if (uid.length >= 16) {
      this.words.add(fold(uid));
      this.whole.add(fold(uid));
    }
  }

  /** One pattern for all text forms, or null when there are none. */
  pattern(): RegExp | null {
    const alternation = (sources: Iterable<string>) => [...sources].sort((a, b) => b.length - a.length || (a < b ? -1 : 1)).join('|');
    const branches: string[] = [];
    const bounded = [...[...this.words].map(escape), ...this.wordPatterns];
    if (bounded.length) branches.push(`(?<![^ ])(?:${alternation(bounded)})(?![^ ])`);
    if (this.dateWords.size) branches.push(`(?<![^ ])(?:${alternation([...this.dateWords].map(escape))})(?:(?![^ ])|(?=t\\d))`);
    if (this.digitRuns.size) branches.push(`(?<!\\d)(?:${alternation(this.digitRuns)})(?!\\d)`);
    if (this.anywhere.size) branches.push(`(?:${alternation([...this.anywhere].map(escape))})`);
    return branches.length ? compile(branches.join('|')) : null;
  }
}

/**
 * Compiling a large Unicode pattern costs more than using it, and the files of one study share their values, so
 * recent patterns are kept (a bounded cache).
 */
const compiled = new Map<string, RegExp>();
const CACHE_SIZE = 64;

function compile(source: string): RegExp {
  let pattern = compiled.get(source);
  if (!pattern) {
    pattern = new RegExp(source, 'u');
    if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value as string);
    compiled.set(source, pattern);
  }
  return pattern;
}

const NUMBER = /^\s*[+-]?0*(\d+)(?:\.0*)?\s*$/;

function bytesOf(value: unknown): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

const utf8 = new TextDecoder('utf-8');

/**
 * The release check for one instance: built from the input's identifying values, it finds any strong one left in
 * the output (see the top of this file for where it looks and what it matches).
 */
export class LeftoverFinder {
  private readonly forms = new Forms();
  private readonly pattern: RegExp | null;

  constructor(values: readonly IdentifyingValue[]) {
    for (const value of values) if (value.strong && value.release) this.forms.add(value.release);
    this.pattern = this.forms.pattern();
  }

  /** The tag of the first attribute, at any nesting level, that holds a strong identifying value; else undefined. */
  findIn(dataset: DicomDataset): Tag | undefined {
    for (const [tag, element] of Object.entries(dataset)) {
      const vr = element.vr;
      if (OWN_MARKS.has(tag) || isBulk(tag) || NOT_TEXT_VRS.has(vr) || SHORT_NUMBER_VRS.has(vr)) continue;
      for (const value of element.Value ?? []) {
        if (value === null || value === undefined) continue;
        if (vr === 'SQ') {
          const hit = this.findIn(value as DicomDataset);
          if (hit) return hit;
        } else if (this.holds(tag, vr, value)) {
          return tag;
        }
      }
    }
    return undefined;
  }

  /** Free text: any strong form as a whole word (digit runs and names in scripts without spaces: see above). */
  finds(text: string): boolean {
    return this.pattern !== null && text.length >= 2 && this.pattern.test(fold(text));
  }

  /** A Code Value (and the other coded values) equal to a strong value as a whole. */
  findsInCode(value: string, tag: Tag = '00080100'): boolean {
    const folded = fold(value);
    if (!folded) return false;
    const compact = folded.replace(/ /g, '');
    const { whole, numbers, nameParts } = this.forms;
    if (whole.has(folded) || whole.has(compact)) return true;
    if (/^\d+$/.test(compact) && numbers.has(compact.replace(/^0+/, ''))) return true;
    return CODES_THAT_MAY_NAME.has(tag) && nameParts.has(folded);
  }

  /** A number (IS, DS, binary) equal to an ID of 6+ significant digits or a YYYYMMDD date. */
  findsInNumber(value: string): boolean {
    const m = NUMBER.exec(value);
    return m !== null && this.forms.numbers.has(m[1]!);
  }

  /** A replaced UID of the input, or a UID with an ID or a date as one of its components. */
  findsInUid(value: string): boolean {
    const uid = value.replace(/\0/g, '').trim();
    if (!uid) return false;
    const { uids, numbers, dates } = this.forms;
    if (uids.has(uid)) return true;
    if (isStandardUid(uid)) return false;
    for (const component of uid.split('.')) {
      if (numbers.has(component)) return true;
      if ((component.length === 12 || component.length === 14) && dates.has(component.slice(0, 8)) && TIME_OF_DAY_WHOLE.test(component.slice(8))) return true;
    }
    return false;
  }

  /** Text inside an OB or UN value: Latin-1, and UTF-8 when any byte is above 0x7F; binary bytes separate words. */
  findsInBytes(value: unknown): boolean {
    const bytes = bytesOf(value);
    if (!bytes || bytes.byteLength < 4 || !this.pattern) return false;
    const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    if (this.finds(latin1)) return true;
    return !ASCII.test(latin1) && this.finds(utf8.decode(bytes));
  }

  private holds(tag: Tag, vr: string, value: unknown): boolean {
    if (typeof value === 'string') {
      if (CODED_TAGS.has(tag)) return this.findsInCode(value, tag);
      if (vr === 'UI') return this.findsInUid(value);
      if (NUMBER_VRS.has(vr)) return this.findsInNumber(value);
      return this.finds(value);
    }
    if (typeof value === 'number' || typeof value === 'bigint') return NUMBER_VRS.has(vr) && this.findsInNumber(String(value));
    if (BYTES_VRS.has(vr)) return this.findsInBytes(value);
    if (vr === 'PN' && typeof value === 'object') {
      const pn = value as PersonName;
      return [pn.Alphabetic, pn.Ideographic, pn.Phonetic].some((group) => typeof group === 'string' && this.finds(group));
    }
    return false;
  }
}
