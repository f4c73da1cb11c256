import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnofairError } from '../../errors/anofair-error.js';

/**
 * CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer reads a Stable Diffusion tokenizer/ folder
 * (vocab.json, merges.txt, special_tokens_map.json): lower-cased, whitespace-collapsed text, CLIP's word pattern,
 * "</w>" on each word's last symbol, padded to model_max_length with the pad token (SD2: "!", id 0) and truncated
 * with the end token kept. The same code reads the demo model's tokenizer and a real SD2 export's.
 */

const START = '<|startoftext|>';
const END = '<|endoftext|>';
// CLIP's pattern (with Unicode letter and number classes), case-insensitive as CLIP compiles it
const WORD = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** GPT-2/CLIP's reversible map from bytes to printable characters. */
function byteEncoder(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}
const BYTE_TO_CHAR = byteEncoder();

const HTML_ENTITY = /&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|nbsp);/gi;
function unescapeHtml(text: string): string {
  return text.replace(HTML_ENTITY, (whole, body: string) => {
    const b = body.toLowerCase();
    if (b.startsWith('#x')) return String.fromCodePoint(Number.parseInt(b.slice(2), 16));
    if (b.startsWith('#')) return String.fromCodePoint(Number.parseInt(b.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' } as Record<string, string>)[b] ?? whole;
  });
}

export interface ClipTokenizerFiles {
  vocab: Record<string, number>;
  merges: [string, string][];
  padToken: string;
  maxLength: number;
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly startId: number;
  readonly endId: number;
  readonly padId: number;
  private readonly vocab: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly specials: Map<string, number>;
  private readonly specialSplit: RegExp;
  private readonly cache = new Map<string, string[]>();

  constructor(files: ClipTokenizerFiles) {
    this.vocab = new Map(Object.entries(files.vocab));
    files.merges.forEach(([a, b], rank) => this.ranks.set(`${a} ${b}`, rank));
    this.maxLength = files.maxLength;
    const id = (token: string): number => {
      const v = this.vocab.get(token);
      if (v === undefined) throw new AnofairError('CONFIG_INVALID', `tokenizer: the vocabulary has no ${JSON.stringify(token)}`);
      return v;
    };
    this.startId = id(START);
    this.endId = id(END);
    this.padId = id(files.padToken);
    // like transformers, special tokens (SD2's pad "!" among them) are split out of the text and map to their ids
    this.specials = new Map([START, END, files.padToken].map((t) => [t, id(t)]));
    const escaped = [...this.specials.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialSplit = new RegExp(`(${escaped.join('|')})`);
  }

  /** Reads a tokenizer/ folder of a Stable Diffusion (CLIPTokenizer) export. */
  static load(folder: string): ClipTokenizer {
    const read = (name: string): string => {
      const path = join(folder, name);
      if (!existsSync(path)) throw new AnofairError('CONFIG_INVALID', `tokenizer folder ${folder} has no ${name}`);
      return readFileSync(path, 'utf8');
    };
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(read('vocab.json')) as Record<string, number>;
    } catch (err) {
      if (err instanceof AnofairError) throw err;
      throw new AnofairError('CONFIG_INVALID', `${join(folder, 'vocab.json')} is not valid JSON`);
    }
    const merges = read('merges.txt')
      .split('\n')
      .filter((line, i) => line.trim() && !(i === 0 && line.startsWith('#version')))
      .map((line) => line.trim().split(/\s+/) as [string, string]);
    let padToken = END; // CLIPTokenizer's default pad (SD1.x); SD2 pads with "!"
    let maxLength = 77;
    for (const name of ['special_tokens_map.json', 'tokenizer_config.json']) {
      if (!existsSync(join(folder, name))) continue;
      const cfg = JSON.parse(read(name)) as Record<string, unknown>;
      padToken = tokenContent(cfg.pad_token) ?? padToken;
      if (typeof cfg.model_max_length === 'number' && cfg.model_max_length < 100_000) maxLength = cfg.model_max_length;
    }
    return new ClipTokenizer({ vocab, merges, padToken, maxLength });
  }

  /** Token ids as CLIPTokenizer(text, padding="max_length", truncation=True, max_length=77) gives them. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of text.split(this.specialSplit)) {
      if (!piece) continue;
      const special = this.specials.get(piece);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      const cleaned = unescapeHtml(unescapeHtml(piece)).replace(/\s+/g, ' ').trim().toLowerCase();
      for (const match of cleaned.matchAll(WORD)) {
        const word = Array.from(Buffer.from(match[0], 'utf8'), (b) => BYTE_TO_CHAR[b]!).join('');
        for (const symbol of this.bpe(word)) {
          const id = this.vocab.get(symbol);
          if (id === undefined) throw new AnofairError('CONFIG_INVALID', `tokenizer: no id for the BPE symbol ${JSON.stringify(symbol)}; vocab.json and merges.txt do not belong together`);
          ids.push(id);
        }
      }
    }
    const body = ids.slice(0, this.maxLength - 2);
    const out = [this.startId, ...body, this.endId];
    while (out.length < this.maxLength) out.push(this.padId);
    return out;
  }

  private bpe(word: string): string[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const chars = Array.from(word);
    let symbols = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (symbols.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let at = -1;
      for (let k = 0; k + 1 < symbols.length; k++) {
        const rank = this.ranks.get(`${symbols[k]} ${symbols[k + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          at = k;
        }
      }
      if (at < 0) break;
      const a = symbols[at]!;
      const b = symbols[at + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(symbols[i]!);
      }
      symbols = merged;
    }
    if (this.cache.size < 10_000) this.cache.set(word, symbols);
    return symbols;
  }
}
