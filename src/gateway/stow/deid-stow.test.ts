import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { orthancJson } from '../../../test/harness/orthanc.js';
import { multipartBody, newTestBoundary, stowContentType, type BodyPart } from '../../../test/harness/stow-body.js';

/**
 * POST /deid/dicom-web/studies: STOW-RS into the research pipeline only (never stored clinically), answered
 * with a Store Instances Response per PS3.18 10.5.3: 200 all accepted, 202 some failed (Failed SOP Sequence
 * with Failure Reasons and a reason in words), 409 none, 400/413/415 for the request itself.
 */

type Item = Record<string, { Value?: unknown[] } | undefined>;
type Answer = { status: number; type: string; body: Record<string, { Value?: Item[] } | undefined>; raw: string };

const CT = 'pydicom/CT_small.dcm';
const MR = 'pydicom/MR_small.dcm';
const CR = 'pydicom/CR1_6154_dicomdir.dcm';

async function post(stack: Stack, parts: BodyPart[], options: { path?: string; close?: boolean; headers?: Record<string, string> } = {}): Promise<Answer> {
  const boundary = newTestBoundary();
  const res = await fetch(`${stack.url}/deid/dicom-web${options.path ?? '/studies'}`, {
    method: 'POST',
    headers: { 'content-type': stowContentType(boundary), ...options.headers },
    body: new Uint8Array(multipartBody(parts, boundary, { close: options.close })),
  });
  const raw = await res.text();
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(raw) as Answer['body'];
  } catch {
    // not JSON
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body, raw };
}

const uidsIn = (a: Answer, tag: string): string[] => (a.body[tag]?.Value ?? []).map((i) => String(i['00081155']?.Value?.[0] ?? ''));
const reasonsIn = (a: Answer, tag: string): number[] => (a.body[tag]?.Value ?? []).map((i) => Number(i['00081197']?.Value?.[0]));
const wordsIn = (a: Answer, tag: string): string[] => (a.body[tag]?.Value ?? []).map((i) => String(i['00091001']?.Value?.[0] ?? ''));

async function pacsInstances(stack: Stack): Promise<number> {
  return (await orthancJson<string[]>(stack.pacs, '/instances')).length;
}

describe('de-identify-only STOW-RS (POST /deid/dicom-web/studies)', () => {
  let stack: Stack;
  before(async () => {
    // Forward CT and MR; refuse (drop) everything else: exercises "not routed".
    const rules = `version: 1
rules:
  - name: ct-and-mr
    when: { attribute: Modality, oneOf: [CT, MR] }
    forward: { destinations: [research] }
  - name: nothing-else
    drop: true
`;
    stack = await startStack({ rules, config: { deidEndpoint: { maxBodyBytes: 300_000 } } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('accepts valid instances (200), queues them durably and never stores them in the PACS', async () => {
    const a = await post(stack, [{ bytes: fixture(CT) }, { bytes: fixture(MR), contentType: 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1' }]);
    assert.equal(a.status, 200, a.raw);
    assert.match(a.type, /^application\/dicom\+json/);
    assert.deepEqual(uidsIn(a, '00081199').sort(), [FIXTURE_UIDS[CT].instance, FIXTURE_UIDS[MR].instance].sort());
    assert.equal(a.body['00081198'], undefined);
    assert.equal(await pacsInstances(stack), 0, 'nothing is stored clinically');
    const archive = await waitForArchive(stack, 2);
    assert.equal(archive.length, 2);
  });

  it('answers 202 with per-instance Failure Reasons and reasons in words, still handling the valid parts', async () => {
    const truncated = fixture(MR).subarray(0, 4000);
    const a = await post(stack, [
      { bytes: fixture(CT) },
      { bytes: truncated },
      { bytes: 'hello', contentType: 'text/plain' },
      { bytes: fixture(CR) },
      { bytes: fixture(MR) },
    ]);
    assert.equal(a.status, 202, a.raw);
    assert.deepEqual(uidsIn(a, '00081199').sort(), [FIXTURE_UIDS[CT].instance, FIXTURE_UIDS[MR].instance].sort());
    const failed = uidsIn(a, '00081198');
    assert.equal(failed.length, 3);
    assert.deepEqual(reasonsIn(a, '00081198'), [0xc000, 0xc000, 0x0124]);
    const words = wordsIn(a, '00081198');
    assert.match(words[0]!, /part 2/);
    assert.match(words[1]!, /part 3 has Content-Type text\/plain/);
    assert.match(words[2]!, /part 4: not sent to any research destination \(dropped by rule "nothing-else"\)/);
    assert.equal(failed[2], FIXTURE_UIDS[CR].instance, 'a refused instance is named by its UID');
    // The private reason element carries its creator (PS3.5 7.8.1).
    assert.deepEqual(a.body['00081198']!.Value![0]!['00090010']?.Value, ['ANOFAIR 1']);
  });

  it('answers 409 when no instance was accepted', async () => {
    const a = await post(stack, [{ bytes: fixture(CR) }]);
    assert.equal(a.status, 409, a.raw);
    assert.deepEqual(reasonsIn(a, '00081198'), [0x0124]);
  });

  it('fails instances of another study when the URL names a study (PS3.18 10.5.1)', async () => {
    const a = await post(stack, [{ bytes: fixture(CT) }, { bytes: fixture(MR) }], { path: `/studies/${FIXTURE_UIDS[CT].study}` });
    assert.equal(a.status, 202, a.raw);
    assert.deepEqual(uidsIn(a, '00081199'), [FIXTURE_UIDS[CT].instance]);
    assert.deepEqual(reasonsIn(a, '00081198'), [0xa900]);
    assert.match(wordsIn(a, '00081198')[0]!, /Study Instance UID/);
  });

  it('handles the parts before a truncated body and reports the cut part', async () => {
    const boundary = newTestBoundary();
    const full = multipartBody([{ bytes: fixture(CT) }, { bytes: fixture(MR) }], boundary);
    const cut = full.subarray(0, full.length - 5000);
    const res = await fetch(`${stack.url}/deid/dicom-web/studies`, { method: 'POST', headers: { 'content-type': stowContentType(boundary) }, body: new Uint8Array(cut) });
    const body = (await res.json()) as Answer['body'];
    assert.equal(res.status, 202);
    const a = { status: res.status, type: '', body, raw: '' };
    assert.deepEqual(uidsIn(a, '00081199'), [FIXTURE_UIDS[CT].instance]);
    assert.match(wordsIn(a, '00081198')[0]!, /part 2 is incomplete/);
  });

  it('refuses a request that holds no readable part with 400, wrong media types with 415, an oversized body with 413', async () => {
    const junk = await fetch(`${stack.url}/deid/dicom-web/studies`, { method: 'POST', headers: { 'content-type': stowContentType('abc') }, body: 'no boundary in here' });
    assert.equal(junk.status, 400);
    assert.match(((await junk.json()) as { error: { message: string } }).error.message, /no multipart boundary/);
    const json = await fetch(`${stack.url}/deid/dicom-web/studies`, { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: new Uint8Array(fixture(CT)) });
    assert.equal(json.status, 415);
    assert.equal(((await json.json()) as { error: { code: string } }).error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const big = await post(stack, [{ bytes: Buffer.alloc(400_000) }]);
    assert.equal(big.status, 413);
    const xmlOnly = await post(stack, [{ bytes: fixture(CT) }], { headers: { accept: 'application/dicom+xml' } });
    assert.equal(xmlOnly.status, 406);
    const get = await fetch(`${stack.url}/deid/dicom-web/studies`);
    assert.equal(get.status, 405);
  });

  it('writes no patient data into its log', () => {
    const text = stack.logs.join('\n');
    for (const value of ['CompressedSamples', 'Doe^Archibald', FIXTURE_UIDS[CT].instance, FIXTURE_UIDS[MR].study]) assert.ok(!text.includes(value), value);
  });
});

describe('de-identify-only STOW-RS without a research pipeline', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ archive: false, rules: undefined });
  });
  after(async () => {
    await stack?.stop();
  });
  it('answers 503 RESEARCH_UNAVAILABLE', async () => {
    const a = await post(stack, [{ bytes: fixture(CT) }]);
    assert.equal(a.status, 503);
    assert.equal((a.body as unknown as { error: { code: string } }).error.code, 'RESEARCH_UNAVAILABLE');
  });
});

async function waitForArchive(stack: Stack, count: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const list = await orthancJson<string[]>(stack.archive!, '/instances');
    if (list.length >= count || Date.now() > deadline) return list;
    await new Promise((r) => setTimeout(r, 100));
  }
}

