import type { IdentifyingValue } from '../identifying-values.js';

/**
 * Clean Descriptors / Clean Structured Content for free text: every identifying value of the same data set is
 * replaced wherever it appears, and so is anything that looks like a date, an e-mail address, a telephone
 * number or a long identifier, since free text often names values that the header does not hold.
 */
export const SCRUBBED = '***';

const GENERIC_PATTERNS: RegExp[] = [
  /\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b/g, // 2021-03-04
  /\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b/g, // 04.03.2021, 3/4/21
  /\b(19|20)\d{6}\b/g, // 20210304
  /[\w.+-]+@[\w-]+(\.[\w-]+)+/g, // e-mail
  /\+?\d[\d ()-]{7,}\d/g, // telephone numbers
  /\b[A-Z]{0,3}\d{6,}\b/gi, // MRN-like identifiers
];

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Whole-word, case-insensitive alternation of the forms. Compiling a large Unicode pattern costs more than
 * using it, and the files of one study share their values, so recent patterns are kept (a bounded cache).
 */
const compiled = new Map<string, RegExp>();
const CACHE_SIZE = 64;

function wordPattern(forms: readonly string[], flags: string): RegExp {
  const source = `(?<![\\p{L}\\p{N}])(?:${forms.map(escape).join('|')})(?![\\p{L}\\p{N}])`;
  const cacheKey = `${flags}/${source}`;
  let pattern = compiled.get(cacheKey);
  if (!pattern) {
    pattern = new RegExp(source, flags);
    if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value as string);
    compiled.set(cacheKey, pattern);
  }
  pattern.lastIndex = 0;
  return pattern;
}

export class TextScrubber {
  private readonly specific: RegExp | null;

  constructor(values: readonly IdentifyingValue[]) {
    const forms = [...new Set(values.flatMap((v) => v.forms))].filter((f) => f.length >= 2).sort((a, b) => b.length - a.length);
    this.specific = forms.length
      ? wordPattern(forms, 'giu')
      : null;
  }

  /** `generic: false` for coded values: a SNOMED code looks like a long identifier but is not one. */
  scrub(text: string, { generic = true }: { generic?: boolean } = {}): string {
    let out = this.specific ? text.replace(this.specific, SCRUBBED) : text;
    if (generic) for (const pattern of GENERIC_PATTERNS) out = out.replace(pattern, SCRUBBED);
    return out;
  }
}

/** The release check lives in release-check.ts; it is exported here too, where it has always been imported from. */
export { LeftoverFinder } from './release-check.js';
