import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { FORWARD_EVERYTHING_RULES, startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { instanceFile, lookupInstance, orthancJson } from '../../../test/harness/orthanc.js';
import { multipartBody, newTestBoundary, stowContentType, type BodyPart } from '../../../test/harness/stow-body.js';
import { waitFor } from '../../../test/support/wait-for.js';

/**
 * Clinical STOW-RS through the gateway (PS3.18 10.5) with the research tap: the PACS stores exactly what was
 * sent; each instance the PACS stored is copied, de-identified, to the research archive; bad input gets a clear
 * 4xx and nothing that should not be stored or copied is.
 */

const CT = 'pydicom/CT_small.dcm';
const MR = 'pydicom/MR_small.dcm';
const CR = 'pydicom/CR1_6154_dicomdir.dcm';
const NM = 'pydicom/JPEG2000.dcm';

async function stow(stack: Stack, parts: BodyPart[], options: { path?: string; headers?: Record<string, string>; chunked?: boolean; close?: boolean } = {}) {
  const boundary = newTestBoundary();
  const body = multipartBody(parts, boundary, { close: options.close });
  const headers = { 'content-type': stowContentType(boundary), accept: 'application/dicom+json', ...options.headers };
  const init = (
    options.chunked
      ? { method: 'POST', headers, body: Readable.toWeb(Readable.from([body.subarray(0, 1000), body.subarray(1000)])), duplex: 'half' }
      : { method: 'POST', headers, body }
  ) as RequestInit;
  const res = await fetch(`${stack.url}/dicom-web${options.path ?? '/studies'}`, init);
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) as Record<string, { Value?: Array<Record<string, { Value?: unknown[] }>> }> };
}

function referenced(answer: ReturnType<Awaited<ReturnType<typeof stow>>['json']>): string[] {
  return (answer['00081199']?.Value ?? []).map((item) => String(item['00081155']?.Value?.[0]));
}


async function archiveInstances(stack: Stack): Promise<string[]> {
  return orthancJson<string[]>(stack.archive!, '/instances');
}

async function tags(server: Stack['pacs'], id: string): Promise<Record<string, string>> {
  return orthancJson<Record<string, string>>(server, `/instances/${id}/simplified-tags`);
}

async function drained(stack: Stack): Promise<void> {
  await waitFor('the research queue to drain', async () => {
    const s = await stack.gateway.pipeline!.status();
    return s.totals.pending === 0 && s.totals['in-flight'] === 0;
  });
}

async function metric(stack: Stack, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('STOW-RS through the gateway, with the research tap', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ rules: FORWARD_EVERYTHING_RULES, config: { stow: { maxBodyBytes: 200_000 } } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('stores the instances unchanged in the PACS and copies them, de-identified, to the research archive', async () => {
    const sent = [fixture(CT), fixture(MR)];
    const answer = await stow(stack, sent.map((bytes) => ({ bytes })));
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.type, /application\/dicom\+json/);
    assert.deepEqual(referenced(answer.json()).sort(), [FIXTURE_UIDS[CT].instance, FIXTURE_UIDS[MR].instance].sort());
    // The RetrieveURL the client gets points at the gateway (Forwarded header).
    assert.ok(answer.text.includes(`${stack.url}/dicom-web/studies/`), 'RetrieveURL points at the gateway');

    for (const [i, f] of ([CT, MR] as const).entries()) {
      const id = await lookupInstance(stack.pacs, FIXTURE_UIDS[f].instance);
      assert.ok(id, `${f} is in the PACS`);
      assert.deepEqual(await instanceFile(stack.pacs, id), new Uint8Array(sent[i]!), `${f}: the PACS holds the bytes that were sent`);
    }

    await drained(stack);
    const ids = await waitFor('two instances in the archive', async () => {
      const list = await archiveInstances(stack);
      return list.length === 2 ? list : undefined;
    });
    for (const id of ids) {
      const t = await tags(stack.archive!, id);
      assert.notEqual(t.SOPInstanceUID, FIXTURE_UIDS[CT].instance);
      assert.notEqual(t.SOPInstanceUID, FIXTURE_UIDS[MR].instance);
      assert.ok(!([FIXTURE_UIDS[CT].study, FIXTURE_UIDS[MR].study] as string[]).includes(t.StudyInstanceUID!), 'Study Instance UID replaced');
      assert.ok(!['CompressedSamples^CT1', 'CompressedSamples^MR1'].includes(t.PatientName ?? ''), 'Patient Name replaced');
      assert.equal(t.PatientIdentityRemoved, 'YES');
    }
    assert.equal(await metric(stack, /anofair_stow_tap_instances_total\{outcome="queued"\} (\d+)/), 2);
  });

  it('strips the part transfer-syntax parameter that Orthanc 1.7 would silently refuse (upstream.stowPartTransferSyntax: strip)', async () => {
    const bytes = fixture(CR);
    const answer = await stow(stack, [{ bytes, contentType: 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1' }]);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(referenced(answer.json()), [FIXTURE_UIDS[CR].instance]);
    const id = await lookupInstance(stack.pacs, FIXTURE_UIDS[CR].instance);
    assert.ok(id);
    assert.deepEqual(await instanceFile(stack.pacs, id), new Uint8Array(bytes));
    await drained(stack);
    await waitFor('the CR copy in the archive', async () => (await archiveInstances(stack)).length === 3);
  });

  it('accepts a chunked request body (no Content-Length) as well; research copies fail closed when pixels may identify', async () => {
    const answer = await stow(stack, [{ bytes: fixture(NM) }], { chunked: true, path: `/studies/${FIXTURE_UIDS[NM].study}` });
    assert.equal(answer.status, 200, answer.text);
    assert.ok(await lookupInstance(stack.pacs, FIXTURE_UIDS[NM].instance));
    // A secondary-capture SOP class without Burned In Annotation: queued, then withheld by de-identification.
    await drained(stack);
    const quarantine = await (await fetch(`${stack.url}/api/quarantine`)).json() as { total: number; items: Array<{ reason?: string; quarantineReason?: string }> };
    assert.equal(quarantine.total, 1, JSON.stringify(quarantine));
    assert.match(JSON.stringify(quarantine.items[0]), /Burned In Annotation/);
    assert.equal((await archiveInstances(stack)).length, 3);
  });

  it('reads the PACS answer in XML too (PS3.19) when the client asks for it, and copies what it lists', async () => {
    const archiveBefore = (await archiveInstances(stack)).length;
    const { renamed, uid } = renamedCopy(fixture(MR));
    const answer = await stow(stack, [{ bytes: renamed }], { headers: { accept: 'application/dicom+xml' } });
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.type, /application\/dicom\+xml/);
    assert.ok(answer.text.includes(uid));
    await drained(stack);
    await waitFor('the copy in the archive', async () => (await archiveInstances(stack)).length === archiveBefore + 1);
  });

  it('refuses requests that are not multipart/related application/dicom with 415, and a missing boundary with 400', async () => {
    const bytes = fixture(CT);
    const post = (contentType: string) => fetch(`${stack.url}/dicom-web/studies`, { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(bytes) });
    for (const [type, status, code] of [
      ['application/dicom', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['application/json', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['multipart/related; type="application/dicom+json"; boundary=x', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['multipart/related; type="application/dicom"', 400, 'BAD_REQUEST'],
      ['not a media type', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ] as const) {
      const res = await post(type);
      assert.equal(res.status, status, type);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code, type);
      assert.ok(body.error.message.length > 10);
    }
  });

  it('refuses a body over stow.maxBodyBytes with 413, and the PACS stores nothing of it', async () => {
    const before = (await orthancJson<string[]>(stack.pacs, '/instances')).length;
    const big = Buffer.concat([fixture(CT), Buffer.alloc(250_000)]);
    const declared = await stow(stack, [{ bytes: fixture(MR) }, { bytes: big }]);
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.text).error.code, 'PAYLOAD_TOO_LARGE');
    // Without Content-Length the limit is found while relaying: the upstream request is aborted.
    const chunked = await stow(stack, [{ bytes: renamedCopy(fixture(CR)).renamed }, { bytes: big }], { chunked: true });
    assert.equal(chunked.status, 413);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await orthancJson<string[]>(stack.pacs, '/instances')).length, before, 'nothing stored from refused requests');
  });

  it('relays malformed parts to the PACS to judge, and copies only what the PACS stored', async () => {
    const archiveBefore = (await archiveInstances(stack)).length;
    const cut = fixture(MR).subarray(0, 3000);
    const sopBefore = await metric(stack, /anofair_stow_tap_instances_total\{outcome="not-stored-upstream"\} (\d+)/);
    // A new instance (a copy of CT_small under another SOP Instance UID) next to a truncated one and a non-DICOM part.
    const { renamed, uid } = renamedCopy(fixture(CT));
    const answer = await stow(stack, [{ bytes: renamed }, { bytes: cut }, { bytes: 'not dicom at all', contentType: 'text/plain' }]);
    // Orthanc 1.10 / DICOMweb 1.7 answers 400 yet stores the good instance; the gateway relays that answer as is.
    assert.ok([200, 202, 400, 409].includes(answer.status), answer.text);
    assert.deepEqual(referenced(answer.json()), [uid]);
    assert.ok(await lookupInstance(stack.pacs, uid), 'the valid part was stored');
    await drained(stack);
    await waitFor('the valid part in the archive', async () => (await archiveInstances(stack)).length === archiveBefore + 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await archiveInstances(stack)).length, archiveBefore + 1, 'only the stored instance was copied');
    assert.ok((await metric(stack, /anofair_stow_tap_instances_total\{outcome="not-stored-upstream"\} (\d+)/)) > sopBefore);
  });

  it('relays a body without its closing boundary and copies nothing the PACS did not store', async () => {
    const archiveBefore = (await archiveInstances(stack)).length;
    const { renamed, uid } = renamedCopy(fixture(MR));
    const answer = await stow(stack, [{ bytes: renamed }], { close: false });
    assert.ok(answer.status >= 200 && answer.status < 500, `${answer.status}`);
    const storedUpstream = Boolean(await lookupInstance(stack.pacs, uid));
    await drained(stack);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await archiveInstances(stack)).length, archiveBefore + (storedUpstream ? 1 : 0));
  });

  it('never fails the clinical STOW when the research path fails, and counts the failure', async () => {
    const failuresBefore = await metric(stack, /anofair_stow_tap_failures_total\{reason="RESEARCH_UNAVAILABLE"\} (\d+)/);
    await stack.gateway.pipeline!.stop();
    try {
      const { renamed, uid } = renamedCopy(fixture(CT));
      const answer = await stow(stack, [{ bytes: renamed }]);
      assert.equal(answer.status, 200, answer.text);
      assert.ok(await lookupInstance(stack.pacs, uid), 'the PACS stored it');
      assert.equal(await metric(stack, /anofair_stow_tap_failures_total\{reason="RESEARCH_UNAVAILABLE"\} (\d+)/), failuresBefore + 1);
    } finally {
      await stack.gateway.pipeline!.start();
    }
  });

  it('answers 502 when the PACS is down and copies nothing to research', async () => {
    const queuedBefore = await metric(stack, /anofair_stow_tap_instances_total\{outcome="queued"\} (\d+)/);
    await stack.pacs.stop();
    try {
      const answer = await stow(stack, [{ bytes: renamedCopy(fixture(CT)).renamed }]);
      assert.equal(answer.status, 502);
      assert.equal(JSON.parse(answer.text).error.code, 'UPSTREAM_UNREACHABLE');
    } finally {
      await stack.pacs.restart();
    }
    assert.equal(await metric(stack, /anofair_stow_tap_instances_total\{outcome="queued"\} (\d+)/), queuedBefore);
  });

  it('writes no patient data and no UID into its log', () => {
    const text = stack.logs.join('\n');
    assert.ok(stack.logs.length > 10);
    for (const value of ['CompressedSamples', 'Doe^Archibald', '77654033', FIXTURE_UIDS[CT].instance, FIXTURE_UIDS[CT].study, FIXTURE_UIDS[MR].instance]) {
      assert.ok(!text.includes(value), `the log does not contain ${value}`);
    }
  });
});

describe('STOW-RS to an upstream that keeps the part transfer-syntax parameter', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ rules: FORWARD_EVERYTHING_RULES, config: { upstream: { stowPartTransferSyntax: 'keep' } } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('forwards part headers byte for byte; Orthanc 1.7 then stores nothing and the tap copies nothing', async () => {
    const answer = await stow(stack, [{ bytes: fixture(CR), contentType: 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1' }]);
    assert.equal(answer.status, 200);
    assert.deepEqual(referenced(answer.json()), [], 'Orthanc DICOMweb 1.7 ignores such parts (ANCHORS.md)');
    assert.equal(await lookupInstance(stack.pacs, FIXTURE_UIDS[CR].instance), null);
    await drained(stack);
    assert.equal((await archiveInstances(stack)).length, 0);
  });
});

/** A copy of an instance with a new SOP Instance UID of the same length (so the file stays well-formed). */
function renamedCopy(bytes: Buffer): { renamed: Buffer; uid: string } {
  const text = bytes.toString('latin1');
  const uidOf = /1\.3\.6\.1\.4\.1\.5962\.1\.1\.[0-9.]+/.exec(text)![0];
  const suffix = String(Date.now() % 1_000_000).padStart(6, '0') + String(Math.floor(Math.random() * 1000)).padStart(3, '0');
  const uid = `${uidOf.slice(0, uidOf.length - suffix.length)}${suffix}`;
  return { renamed: Buffer.from(text.split(uidOf).join(uid), 'latin1'), uid };
}

describe('STOW-RS when the research pipeline is slow (stow.tapTimeoutMs)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ rules: FORWARD_EVERYTHING_RULES, config: { stow: { tapTimeoutMs: 1 } } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('answers the client after the timeout, counts it, and still delivers the copies', async () => {
    const answer = await stow(stack, [{ bytes: fixture(CT) }, { bytes: fixture(MR) }]);
    assert.equal(answer.status, 200, answer.text);
    assert.ok((await metric(stack, /anofair_stow_tap_failures_total\{reason="TIMEOUT"\} (\d+)/)) >= 1);
    await waitFor('both copies in the archive', async () => (await archiveInstances(stack)).length === 2);
  });
});
