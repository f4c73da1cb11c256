import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { FORWARD_EVERYTHING_RULES, startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { lookupInstance, orthancJson } from '../../../test/harness/orthanc.js';
import { multipartBody, newTestBoundary, stowContentType, type BodyPart } from '../../../test/harness/stow-body.js';
import { deflateBomb, nestedInstance, probeUids } from '../../dicom/limit-probes.test-support.js';

/**
 * Input limits on the STOW-RS paths, against real servers (docs/INPUT-LIMITS.md): a deflate bomb, sequences nested
 * deep enough to crash Orthanc 1.10's parser, too many parts and oversized part headers are each answered with a
 * 413 that names the limit; on the clinical path the upstream request is aborted before the PACS has the whole
 * body, so the PACS parses and stores nothing of it and keeps answering its own clients; the gateway answers the
 * next query at once. Within the limits, the same kinds of instances are stored as before.
 */

const MiB = 1024 * 1024;
const CT = 'pydicom/CT_small.dcm';
const MR = 'pydicom/MR_small.dcm';

interface Answer {
  status: number;
  text: string;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

async function post(stack: Stack, service: 'dicom-web' | 'deid/dicom-web', parts: BodyPart[], options: { chunked?: boolean } = {}): Promise<Answer> {
  const boundary = newTestBoundary();
  const body = multipartBody(parts, boundary);
  const headers = { 'content-type': stowContentType(boundary), accept: 'application/dicom+json' };
  const init = (
    options.chunked
      ? { method: 'POST', headers, body: Readable.toWeb(Readable.from([body.subarray(0, 1000), body.subarray(1000)])), duplex: 'half' }
      : { method: 'POST', headers, body: new Uint8Array(body) }
  ) as RequestInit;
  const res = await fetch(`${stack.url}/${service}/studies`, { ...init, signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  let error: Answer['error'];
  try {
    error = (JSON.parse(text) as { error?: Answer['error'] }).error;
  } catch {
    // not JSON
  }
  return { status: res.status, text, error };
}

/** The gateway answers a query (QIDO-RS through it) and the PACS its own clients, each within a second. */
async function bothAnswer(stack: Stack): Promise<void> {
  const qido = await fetch(`${stack.url}/dicom-web/studies?limit=1`, { headers: { accept: 'application/dicom+json' }, signal: AbortSignal.timeout(1_000) });
  assert.ok(qido.status === 200 || qido.status === 204, `QIDO through the gateway: ${qido.status}`);
  await qido.arrayBuffer();
  const system = await fetch(`${stack.pacs.url}/system`, { signal: AbortSignal.timeout(1_000) });
  assert.equal(system.status, 200, 'the PACS answers a direct request');
  await system.arrayBuffer();
}

async function pacsCount(stack: Stack): Promise<number> {
  return (await orthancJson<string[]>(stack.pacs, '/instances')).length;
}

function assertRefused(answer: Answer, code: string, limit: string): void {
  assert.equal(answer.status, 413, answer.text);
  assert.equal(answer.error?.code, code, answer.text);
  assert.equal(answer.error?.details?.limit, limit, answer.text);
  assert.ok(answer.error!.message.includes(limit), answer.error!.message);
}

describe('input limits on the STOW-RS paths (real PACS, archive and gateway)', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      rules: FORWARD_EVERYTHING_RULES,
      config: { limits: { maxInflatedBytes: 16 * MiB, maxParts: 4, maxPartHeadersBytes: 2048 }, stow: { maxPartHeaderBytes: 1024 } },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('refuses a deflate bomb (about 64 KiB that inflate to 64 MiB) with 413 DICOM_LIMIT; the PACS stores nothing of the request', async () => {
    const before = await pacsCount(stack);
    const uids = probeUids();
    const bomb = deflateBomb(64 * MiB, uids);
    for (const chunked of [false, true]) {
      const answer = await post(stack, 'dicom-web', [{ bytes: fixture(CT) }, { bytes: bomb }], { chunked });
      assertRefused(answer, 'DICOM_LIMIT', 'limits.maxInflatedBytes');
      assert.match(answer.error!.message, /^part 2: the deflated data set inflates to more than 16777216 bytes/);
      await bothAnswer(stack);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await pacsCount(stack), before, 'nothing of the refused requests is stored');
    assert.equal(await lookupInstance(stack.pacs, uids.instance), null);
  });

  it('never lets sequences nested 100 deep (they crash Orthanc 1.10) reach the PACS: 413 before it has the part, and the PACS keeps answering', async () => {
    const before = await pacsCount(stack);
    for (const [depth, syntax, chunked] of [[100, 'explicit', false], [100, 'implicit', true], [100_000, 'explicit', false], [100, 'deflated', true]] as const) {
      const uids = probeUids();
      const during = fetch(`${stack.pacs.url}/system`, { signal: AbortSignal.timeout(5_000) });
      const answer = await post(stack, 'dicom-web', [{ bytes: nestedInstance({ depth, syntax, uids }) }], { chunked });
      assertRefused(answer, 'DICOM_LIMIT', 'limits.maxSequenceDepth');
      assert.match(answer.error!.message, /^part 1: sequences are nested more than 32 levels deep/);
      assert.equal((await during).status, 200, 'the PACS answered while the gateway refused');
      await bothAnswer(stack);
      assert.equal(await lookupInstance(stack.pacs, uids.instance), null, `${depth} ${syntax}: not in the PACS`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await pacsCount(stack), before);
  });

  it('stores what is within the limits as before: a deflated instance, and one nested 32 deep', async () => {
    const deflated = probeUids();
    const deep = probeUids();
    const answer = await post(stack, 'dicom-web', [{ bytes: deflateBomb(8 * MiB, deflated) }, { bytes: nestedInstance({ depth: 32, uids: deep }) }]);
    assert.equal(answer.status, 200, answer.text);
    assert.ok(await lookupInstance(stack.pacs, deflated.instance), 'the deflated instance is in the PACS');
    assert.ok(await lookupInstance(stack.pacs, deep.instance), 'the 32-deep instance is in the PACS');
  });

  it('fails such parts on the de-identify-only endpoint with 0xA700 and the reason, and accepts the valid part beside them', async () => {
    const answer = await post(stack, 'deid/dicom-web', [{ bytes: deflateBomb(64 * MiB) }, { bytes: fixture(MR) }, { bytes: nestedInstance({ depth: 100 }) }]);
    assert.equal(answer.status, 202, answer.text);
    const body = JSON.parse(answer.text) as Record<string, { Value?: Array<Record<string, { Value?: unknown[] }>> }>;
    assert.deepEqual(body['00081199']?.Value?.map((i) => i['00081155']?.Value?.[0]), [FIXTURE_UIDS[MR].instance]);
    const failed = body['00081198']?.Value ?? [];
    assert.deepEqual(failed.map((i) => i['00081197']?.Value?.[0]), [0xa700, 0xa700]);
    assert.match(String(failed[0]?.['00091001']?.Value?.[0]), /^part 1: the deflated data set inflates to more than 16777216 bytes \(limits\.maxInflatedBytes\)$/);
    assert.match(String(failed[1]?.['00091001']?.Value?.[0]), /^part 3: sequences are nested more than 32 levels deep \(limits\.maxSequenceDepth\)$/);
    await bothAnswer(stack);
  });

  it('refuses more parts than limits.maxParts with 413 on both endpoints; the PACS stores none of them', async () => {
    const before = await pacsCount(stack);
    const parts = Array.from({ length: 5 }, () => ({ bytes: nestedInstance({ depth: 1 }) }));
    const clinical = await post(stack, 'dicom-web', parts);
    assertRefused(clinical, 'PAYLOAD_TOO_LARGE', 'limits.maxParts');
    assert.match(clinical.error!.message, /the request holds more than 4 parts/);
    const deid = await post(stack, 'deid/dicom-web', parts);
    assertRefused(deid, 'PAYLOAD_TOO_LARGE', 'limits.maxParts');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await pacsCount(stack), before);
    await bothAnswer(stack);
  });

  it('refuses a part header block over stow.maxPartHeaderBytes, and part headers over limits.maxPartHeadersBytes in total, with 413', async () => {
    const before = await pacsCount(stack);
    const big = await post(stack, 'dicom-web', [{ bytes: fixture(CT), headers: [`Content-Description: ${'x'.repeat(2000)}`] }]);
    assertRefused(big, 'PAYLOAD_TOO_LARGE', 'stow.maxPartHeaderBytes');
    assert.match(big.error!.message, /the header block of part 1 exceeds 1024 bytes/);
    const many = Array.from({ length: 3 }, () => ({ bytes: nestedInstance({ depth: 1 }), headers: [`Content-Description: ${'y'.repeat(800)}`] }));
    const total = await post(stack, 'dicom-web', many);
    assertRefused(total, 'PAYLOAD_TOO_LARGE', 'limits.maxPartHeadersBytes');
    const deid = await post(stack, 'deid/dicom-web', many);
    assertRefused(deid, 'PAYLOAD_TOO_LARGE', 'limits.maxPartHeadersBytes');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await pacsCount(stack), before);
    await bothAnswer(stack);
  });
});
