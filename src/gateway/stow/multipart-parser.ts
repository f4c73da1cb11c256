/**
 * A streaming parser for multipart/related bodies (RFC 2387, RFC 2046 5.1; PS3.18 8.6.1.2), after dcm4che's
 * MultipartParser: one part at a time, memory bounded by the largest header block plus the delimiter, never
 * by the size of a part or of the request.
 *
 * push() consumes a chunk and returns events in stream order. Besides the part events it returns `forward`
 * events: the bytes a relaying proxy should send on, which are the input bytes unchanged except for part header
 * blocks the caller chose to rewrite (see rewriteHeaders). When the body turns out to be malformed, the parser
 * emits one `error` event and from then on forwards the rest unchanged without parsing it: the upstream is left to
 * judge a body the gateway could not read. An error event with `limit` set is a body past one of the limits
 * (a part's header block, all header blocks, the number of parts): a well-formed body the gateway refuses.
 */

export interface PartHeaders {
  /** Header fields, lower-cased names; a repeated field keeps its first value. */
  readonly fields: ReadonlyMap<string, string>;
  /** The header block as received (without the blank line that ends it). */
  readonly raw: Buffer;
}

export type MultipartEvent =
  | { type: 'forward'; data: Buffer }
  | { type: 'part-start'; index: number; headers: PartHeaders }
  | { type: 'part-data'; index: number; data: Buffer }
  | { type: 'part-end'; index: number }
  | { type: 'end'; parts: number }
  | { type: 'error'; reason: string; /** the part that was open, if any */ index?: number; /** the configuration key of the limit the body went past */ limit?: string };

export interface MultipartParserOptions {
  /** Largest header block of one part (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Most parts (default: no limit). */
  maxParts?: number;
  /** Largest total of all header blocks (default: no limit). */
  maxTotalHeaderBytes?: number;
  /** Configuration keys named in limit errors. */
  limitNames?: { maxHeaderBytes?: string; maxParts?: string; maxTotalHeaderBytes?: string };
  /**
   * Return a replacement for a part's header block (without the terminating blank line), or undefined to keep
   * it. Used to strip a Content-Type parameter an upstream rejects.
   */
  rewriteHeaders?: (headers: PartHeaders) => Buffer | undefined;
}

type State = 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'epilogue' | 'broken';

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * RFC 2046 5.1.1 bchars, not ending with a space. RFC 2046 caps the length at 70, but real clients exceed it
 * (Orthanc's DICOMweb client sends 73 characters), so up to 256 are accepted.
 */
export function isValidBoundary(boundary: string): boolean {
  return /^[0-9A-Za-z'()+_,\-./:=? ]{0,255}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary);
}

export function parseHeaderBlock(raw: Buffer): Map<string, string> | string {
  const fields = new Map<string, string>();
  const text = raw.toString('latin1');
  if (text.length === 0) return fields;
  let current: [string, string] | undefined;
  const commit = (): void => {
    if (current && !fields.has(current[0])) fields.set(current[0], current[1].trim());
  };
  for (const line of text.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current[1] += ` ${line.trim()}`; // obsolete line folding (RFC 5322 2.2.3)
      continue;
    }
    commit();
    const colon = line.indexOf(':');
    if (colon <= 0) return `a part header line is not "Name: value"`;
    current = [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1)];
  }
  commit();
  return fields;
}

export class MultipartRelatedParser {
  private state: State = 'preamble';
  private pending: Buffer = Buffer.alloc(0);
  private readonly dashBoundary: Buffer;
  /** CRLF "--" boundary: what ends a part body (RFC 2046 5.1.1). */
  private readonly delimiter: Buffer;
  private readonly maxHeaderBytes: number;
  private index = -1;
  private started = false;
  private headerBytes = 0;

  constructor(
    boundary: string,
    private readonly options: MultipartParserOptions = {},
  ) {
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.concat([CRLF, this.dashBoundary]);
    this.maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
  }

  /** Number of parts started so far. */
  get parts(): number {
    return this.index + 1;
  }

  get failed(): boolean {
    return this.state === 'broken';
  }

  push(chunk: Buffer): MultipartEvent[] {
    const out: MultipartEvent[] = [];
    if (this.state === 'broken' || this.state === 'epilogue') {
      if (chunk.length > 0) out.push({ type: 'forward', data: chunk });
      return out;
    }
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = Buffer.alloc(0);
    let pos = 0;
    const forward = (end: number): void => {
      if (end > pos) out.push({ type: 'forward', data: buf.subarray(pos, end) });
      pos = end;
    };
    const fail = (reason: string, limit?: string): void => {
      out.push({ type: 'error', reason, ...(this.state === 'body' || this.state === 'headers' ? { index: this.index } : {}), ...(limit ? { limit } : {}) });
      this.state = 'broken';
      forward(buf.length);
    };
    const names = this.options.limitNames ?? {};
    const headerTooLarge = (): void =>
      fail(`the header block of part ${this.index + 1} exceeds ${this.maxHeaderBytes} bytes${names.maxHeaderBytes ? ` (${names.maxHeaderBytes})` : ''}`, names.maxHeaderBytes ?? 'maxHeaderBytes');

    for (;;) {
      if (this.state === 'preamble') {
        // The first delimiter may open the body without a preceding CRLF.
        if (!this.started && buf.length - pos < this.dashBoundary.length) break;
        if (!this.started && buf.subarray(pos, pos + this.dashBoundary.length).equals(this.dashBoundary)) {
          this.started = true;
          forward(pos + this.dashBoundary.length);
          this.state = 'after-delimiter';
          continue;
        }
        this.started = true;
        const at = buf.indexOf(this.delimiter, pos);
        if (at === -1) {
          forward(Math.max(pos, buf.length - (this.delimiter.length - 1)));
          break;
        }
        forward(at + this.delimiter.length);
        this.state = 'after-delimiter';
        continue;
      }
      if (this.state === 'after-delimiter') {
        // "--" closes the body; otherwise optional transport padding, then CRLF.
        if (buf.length - pos < 2) break;
        if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) {
          forward(pos + 2);
          this.state = 'epilogue';
          out.push({ type: 'end', parts: this.index + 1 });
          forward(buf.length);
          break;
        }
        let p = pos;
        while (p < buf.length && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
        if (buf.length - p < 2) {
          if (p - pos > 256) {
            fail('the multipart boundary line has trailing garbage');
            break;
          }
          break;
        }
        if (buf[p] !== 0x0d || buf[p + 1] !== 0x0a) {
          fail('a multipart boundary is not followed by CRLF (is the boundary parameter right?)');
          break;
        }
        if (this.options.maxParts !== undefined && this.index + 1 >= this.options.maxParts) {
          fail(`the request holds more than ${this.options.maxParts} parts${names.maxParts ? ` (${names.maxParts})` : ''}`, names.maxParts ?? 'maxParts');
          break;
        }
        forward(p + 2);
        this.state = 'headers';
        this.index++;
        continue;
      }
      if (this.state === 'headers') {
        let end: number;
        let rawEnd: number;
        if (buf.length - pos >= 2 && buf[pos] === 0x0d && buf[pos + 1] === 0x0a) {
          end = pos + 2; // no header fields at all
          rawEnd = pos;
        } else {
          const at = buf.indexOf(HEADER_END, pos);
          if (at === -1) {
            // Held back until its end is seen: never more than the limit (plus one chunk).
            if (buf.length - pos > this.maxHeaderBytes) headerTooLarge();
            break;
          }
          end = at + HEADER_END.length;
          rawEnd = at;
        }
        if (rawEnd - pos > this.maxHeaderBytes) {
          headerTooLarge();
          break;
        }
        this.headerBytes += rawEnd - pos;
        if (this.options.maxTotalHeaderBytes !== undefined && this.headerBytes > this.options.maxTotalHeaderBytes) {
          fail(`the part header blocks of the request exceed ${this.options.maxTotalHeaderBytes} bytes in total${names.maxTotalHeaderBytes ? ` (${names.maxTotalHeaderBytes})` : ''}`, names.maxTotalHeaderBytes ?? 'maxTotalHeaderBytes');
          break;
        }
        const raw = Buffer.from(buf.subarray(pos, rawEnd));
        const fields = parseHeaderBlock(raw);
        if (typeof fields === 'string') {
          fail(`part ${this.index + 1}: ${fields}`);
          break;
        }
        const headers: PartHeaders = { fields, raw };
        const replacement = this.options.rewriteHeaders?.(headers);
        if (replacement) {
          out.push({ type: 'forward', data: replacement.length > 0 ? Buffer.concat([replacement, HEADER_END]) : CRLF });
          pos = end;
        } else {
          forward(end);
        }
        out.push({ type: 'part-start', index: this.index, headers });
        this.state = 'body';
        continue;
      }
      if (this.state === 'body') {
        const at = buf.indexOf(this.delimiter, pos);
        if (at === -1) {
          const keep = Math.max(pos, buf.length - (this.delimiter.length - 1));
          if (keep > pos) {
            const data = buf.subarray(pos, keep);
            out.push({ type: 'part-data', index: this.index, data });
            forward(keep);
          }
          break;
        }
        if (at > pos) out.push({ type: 'part-data', index: this.index, data: buf.subarray(pos, at) });
        out.push({ type: 'part-end', index: this.index });
        forward(at + this.delimiter.length);
        this.state = 'after-delimiter';
        continue;
      }
      break;
    }
    if (pos < buf.length) this.pending = Buffer.from(buf.subarray(pos));
    buf = Buffer.alloc(0);
    return out;
  }

  /** The body ended: flush what is held back and report a truncated body. */
  end(): MultipartEvent[] {
    const out: MultipartEvent[] = [];
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (this.state === 'epilogue' || this.state === 'broken') {
      if (rest.length > 0) out.push({ type: 'forward', data: rest });
      return out;
    }
    const reason =
      this.state === 'preamble'
        ? 'no multipart boundary was found in the body (is the boundary parameter right?)'
        : this.state === 'body'
          ? `the body ended inside part ${this.index + 1}, before its closing boundary (truncated)`
          : 'the body ended before the closing multipart boundary (truncated)';
    out.push({ type: 'error', reason, ...(this.state === 'body' || this.state === 'headers' ? { index: this.index } : {}) });
    this.state = 'broken';
    if (rest.length > 0) out.push({ type: 'forward', data: rest });
    return out;
  }
}
