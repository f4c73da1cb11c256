/**
 * Decoding of DICOM text under Specific Character Set (0008,0005), PS3.5 6.1 and Annex C/D/E/H/I/J/K.
 *
 * dcmjs decodes single-byte character sets and UTF-8 but refuses ISO 2022 code extensions and multi-valued
 * (0008,0005), which Japanese, Korean and Chinese sites use. We decode those here, segment by segment, following
 * the escape sequences, and the reader re-encodes the text as UTF-8 (ISO_IR 192), which every later stage uses.
 */

/** Decoders for the single-byte sets, by their defined term (without the "ISO 2022 " / "ISO_IR " prefix). */
const SINGLE_BYTE_ENCODINGS: Record<string, string> = {
  'IR 6': 'windows-1252', // ASCII; bytes > 0x7F are invalid but common, read as Latin-1
  'IR 100': 'windows-1252',
  'IR 101': 'iso-8859-2',
  'IR 109': 'iso-8859-3',
  'IR 110': 'iso-8859-4',
  'IR 144': 'iso-8859-5',
  'IR 127': 'iso-8859-6',
  'IR 126': 'iso-8859-7',
  'IR 138': 'iso-8859-8',
  'IR 148': 'iso-8859-9',
  'IR 203': 'iso-8859-15',
  'IR 166': 'windows-874',
  'IR 13': 'shift_jis', // JIS X 0201: single bytes only, which shift_jis decodes as JIS X 0201
};

/** Single-valued terms that are not ISO 2022 and need no code extension handling. */
const PLAIN_ENCODINGS: Record<string, string> = {
  '': 'windows-1252',
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

/** A code element: what bytes mean while it is designated. */
type CodeElement =
  | { kind: 'single'; encoding: string }
  | { kind: 'jis-x-0208' } // G0, two 7-bit bytes, decoded as EUC-JP with the high bits set
  | { kind: 'jis-x-0212' } // G0, as above with the SS3 prefix 0x8F
  | { kind: 'g1-double'; encoding: string }; // G1, two 8-bit bytes (KS X 1001 via EUC-KR, GB 2312 via GBK)

interface CodeState {
  g0: CodeElement;
  g1: CodeElement | null;
}

const ASCII: CodeElement = { kind: 'single', encoding: 'windows-1252' };

/** Escape sequences (bytes after ESC) and what they designate, PS3.3 C.12.1.1.2 Table C.12-3/4/5. */
const ESCAPES: Array<{ seq: number[]; g: 0 | 1; element: CodeElement }> = [
  { seq: [0x28, 0x42], g: 0, element: ASCII }, // ESC ( B   ISO-IR 6
  { seq: [0x28, 0x4a], g: 0, element: ASCII }, // ESC ( J   ISO-IR 14 JIS X 0201 Romaji (ASCII-like)
  { seq: [0x29, 0x49], g: 1, element: { kind: 'single', encoding: 'shift_jis' } }, // ESC ) I   ISO-IR 13 Katakana
  { seq: [0x24, 0x42], g: 0, element: { kind: 'jis-x-0208' } }, // ESC $ B   ISO-IR 87
  { seq: [0x24, 0x28, 0x44], g: 0, element: { kind: 'jis-x-0212' } }, // ESC $ ( D ISO-IR 159
  { seq: [0x24, 0x29, 0x43], g: 1, element: { kind: 'g1-double', encoding: 'euc-kr' } }, // ESC $ ) C ISO-IR 149
  { seq: [0x24, 0x29, 0x41], g: 1, element: { kind: 'g1-double', encoding: 'gbk' } }, // ESC $ ) A ISO-IR 58
  { seq: [0x2d, 0x41], g: 1, element: { kind: 'single', encoding: 'windows-1252' } }, // ESC - A ISO-IR 100
  { seq: [0x2d, 0x42], g: 1, element: { kind: 'single', encoding: 'iso-8859-2' } }, // ISO-IR 101
  { seq: [0x2d, 0x43], g: 1, element: { kind: 'single', encoding: 'iso-8859-3' } }, // ISO-IR 109
  { seq: [0x2d, 0x44], g: 1, element: { kind: 'single', encoding: 'iso-8859-4' } }, // ISO-IR 110
  { seq: [0x2d, 0x4c], g: 1, element: { kind: 'single', encoding: 'iso-8859-5' } }, // ISO-IR 144
  { seq: [0x2d, 0x47], g: 1, element: { kind: 'single', encoding: 'iso-8859-6' } }, // ISO-IR 127
  { seq: [0x2d, 0x46], g: 1, element: { kind: 'single', encoding: 'iso-8859-7' } }, // ISO-IR 126
  { seq: [0x2d, 0x48], g: 1, element: { kind: 'single', encoding: 'iso-8859-8' } }, // ISO-IR 138
  { seq: [0x2d, 0x4d], g: 1, element: { kind: 'single', encoding: 'iso-8859-9' } }, // ISO-IR 148
  { seq: [0x2d, 0x62], g: 1, element: { kind: 'single', encoding: 'iso-8859-15' } }, // ISO-IR 203
  { seq: [0x2d, 0x54], g: 1, element: { kind: 'single', encoding: 'windows-874' } }, // ISO-IR 166
];

const decoders = new Map<string, TextDecoder>();
function decoderFor(encoding: string): TextDecoder {
  let d = decoders.get(encoding);
  if (!d) {
    d = new TextDecoder(encoding);
    decoders.set(encoding, d);
  }
  return d;
}

/** The state in effect at the start of a value, from the first value of (0008,0005) (PS3.5 6.1.2.5.3). */
function initialState(terms: readonly string[]): CodeState {
  const first = (terms[0] ?? '').trim();
  if (first === '' || first === 'ISO 2022 IR 6') return { g0: ASCII, g1: null };
  const ir = first.replace(/^ISO 2022 /, '');
  if (ir === 'IR 13') return { g0: ASCII, g1: { kind: 'single', encoding: 'shift_jis' } };
  if (ir === 'IR 87') return { g0: { kind: 'jis-x-0208' }, g1: null };
  if (ir === 'IR 149') return { g0: ASCII, g1: { kind: 'g1-double', encoding: 'euc-kr' } };
  if (ir === 'IR 58') return { g0: ASCII, g1: { kind: 'g1-double', encoding: 'gbk' } };
  const single = SINGLE_BYTE_ENCODINGS[ir];
  if (single) return { g0: ASCII, g1: { kind: 'single', encoding: single } };
  return { g0: ASCII, g1: null };
}

/** True when the terms need this module (dcmjs handles the rest). */
export function needsCodeExtensions(terms: readonly string[]): boolean {
  return terms.length > 1 || terms.some((t) => t.trim().startsWith('ISO 2022'));
}

/** True when text under these terms is already ASCII or UTF-8, so no transcoding is needed. */
export function isUtf8Compatible(terms: readonly string[]): boolean {
  if (terms.length === 0) return true;
  if (terms.length > 1) return false;
  const t = terms[0].trim();
  return t === '' || t === 'ISO_IR 6' || t === 'ISO_IR 192' || t === 'ISO 2022 IR 6';
}

/** Characters after which the code elements return to their defaults (PS3.5 6.1.2.5.3). */
const RESET_BYTES = new Set([0x5c, 0x0d, 0x0a, 0x09, 0x0c]);
const PN_RESET_BYTES = new Set([0x5e, 0x3d]);

/**
 * Decode one element's value bytes (all values, with their backslash separators) to a JavaScript string.
 * @param isPersonName resets also at the PN delimiters '^' and '='.
 */
export function decodeText(bytes: Uint8Array, terms: readonly string[], isPersonName = false): string {
  if (!needsCodeExtensions(terms)) {
    const term = (terms[0] ?? '').trim();
    const encoding = PLAIN_ENCODINGS[term] ?? SINGLE_BYTE_ENCODINGS[term.replace(/^ISO_IR /, 'IR ')] ?? 'windows-1252';
    return decoderFor(encoding).decode(bytes);
  }
  const initial = initialState(terms);
  let state: CodeState = { ...initial };
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b === 0x1b) {
      const match = ESCAPES.find((e) => e.seq.every((s, k) => bytes[i + 1 + k] === s));
      if (match) {
        if (match.g === 0) state = { ...state, g0: match.element };
        else state = { ...state, g1: match.element };
        i += 1 + match.seq.length;
        continue;
      }
      // Unknown escape: keep it visible rather than guess.
      out += '\u001b';
      i += 1;
      continue;
    }
    if (b < 0x80) {
      const g0 = state.g0;
      if (g0.kind === 'jis-x-0208' || g0.kind === 'jis-x-0212') {
        // Two-byte G0: control characters and space still pass as single bytes.
        if (b < 0x21 || i + 1 >= bytes.length) {
          out += String.fromCharCode(b);
          i += 1;
          continue;
        }
        const pair = [b | 0x80, bytes[i + 1] | 0x80];
        const euc = g0.kind === 'jis-x-0212' ? [0x8f, ...pair] : pair;
        out += decoderFor('euc-jp').decode(Uint8Array.from(euc));
        i += 2;
        continue;
      }
      out += String.fromCharCode(b);
      i += 1;
      if (RESET_BYTES.has(b) || (isPersonName && PN_RESET_BYTES.has(b))) state = { ...initial };
      continue;
    }
    const g1 = state.g1;
    if (g1 && g1.kind === 'g1-double' && i + 1 < bytes.length) {
      out += decoderFor(g1.encoding).decode(bytes.subarray(i, i + 2));
      i += 2;
      continue;
    }
    const encoding = g1 && g1.kind === 'single' ? g1.encoding : 'windows-1252';
    out += decoderFor(encoding).decode(bytes.subarray(i, i + 1));
    i += 1;
  }
  return out;
}

/** Value representations whose values are decoded with Specific Character Set (PS3.5 6.1.2.3). */
export const CHARSET_VRS: ReadonlySet<string> = new Set(['SH', 'LO', 'ST', 'LT', 'PN', 'UC', 'UT']);
