import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { firstString } from '../../src/dicom/dataset.js';
import { readPart10 } from '../../src/dicom/part10.js';

/**
 * A tiny STOW-RS origin server for tests of the exact PS3.18 status cases that a real archive will not
 * produce on demand (202 with chosen Failure Reasons, 409, 401, 503 with Retry-After ...). It really parses
 * each multipart/related request and reads every part as DICOM, so tests see what a destination would get.
 */
export interface ReceivedInstance {
  sopInstanceUID: string;
  patientName?: string;
  patientID?: string;
  bytes: Uint8Array;
}

export interface StowRequest {
  n: number;
  headers: IncomingHttpHeaders;
  contentType: string;
  instances: ReceivedInstance[];
}

export interface ScriptedAnswer {
  status: number;
  /** A JSON body; default: a PS3.18 response built from `stored` and `failed`. */
  body?: unknown;
  stored?: string[];
  failed?: Array<[uid: string, failureReason: number]>;
  headers?: Record<string, string>;
  delayMs?: number;
}

export type Script = (request: StowRequest) => ScriptedAnswer;

/** Split a multipart body on its boundary (RFC 2046); enough for well-formed test traffic. */
export function parseMultipart(body: Buffer, contentType: string): Array<{ headers: string; body: Buffer }> {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new Error('no boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ headers: string; body: Buffer }> = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, afterDelimiter);
    if (next < 0) throw new Error('unterminated part');
    const part = body.subarray(afterDelimiter + 2, next - 2); // skip CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    parts.push({ headers: part.subarray(0, split).toString(), body: part.subarray(split + 4) });
    start = next;
  }
  return parts;
}

export function stowResponse(stored: string[], failed: Array<[string, number]>): Record<string, unknown> {
  const ref = (uid: string) => ({ '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.1.1'] }, '00081155': { vr: 'UI', Value: [uid] } });
  return {
    ...(failed.length ? { '00081198': { vr: 'SQ', Value: failed.map(([uid, code]) => ({ ...ref(uid), '00081197': { vr: 'US', Value: [code] } })) } } : {}),
    ...(stored.length ? { '00081199': { vr: 'SQ', Value: stored.map(ref) } } : {}),
  };
}

export interface ScriptedStowServer {
  url: string;
  requests: StowRequest[];
  /** Every instance that was answered as stored, by SOP Instance UID (last copy wins). */
  stored: Map<string, ReceivedInstance>;
  setScript(script: Script): void;
  close(): Promise<void>;
}

export async function startScriptedStowServer(initial: Script): Promise<ScriptedStowServer> {
  let script = initial;
  const requests: StowRequest[] = [];
  const stored = new Map<string, ReceivedInstance>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      const instances = parseMultipart(Buffer.concat(chunks), contentType).map(({ body }) => {
        const file = readPart10(new Uint8Array(body));
        return {
          sopInstanceUID: firstString(file.dataset, '00080018')!,
          patientName: firstString(file.dataset, '00100010'),
          patientID: firstString(file.dataset, '00100020'),
          bytes: new Uint8Array(body),
        };
      });
      const request: StowRequest = { n: requests.length + 1, headers: req.headers, contentType, instances };
      requests.push(request);
      const answer = script(request);
      const storedUIDs = answer.stored ?? (answer.status === 200 ? instances.map((i) => i.sopInstanceUID) : []);
      for (const uid of storedUIDs) {
        const instance = instances.find((i) => i.sopInstanceUID === uid);
        if (instance && answer.status < 300) stored.set(uid, instance);
      }
      const body = answer.body ?? (answer.status < 300 || answer.status === 409 || answer.stored || answer.failed ? stowResponse(storedUIDs, answer.failed ?? []) : { error: 'scripted' });
      const send = (): void => {
        res.writeHead(answer.status, { 'content-type': 'application/dicom+json', ...answer.headers });
        res.end(JSON.stringify(body));
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/dicom-web`,
    requests,
    stored,
    setScript(next) {
      script = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
