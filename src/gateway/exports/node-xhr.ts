import type { Dispatcher } from 'undici';

/**
 * The part of XMLHttpRequest that dicomweb-client uses, on an undici dispatcher: Node has no XMLHttpRequest, and
 * the library takes the request object per call (`request.instance`). A response larger than `maxBytes` is cut
 * and reported as a failed request (status 0), like a network error; so is a timeout or an abort.
 */
export class NodeXhr {
  readyState = 0;
  status = 0;
  statusText = '';
  response: unknown = null;
  responseType: '' | 'json' | 'arraybuffer' | 'text' = '';
  withCredentials = false;
  onreadystatechange: (() => void) | null = null;
  onprogress: ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null = null;
  onloadstart: (() => void) | null = null;
  onloadend: (() => void) | null = null;
  /** Why the request failed without an HTTP status (network, size, abort), for the caller's message. */
  failure?: string;
  private method = 'GET';
  private url = '';
  private readonly requestHeaders: Record<string, string> = {};
  private responseHeaders: Record<string, string> = {};

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly o: { maxBytes: number; signal?: AbortSignal; headersTimeoutMs: number; bodyTimeoutMs: number },
  ) {}

  open(method: string, url: string): void {
    this.method = method.toUpperCase();
    this.url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string): void {
    this.requestHeaders[name.toLowerCase()] = value;
  }

  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }

  getAllResponseHeaders(): string {
    return Object.entries(this.responseHeaders)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  }

  send(body?: string | Uint8Array | ArrayBuffer): void {
    this.onloadstart?.();
    void this.run(body).finally(() => {
      this.readyState = 4;
      this.onreadystatechange?.();
      this.onloadend?.();
    });
  }

  private async run(body?: string | Uint8Array | ArrayBuffer): Promise<void> {
    const url = new URL(this.url);
    try {
      const res = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: this.method as Dispatcher.HttpMethod,
        headers: this.requestHeaders,
        body: body instanceof ArrayBuffer ? new Uint8Array(body) : body,
        signal: this.o.signal,
        headersTimeout: this.o.headersTimeoutMs,
        bodyTimeout: this.o.bodyTimeoutMs,
      });
      this.responseHeaders = Object.fromEntries(
        Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v ?? '')]),
      );
      const declared = Number(this.responseHeaders['content-length'] ?? NaN);
      if (declared > this.o.maxBytes) {
        res.body.destroy();
        this.failure = `the answer announces ${declared} bytes, above the limit of ${this.o.maxBytes}`;
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.o.maxBytes) {
          res.body.destroy();
          this.failure = `the answer is larger than the limit of ${this.o.maxBytes} bytes`;
          return;
        }
        chunks.push(chunk);
        this.onprogress?.({ loaded: size, total: Number.isFinite(declared) ? declared : 0, lengthComputable: Number.isFinite(declared) });
      }
      const all = Buffer.concat(chunks);
      this.status = res.statusCode;
      if (this.responseType === 'arraybuffer') this.response = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      else if (this.responseType === 'json') {
        if (res.statusCode < 200 || res.statusCode >= 300) return;
        try {
          this.response = all.length ? (JSON.parse(all.toString('utf8')) as unknown) : null;
        } catch {
          this.status = 0;
          this.failure = 'the answer is not valid JSON';
        }
      } else this.response = all.toString('utf8');
    } catch (err) {
      this.status = 0;
      const e = err as NodeJS.ErrnoException;
      this.failure = e.name === 'AbortError' ? 'aborted' : (e.code ?? e.name);
    }
  }
}
