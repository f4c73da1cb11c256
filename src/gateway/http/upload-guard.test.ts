import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { FORWARD_EVERYTHING_RULES, startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { lookupInstance } from '../../../test/harness/orthanc.js';
import { multipartBody, newTestBoundary, stowContentType } from '../../../test/harness/stow-body.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { BodyPace } from './upload-guard.js';

/**
 * Slow and abusive uploads against real servers: a flood of STOW-RS requests that announce a large body and then
 * stall or trickle is held to the upload slots (429 per client, 503 in total, at once and before the PACS sees
 * anything); the admitted ones are cut with 408 within the configured window and their upstream requests
 * aborted, so the PACS keeps answering throughout and holds no connection of theirs afterwards.
 */

const CT = 'pydicom/CT_small.dcm';
const MR = 'pydicom/MR_small.dcm';
const GiB = 1024 * 1024 * 1024;

// Long enough that all twenty admitted uploads are open before the first is cut, on a loaded machine too; a
// stalled body is cut for its silence (IDLE_MS) well before its rate is first judged (WINDOW_MS).
const IDLE_MS = 2_000;
const WINDOW_MS = 3_000;
const MIN_RATE = 4_096;
const TOTAL = 20;
const PER_CLIENT = 4;
/** How late a cut may come past its limit here: the guard's tick (a tenth of the limit) and a loaded machine. */
const SLACK_MS = 1_000;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From the request's headers being sent to the first byte of the answer. */
  ms: number;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

type Pace = 'stall' | 'trickle' | { bytesPerTick: number; everyMs: number };

/**
 * A STOW-RS over a raw socket from `localAddress`: the headers announce `length` bytes; the body is `body`, sent
 * at the given pace (stall: its first 200 bytes, then nothing; trickle: 20 bytes every 100 ms). `whole`: the body is
 * sent in full, and the request asks for the connection to be closed after the answer.
 */
function upload(stack: Stack, o: { localAddress: string; path?: string; pace: Pace; body?: Buffer; boundary?: string; length?: number; whole?: boolean }): Promise<RawAnswer> {
  const url = new URL(stack.url);
  const boundary = o.boundary ?? newTestBoundary();
  const body = o.body ?? multipartBody([{ bytes: fixture(CT) }], boundary);
  const length = o.length ?? GiB;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), localAddress: o.localAddress });
    const chunks: Buffer[] = [];
    let sentAt = 0;
    let firstByteAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let offset = 0;
    const send = (n: number): void => {
      if (offset >= body.length || socket.destroyed) return;
      socket.write(body.subarray(offset, offset + n));
      offset += n;
    };
    socket.on('connect', () => {
      socket.write(
        `POST ${o.path ?? '/dicom-web/studies'} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${stowContentType(boundary)}\r\nAccept: application/dicom+json\r\nContent-Length: ${length}\r\n${o.whole ? 'Connection: close\r\n' : ''}\r\n`,
      );
      sentAt = Date.now();
      if (o.pace === 'stall') send(200);
      else if (o.pace === 'trickle') timer = setInterval(() => send(20), 100);
      else {
        const { bytesPerTick, everyMs } = o.pace;
        send(bytesPerTick);
        timer = setInterval(() => send(bytesPerTick), everyMs);
      }
    });
    socket.on('data', (d: Buffer) => {
      firstByteAt ||= Date.now();
      chunks.push(d);
    });
    socket.on('error', () => undefined); // a reset after the answer: what arrived is what counts
    socket.on('close', () => {
      clearInterval(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.split('\r\n\r\n', 1)[0]!;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (!status) {
        reject(new Error(`no HTTP answer (${text.length} bytes)`));
        return;
      }
      const headers = Object.fromEntries(
        head
          .split('\r\n')
          .slice(1)
          .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const answerBody = text.slice(head.length + 4);
      let error: RawAnswer['error'];
      try {
        error = (JSON.parse(answerBody) as { error?: RawAnswer['error'] }).error;
      } catch {
        // not JSON
      }
      resolve({ status, headers, body: answerBody, ms: firstByteAt - sentAt, error });
    });
  });
}

/** A STOW-RS of real instances at full speed from `localAddress`. */
function normalUpload(stack: Stack, localAddress: string, path = '/dicom-web/studies', file = CT): Promise<RawAnswer> {
  const boundary = newTestBoundary();
  const body = multipartBody([{ bytes: fixture(file) }], boundary);
  return upload(stack, { localAddress, path, boundary, body, length: body.length, whole: true, pace: { bytesPerTick: body.length, everyMs: 1_000 } });
}

/**
 * Connections the PACS holds open on its HTTP port (established, or closed by the peer and not yet by the
 * PACS), by the peer's port: each is a worker thread of Orthanc's that is not free.
 */
function pacsConnections(port: number): Set<number> {
  const peers = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) === port && (f[3] === '01' || f[3] === '08')) peers.add(parseInt(f[2]!.split(':')[1]!, 16));
    }
  }
  return peers;
}

/**
 * Every 250 ms: a QIDO through the gateway and a request to the PACS directly, each with a 1 s limit. stop()
 * returns the failures and the slowest answer.
 */
function watchAnswers(stack: Stack): { stop(): Promise<{ failures: string[]; slowestMs: number; probes: number }> } {
  const failures: string[] = [];
  let slowestMs = 0;
  let probes = 0;
  let running = true;
  const probe = async (what: string, url: string, headers: Record<string, string> = {}): Promise<void> => {
    const started = Date.now();
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 204) failures.push(`${what}: HTTP ${res.status}`);
    } catch (err) {
      failures.push(`${what}: ${(err as Error).name}`);
    }
    slowestMs = Math.max(slowestMs, Date.now() - started);
  };
  const loop = (async () => {
    while (running) {
      await Promise.all([probe('QIDO through the gateway', `${stack.url}/dicom-web/studies?limit=1`, { accept: 'application/dicom+json' }), probe('the PACS directly', `${stack.pacs.url}/system`)]);
      probes++;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { failures, slowestMs, probes };
    },
  };
}

async function metric(stack: Stack, reason: string, endpoint = 'stow'): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const m = new RegExp(`^anofair_upload_refusals_total\\{endpoint="${endpoint}",reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function uploadsInProgress(stack: Stack, endpoint = 'stow'): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const m = new RegExp(`^anofair_uploads_in_progress\\{endpoint="${endpoint}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function assertCut(a: RawAnswer, reason: 'stalled' | 'too-slow', limitMs: number): void {
  assert.equal(a.status, 408, a.body);
  assert.equal(a.error?.code, 'UPLOAD_TOO_SLOW', a.body);
  assert.equal(a.error?.details?.reason, reason, a.body);
  assert.equal(a.headers.connection, 'close');
  assert.ok(a.ms >= limitMs - 150 && a.ms <= limitMs + SLACK_MS, `${reason}: cut after ${a.ms} ms (limit ${limitMs} ms)`);
}

function assertRefused(a: RawAnswer, status: 429 | 503): void {
  assert.equal(a.status, status, a.body);
  assert.equal(a.error?.code, status === 429 ? 'THROTTLED' : 'BUSY', a.body);
  assert.equal(a.headers['retry-after'], String(a.error?.details?.retryAfterS), a.body);
  assert.ok(Number(a.headers['retry-after']) > 0);
  assert.ok(a.ms < 1_000, `refused after ${a.ms} ms`);
}

describe('BodyPace: the verdict on an upload body', () => {
  const limits = { minUploadBytesPerSecond: 1_000, uploadRateWindowMs: 1_000, bodyIdleTimeoutMs: 500 };

  it('judges no rate in the first window, and the average over the last window after it', () => {
    const pace = new BodyPace(limits, { at: 0, bytes: 0 });
    for (let at = 100; at < 1_000; at += 100) assert.equal(pace.judge({ at, bytes: at / 10, backlog: false }), undefined);
    assert.deepEqual(pace.judge({ at: 1_000, bytes: 100, backlog: false }), { reason: 'too-slow', bytesPerSecond: 100 });
    const fast = new BodyPace(limits, { at: 0, bytes: 0 });
    for (let at = 100; at <= 3_000; at += 100) assert.equal(fast.judge({ at, bytes: at * 2, backlog: false }), undefined);
  });

  it('cuts a body with no byte for bodyIdleTimeoutMs, also in the first window', () => {
    const pace = new BodyPace(limits, { at: 0, bytes: 0 });
    assert.equal(pace.judge({ at: 100, bytes: 10, backlog: false }), undefined);
    assert.equal(pace.judge({ at: 500, bytes: 10, backlog: false }), undefined);
    assert.deepEqual(pace.judge({ at: 600, bytes: 10, backlog: false }), { reason: 'stalled', idleMs: 500 });
  });

  it('holds no time against the client in which the gateway held the body back: clock and window start again', () => {
    const pace = new BodyPace(limits, { at: 0, bytes: 0 });
    assert.equal(pace.judge({ at: 400, bytes: 5_000, backlog: true }), undefined);
    assert.equal(pace.judge({ at: 2_000, bytes: 5_000, backlog: true }), undefined);
    assert.equal(pace.judge({ at: 2_400, bytes: 5_100, backlog: false }), undefined);
    assert.equal(pace.judge({ at: 2_900, bytes: 5_900, backlog: false }), undefined, 'a fresh grace window after the backlog');
    assert.deepEqual(pace.judge({ at: 3_000, bytes: 5_900, backlog: false }), { reason: 'too-slow', bytesPerSecond: 900 });
  });

  it('checks nothing that is configured off (0)', () => {
    const pace = new BodyPace({ minUploadBytesPerSecond: 0, uploadRateWindowMs: 1_000, bodyIdleTimeoutMs: 0 }, { at: 0, bytes: 0 });
    assert.equal(pace.judge({ at: 60_000, bytes: 0, backlog: false }), undefined);
  });
});

describe('slow and abusive STOW-RS uploads (real PACS, archive and gateway)', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      rules: FORWARD_EVERYTHING_RULES,
      config: {
        auth: { mode: 'off' },
        server: { minUploadBytesPerSecond: MIN_RATE, uploadRateWindowMs: WINDOW_MS, bodyIdleTimeoutMs: IDLE_MS, headersTimeoutMs: 1_000 },
        stow: { maxConcurrentRequests: TOTAL, maxConcurrentPerClient: PER_CLIENT },
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('holds 70 slow uploads to the slots (429/503 at once), cuts the admitted ones with 408, and the PACS answers throughout and keeps nothing open', async () => {
    await normalUpload(stack, '127.0.0.1'); // warm the connection pools
    await waitFor('the warm-up upload to free its slot', async () => (await uploadsInProgress(stack)) === 0, 5_000);
    const pacsPort = stack.pacs.httpPort;
    const idle = pacsConnections(pacsPort);
    // 20 admitted: 4 from each of five addresses, half stalling, half trickling far below the minimum rate
    const admitted = Array.from({ length: TOTAL }, (_, i) => upload(stack, { localAddress: `127.0.0.${1 + Math.floor(i / PER_CLIENT)}`, pace: i % 2 ? 'trickle' : 'stall' }));
    await waitFor('every upload slot to be taken', async () => (await uploadsInProgress(stack)) === TOTAL, 10_000);
    // An admitted upload may reuse a pooled idle connection; every other one opens its own.
    const flood = await waitFor(
      'the admitted uploads to reach the PACS',
      () => {
        const opened = [...pacsConnections(pacsPort)].filter((peer) => !idle.has(peer));
        return opened.length >= TOTAL - idle.size && opened;
      },
      10_000,
    );
    // Probes from here on only: their own PACS connections are not among the flood's.
    const watch = watchAnswers(stack);
    try {
      await refuseAndCut(pacsPort, idle, flood, admitted);
    } finally {
      // a failed assertion must not leave the probes running: the test file would never end
      const { failures, slowestMs, probes } = await watch.stop();
      assert.deepEqual(failures, [], 'the PACS and the gateway answered every probe');
      assert.ok(probes >= 4 && slowestMs < 1_000, `${probes} probes, slowest ${slowestMs} ms`);
    }
    const started = Date.now();
    const stored = await normalUpload(stack, '127.0.0.1', '/dicom-web/studies', MR);
    assert.equal(stored.status, 200, stored.body);
    assert.ok(await lookupInstance(stack.pacs, FIXTURE_UIDS[MR].instance), 'the PACS stored the instance');
    const qido = await fetch(`${stack.url}/dicom-web/studies?StudyInstanceUID=${FIXTURE_UIDS[MR].study}`, { headers: { accept: 'application/dicom+json' }, signal: AbortSignal.timeout(1_000) });
    assert.equal(qido.status, 200);
    await qido.arrayBuffer();
    assert.ok(Date.now() - started < 2_000, `STOW and QIDO after the flood took ${Date.now() - started} ms`);

    assert.equal(await metric(stack, 'client-limit'), 25);
    assert.equal(await metric(stack, 'total-limit'), 25);
    assert.equal(await metric(stack, 'stalled'), TOTAL / 2);
    assert.equal(await metric(stack, 'too-slow'), TOTAL / 2);
  });

  async function refuseAndCut(pacsPort: number, idle: Set<number>, flood: number[], admitted: Promise<RawAnswer>[]): Promise<void> {
    // 50 more: 25 from an address at its share (429), 25 from a new one while every slot is taken (503)
    const throttled = Array.from({ length: 25 }, () => upload(stack, { localAddress: '127.0.0.1', pace: 'trickle' }));
    const busy = Array.from({ length: 25 }, () => upload(stack, { localAddress: '127.0.0.6', pace: 'trickle' }));
    for (const a of await Promise.all(throttled)) assertRefused(a, 429);
    for (const a of await Promise.all(busy)) assertRefused(a, 503);
    assert.ok(pacsConnections(pacsPort).size <= idle.size + TOTAL + 4, 'the refused uploads did not reach the PACS');

    const answers = await Promise.all(admitted);
    answers.forEach((a, i) => (i % 2 ? assertCut(a, 'too-slow', WINDOW_MS) : assertCut(a, 'stalled', IDLE_MS)));

    // The upstream requests were aborted: the PACS has closed its side of each of them, so their workers are
    // free. (undici opens a fresh idle connection in its pool after an aborted request; the pool reuses those,
    // so they stay within the slots and hold no request.)
    await waitFor('the PACS to close the cut uploads', () => {
      const open = pacsConnections(pacsPort);
      return flood.every((peer) => !open.has(peer));
    }, 1_000);
    assert.ok(pacsConnections(pacsPort).size <= idle.size + TOTAL + 2, 'the gateway holds no more PACS connections than its slots');
  }

  it("keeps one client's flood from blocking another client", async () => {
    const refusedBefore = await metric(stack, 'client-limit');
    const flood = Array.from({ length: 10 }, () => upload(stack, { localAddress: '127.0.0.2', pace: 'stall' }));
    await waitFor('the flood to take its share', async () => (await metric(stack, 'client-limit')) >= refusedBefore + 6, 10_000);
    const other = await normalUpload(stack, '127.0.0.3');
    assert.equal(other.status, 200, other.body);
    assert.ok(other.ms < 1_000, `the other client waited ${other.ms} ms`);
    const answers = await Promise.all(flood);
    assert.deepEqual(answers.map((a) => a.status).sort(), [408, 408, 408, 408, 429, 429, 429, 429, 429, 429]);
  });

  it('holds the de-identify-only endpoint to its own slots and cuts its slow uploads too', async () => {
    const path = '/deid/dicom-web/studies';
    const flood = Array.from({ length: PER_CLIENT + 1 }, () => upload(stack, { localAddress: '127.0.0.4', path, pace: 'trickle' }));
    await waitFor('the flood to take its share', async () => (await metric(stack, 'client-limit', 'deid-stow')) >= 1, 5_000);
    // the same client's clinical upload is not held back by its research uploads
    const clinical = await normalUpload(stack, '127.0.0.4');
    assert.equal(clinical.status, 200, clinical.body);
    const answers = await Promise.all(flood);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(refused.length, 1);
    assertRefused(refused[0]!, 429);
    for (const a of answers.filter((x) => x.status !== 429)) assertCut(a, 'too-slow', WINDOW_MS);
    const deid = await normalUpload(stack, '127.0.0.4', path);
    assert.equal(deid.status, 200, deid.body);
  });

  it('passes an upload that is slow but above the minimum rate, over two windows', async () => {
    const boundary = newTestBoundary();
    const body = multipartBody([{ bytes: fixture(CT) }, { bytes: fixture(CT) }, { bytes: fixture(CT) }], boundary);
    // 4 KiB every 250 ms: 16 KiB/s, four times the minimum; about 7 s for the body
    const started = Date.now();
    const a = await upload(stack, { localAddress: '127.0.0.5', boundary, body, length: body.length, whole: true, pace: { bytesPerTick: 4_096, everyMs: 250 } });
    assert.equal(a.status, 200, a.body);
    assert.ok(Date.now() - started > 2 * WINDOW_MS - 500, 'the upload was judged at least once');
  });

  it('closes a connection whose headers never end (slowloris) after server.headersTimeoutMs', async () => {
    const url = new URL(stack.url);
    const started = Date.now();
    const text = await new Promise<string>((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) }, () => socket.write(`GET /dicom-web/studies HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `));
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(got));
    });
    const ms = Date.now() - started;
    assert.match(text, /^HTTP\/1\.1 408/);
    assert.ok(ms >= 900 && ms < 1_000 + 1_000 + 500, `closed after ${ms} ms`);
  });
});
