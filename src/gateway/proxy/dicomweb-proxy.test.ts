import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { freePort, orthancJson, uploadInstance } from '../../../test/harness/orthanc.js';

/**
 * QIDO-RS and WADO-RS through the gateway answer exactly what the PACS answers directly (PS3.18 10.4, 10.6):
 * same status, same media type, same bytes. The only allowed difference is the base URL the PACS writes into
 * RetrieveURL / BulkDataURI values: through the gateway they point at the gateway (Forwarded header, RFC 7239).
 */

interface Answer {
  status: number;
  type: string;
  body: Buffer;
}

async function get(url: string, accept?: string): Promise<Answer> {
  const res = await fetch(url, { headers: accept ? { accept } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
}

function boundaryOf(type: string): string | undefined {
  return /boundary="?([^";]+)"?/i.exec(type)?.[1];
}

/** Make a gateway answer comparable with the direct one: its own base URL and multipart boundary replaced. */
function normalise(gw: Answer, direct: Answer, gatewayUrl: string, pacsUrl: string): { type: string; body: string } {
  let body = gw.body.toString('latin1').split(`${gatewayUrl}/dicom-web`).join(`${pacsUrl}/dicom-web`);
  let type = gw.type;
  const b1 = boundaryOf(gw.type);
  const b2 = boundaryOf(direct.type);
  if (b1 && b2) {
    body = body.split(b1).join(b2);
    type = type.split(b1).join(b2);
  }
  return { type, body };
}

describe('QIDO-RS and WADO-RS pass-through', () => {
  let stack: Stack;
  const ct = FIXTURE_UIDS['pydicom/CT_small.dcm'];
  let ctSeries = '';
  let mrSeries = '';
  const mr = FIXTURE_UIDS['pydicom/MR_small.dcm'];

  before(async () => {
    stack = await startStack({ archive: false });
    for (const f of ['pydicom/CT_small.dcm', 'pydicom/MR_small.dcm', 'pydicom/CR1_6154_dicomdir.dcm', 'pydicom/JPEG2000.dcm', 'pydicom/SC_rgb_small_odd.dcm']) {
      await uploadInstance(stack.pacs, fixture(f));
    }
    const series = async (study: string): Promise<string> => {
      const list = await orthancJson<Array<Record<string, { Value: string[] }>>>(stack.pacs, `/dicom-web/studies/${study}/series`);
      return list[0]!['0020000E']!.Value[0]!;
    };
    ctSeries = await series(ct.study);
    mrSeries = await series(mr.study);
  });
  after(async () => {
    await stack?.stop();
  });

  const cases = (): Array<[string, string | undefined]> => [
    // QIDO-RS at each level (PS3.18 10.6.1)
    ['/studies', undefined],
    ['/studies?limit=2', undefined],
    ['/studies?limit=2&offset=2', undefined],
    ['/studies?includefield=00081030&includefield=StudyTime', undefined],
    ['/studies?includefield=all', undefined],
    ['/studies?ModalitiesInStudy=MR', undefined],
    ['/studies?PatientName=CompressedSamples*&fuzzymatching=true', undefined],
    ['/studies?StudyDate=20040101-20041231', undefined],
    [`/studies/${ct.study}/series`, undefined],
    ['/series?Modality=CT&includefield=all', undefined],
    [`/studies/${ct.study}/series/${ctSeries}/instances`, undefined],
    [`/studies/${ct.study}/instances`, undefined],
    ['/instances?limit=3&offset=1', undefined],
    ['/studies', 'application/dicom+json'],
    ['/studies?StudyInstanceUID=1.2.3.4.5.6.7.8.9', undefined],
    // WADO-RS metadata (PS3.18 10.4.1.1.2) in JSON and XML
    [`/studies/${ct.study}/metadata`, undefined],
    [`/studies/${mr.study}/series/${mrSeries}/metadata`, undefined],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/metadata`, 'application/dicom+json'],
    [`/studies/${ct.study}/series/${ctSeries}/metadata`, 'multipart/related; type="application/dicom+xml"'],
    // WADO-RS instances (PS3.18 10.4.1.1.1) with Accept negotiation
    [`/studies/${ct.study}`, 'multipart/related; type="application/dicom"'],
    [`/studies/${mr.study}/series/${mrSeries}`, 'multipart/related; type="application/dicom"'],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}`, 'multipart/related; type="application/dicom"; transfer-syntax=*'],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}`, undefined],
    // Frames (PS3.18 10.4.1.1.4), rendered and thumbnail where Orthanc has them
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/frames/1`, 'multipart/related; type="application/octet-stream"'],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/frames/1`, undefined],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/rendered`, 'image/png'],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/rendered`, 'image/jpeg'],
    [`/studies/${ct.study}/series/${ctSeries}/rendered`, undefined],
    // Absent resources and refused media types: the PACS's own status
    ['/studies/1.2.3.4.5/metadata', undefined],
    [`/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/frames/99`, 'multipart/related; type="application/octet-stream"'],
    ['/studies', 'text/html'],
  ];

  it('answers every query and retrieve exactly as the PACS does', async () => {
    const direct = `${stack.pacs.url}`;
    const checked: string[] = [];
    for (const [path, accept] of cases()) {
      const a = await get(`${direct}/dicom-web${path}`, accept);
      const b = await get(`${stack.url}/dicom-web${path}`, accept);
      const label = `${path} [${accept ?? 'no Accept'}]`;
      assert.equal(b.status, a.status, `${label}: status`);
      const n = normalise(b, a, stack.url, stack.pacs.url);
      assert.equal(n.type, a.type, `${label}: content type`);
      assert.ok(n.body === a.body.toString('latin1'), `${label}: body differs (${b.body.length} vs ${a.body.length} bytes)`);
      checked.push(`${a.status} ${label}`);
    }
    // The cases cover successes and the PACS's own refusals.
    assert.ok(checked.filter((c) => c.startsWith('200')).length >= 20, checked.join('\n'));
    assert.ok(checked.some((c) => /^4\d\d/.test(c)), 'at least one refusal is relayed');
  });

  it('retrieves bulk data at the URIs the metadata gives, which point at the gateway', async () => {
    const res = await fetch(`${stack.url}/dicom-web/studies/${ct.study}/series/${ctSeries}/instances/${ct.instance}/metadata`);
    const [meta] = (await res.json()) as Array<Record<string, { BulkDataURI?: string }>>;
    const uri = meta!['7FE00010']?.BulkDataURI;
    assert.ok(uri, 'Pixel Data is given as a BulkDataURI');
    assert.ok(uri.startsWith(`${stack.url}/dicom-web/`), `BulkDataURI points at the gateway: ${uri}`);
    const viaGateway = await get(uri, 'multipart/related; type="application/octet-stream"');
    const direct = await get(uri.replace(stack.url, stack.pacs.url), 'multipart/related; type="application/octet-stream"');
    assert.equal(viaGateway.status, 200);
    assert.equal(viaGateway.status, direct.status);
    assert.equal(normalise(viaGateway, direct, stack.url, stack.pacs.url).body, direct.body.toString('latin1'));
  });

  it('relays HEAD as the PACS answers it, without a body', async () => {
    // Orthanc 1.10 answers HEAD with 404; the gateway passes on whatever the PACS says.
    const direct = await fetch(`${stack.pacs.dicomWebUrl}/studies`, { method: 'HEAD' });
    const res = await fetch(`${stack.url}/dicom-web/studies`, { method: 'HEAD' });
    assert.equal(res.status, direct.status);
    assert.equal(res.headers.get('content-type'), direct.headers.get('content-type'));
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('refuses paths outside the DICOMweb resources without asking the PACS', async () => {
    const raw = (method: string, path: string): Promise<{ status: number; body: string; allow?: string }> =>
      new Promise((resolve, reject) => {
        const url = new URL(stack.url);
        const req = httpRequest({ host: url.hostname, port: url.port, method, path }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, allow: res.headers.allow }));
        });
        req.on('error', reject);
        req.end();
      });
    const traversal = await raw('GET', '/dicom-web/../system');
    assert.ok([400, 404].includes(traversal.status), `traversal answered ${traversal.status}`);
    assert.doesNotMatch(traversal.body, /"Version"/, 'the PACS REST API is not reachable through the gateway');
    const dotted = await raw('GET', '/dicom-web/studies/../../system');
    assert.equal(dotted.status, 400);
    assert.equal(JSON.parse(dotted.body).error.code, 'BAD_REQUEST');
    const encoded = await raw('GET', '/dicom-web/studies/%2e%2e/%2e%2e/system');
    assert.equal(encoded.status, 400);
    const other = await raw('GET', '/dicom-web/tools/find');
    assert.equal(other.status, 404);
    assert.equal(JSON.parse(other.body).error.code, 'NOT_FOUND');
    const del = await raw('DELETE', `/dicom-web/studies/${ct.study}`);
    assert.equal(del.status, 405);
    assert.equal(del.allow, 'GET, HEAD, POST');
    assert.equal(JSON.parse(del.body).error.code, 'METHOD_NOT_ALLOWED');
    const unknown = await raw('GET', '/nothing-here');
    assert.equal(unknown.status, 404);
    assert.doesNotMatch(unknown.body, /at .*\.js/, 'no stack trace');
    // The study is still there: nothing was deleted.
    assert.equal((await get(`${stack.pacs.dicomWebUrl}/studies/${ct.study}/metadata`)).status, 200);
  });

  it('answers 502 with a JSON reason while the PACS is down, and relays again once it is back', async () => {
    await stack.pacs.stop();
    try {
      const res = await fetch(`${stack.url}/dicom-web/studies`);
      assert.equal(res.status, 502);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'UPSTREAM_UNREACHABLE');
      assert.match(body.error.message, /could not be reached/);
      // where the PACS is, is for the gateway's log, not for clients
      const pacsAddress = new URL(stack.pacs.dicomWebUrl).host;
      assert.ok(!JSON.stringify(body).includes(pacsAddress), 'no upstream address in the error body');
      assert.ok(stack.logs.some((l) => l.includes('UPSTREAM_UNREACHABLE') && l.includes(pacsAddress)), 'the address is in the log');
    } finally {
      await stack.pacs.restart();
    }
    const again = await fetch(`${stack.url}/dicom-web/studies`);
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  });

  it('logs requests without UIDs or query values', () => {
    const text = stack.logs.join('\n');
    assert.ok(stack.logs.some((l) => l.includes('"kind":"qido"')), 'requests are logged');
    for (const uid of [ct.study, ct.instance, mr.study]) assert.ok(!text.includes(uid), 'no UID in the log');
    assert.ok(!text.includes('CompressedSamples'), 'no query value in the log');
  });
});

describe('upstream failures', () => {
  let silent: Server;
  let silentPort = 0;
  const stacks: Stack[] = [];

  before(async () => {
    // A server that accepts connections and never answers: the PACS hangs.
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of stacks) await s.stop();
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  it('answers 502 UPSTREAM_UNREACHABLE when nothing listens at the upstream URL', async () => {
    const port = await freePort();
    const stack = await startStack({ archive: false, upstreamUrl: `http://127.0.0.1:${port}/dicom-web` });
    stacks.push(stack);
    for (const [method, path] of [['GET', '/dicom-web/studies'], ['GET', '/dicom-web/studies/1.2.3/metadata']] as const) {
      const res = await fetch(`${stack.url}${path}`, { method });
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: { code: string; status: number } };
      assert.deepEqual([body.error.code, body.error.status], ['UPSTREAM_UNREACHABLE', 502]);
    }
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    assert.match(metrics, /anofair_upstream_failures_total\{service="qido",code="UPSTREAM_UNREACHABLE"\} 1/);
  });

  it('answers 504 UPSTREAM_TIMEOUT when the upstream does not answer in time', async () => {
    const stack = await startStack({ archive: false, upstreamUrl: `http://127.0.0.1:${silentPort}/dicom-web`, config: { upstream: { headersTimeoutMs: 300 } } });
    stacks.push(stack);
    const started = Date.now();
    const res = await fetch(`${stack.url}/dicom-web/studies`);
    assert.equal(res.status, 504);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 5_000);
  });
});
