import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURE_UIDS, fixture } from '../../test/harness/fixtures.js';
import { startStack, type Stack } from '../../test/harness/gateway-stack.js';
import { instanceFile, lookupInstance, orthancJson, startOrthanc, uploadInstance, type OrthancServer } from '../../test/harness/orthanc.js';
import { waitFor } from '../../test/support/wait-for.js';
import { readGreyPixels } from '../anonymizer/pixel/grey-pixels.js';
import { readPart10, transferSyntaxOf } from '../dicom/part10.js';
import { decodePixelData } from '../dicom/pixel-codecs/decode-pixel-data.js';

const CHEST_CR = 'pydicom-data/RG1_J2KI.dcm';
const CT = 'pydicom/CT_small.dcm';
const MR = 'pydicom/MR_small.dcm';


/**
 * The "done when": with two real Orthanc servers and the shipped routing rules, a study sent through
 * the gateway is in the PACS unchanged and in the research archive de-identified; what the rules do not select
 * never reaches research.
 */
describe('the gateway between a clinical PACS and a research archive (shipped rules)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('stores a chest radiograph unchanged in the PACS and de-identified in the archive; other studies stay clinical', async () => {
    const cr = fixture(CHEST_CR);
    const ct = fixture(CT);
    const boundary = 'e2e-boundary-0123456789';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      cr,
      Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      ct,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${stack.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
      body: new Uint8Array(body),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();

    // Clinical: both, byte for byte.
    for (const [name, bytes] of [[CHEST_CR, cr], [CT, ct]] as const) {
      const id = await lookupInstance(stack.pacs, FIXTURE_UIDS[name].instance);
      assert.ok(id, `${name} in the PACS`);
      assert.deepEqual(await instanceFile(stack.pacs, id), new Uint8Array(bytes));
    }

    // Research: only the chest radiograph, de-identified.
    const [id] = await waitFor('the chest radiograph in the archive', async () => {
      const list = await orthancJson<string[]>(stack.archive!, '/instances');
      return list.length > 0 ? list : undefined;
    }, 120_000);
    const tags = await orthancJson<Record<string, string>>(stack.archive!, `/instances/${id}/simplified-tags`);
    assert.equal(tags.Modality, 'CR');
    assert.equal(tags.PatientIdentityRemoved, 'YES');
    // the shipped rule regenerates the pixels: the JPEG 2000 radiograph is decoded, regenerated outside the
    // regions the detector keeps, and released uncompressed at its own size and depth, marked as derived
    assert.equal(tags.BurnedInAnnotation, 'NO');
    assert.match(tags.ImageType ?? '', /^DERIVED\\SECONDARY/);
    const released = readPart10(await instanceFile(stack.archive!, id!));
    assert.equal(transferSyntaxOf(released), '1.2.840.10008.1.2.1');
    const before = readGreyPixels(readPart10(cr).dataset, (await decodePixelData(readPart10(cr))).bytes);
    const after = readGreyPixels(released.dataset);
    assert.deepEqual([after.rows, after.columns, after.bitsStored], [before.rows, before.columns, before.bitsStored]);
    let same = 0;
    for (let i = 0; i < after.stored.length; i++) if (after.stored[i] === before.stored[i]) same++;
    assert.ok(same / after.stored.length < 0.5, `${same} of ${after.stored.length} pixels kept`);
    assert.notEqual(tags.SOPInstanceUID, FIXTURE_UIDS[CHEST_CR].instance);
    assert.notEqual(tags.StudyInstanceUID, FIXTURE_UIDS[CHEST_CR].study);
    const original = await orthancJson<Record<string, string>>(stack.pacs, `/instances/${await lookupInstance(stack.pacs, FIXTURE_UIDS[CHEST_CR].instance)}/simplified-tags`);
    for (const key of ['PatientName', 'PatientID', 'AccessionNumber', 'InstitutionName', 'ReferringPhysicianName']) {
      if (original[key]) assert.notEqual(tags[key], original[key], `${key} changed`);
    }
    const status = await (await fetch(`${stack.url}/api/queue`)).json() as { totals: Record<string, number> };
    assert.equal(status.totals.delivered, 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await orthancJson<string[]>(stack.archive!, '/instances')).length, 1, 'the CT stayed clinical (dropped by the rules)');
  });
});

/** A DICOMweb client we did not write: Orthanc's own (DicomWeb "Servers"), pointed at the gateway. */
describe("Orthanc's DICOMweb client through the gateway", () => {
  let stack: Stack;
  let modality: OrthancServer;

  before(async () => {
    stack = await startStack({ archive: false });
    modality = await startOrthanc({ name: 'MODALITY', dicomWebServers: { gateway: { url: `${stack.url}/dicom-web` }, gatewayLength: { url: `${stack.url}/dicom-web`, chunkedTransfers: false } } });
  });
  after(async () => {
    await modality?.dispose();
    await stack?.stop();
  });

  const call = async (path: string, body: unknown): Promise<{ status: number; json: unknown; text: string }> => {
    const res = await fetch(`${modality.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };

  it('stores a study through the gateway (STOW-RS, chunked and with Content-Length)', async () => {
    const ct = await uploadInstance(modality, fixture(CT));
    const stow = await call('/dicom-web/servers/gateway/stow', { Resources: [ct.ParentStudy], Synchronous: true });
    assert.equal(stow.status, 200, stow.text);
    const id = await lookupInstance(stack.pacs, FIXTURE_UIDS[CT].instance);
    assert.ok(id, 'the PACS got the instance Orthanc sent through the gateway');
    assert.deepEqual(await instanceFile(stack.pacs, id), await instanceFile(modality, ct.ID));

    const mr = await uploadInstance(modality, fixture(MR));
    const stow2 = await call('/dicom-web/servers/gatewayLength/stow', { Resources: [mr.ParentStudy], Synchronous: true });
    assert.equal(stow2.status, 200, stow2.text);
    assert.ok(await lookupInstance(stack.pacs, FIXTURE_UIDS[MR].instance));
  });

  it('queries through the gateway (QIDO-RS) and gets what the PACS has', async () => {
    const viaGateway = await call('/dicom-web/servers/gateway/qido', { Uri: '/studies', Arguments: { ModalitiesInStudy: 'CT' } });
    assert.equal(viaGateway.status, 200, viaGateway.text);
    // Orthanc's client reshapes each element as { Group, Element, Name, Value, vr }.
    const studies = viaGateway.json as Array<Record<string, { Value?: unknown }>>;
    assert.deepEqual(studies.map((s) => s['0020000D']?.Value), [FIXTURE_UIDS[CT].study]);
    const series = await call('/dicom-web/servers/gateway/qido', { Uri: `/studies/${FIXTURE_UIDS[CT].study}/series` });
    assert.equal((series.json as unknown[]).length, 1);
  });

  it('retrieves through the gateway (WADO-RS) into a fresh Orthanc, byte for byte', async () => {
    // Delete the local copies, then retrieve them back from the PACS through the gateway.
    const local = await orthancJson<string[]>(modality, '/studies');
    for (const id of local) await fetch(`${modality.url}/studies/${id}`, { method: 'DELETE' });
    const retrieve = await call('/dicom-web/servers/gateway/retrieve', { Resources: [{ Study: FIXTURE_UIDS[CT].study }, { Study: FIXTURE_UIDS[MR].study }], Synchronous: true });
    assert.equal(retrieve.status, 200, retrieve.text);
    for (const name of [CT, MR] as const) {
      const here = await lookupInstance(modality, FIXTURE_UIDS[name].instance);
      const there = await lookupInstance(stack.pacs, FIXTURE_UIDS[name].instance);
      assert.ok(here && there, `${name} retrieved`);
      assert.deepEqual(await instanceFile(modality, here), await instanceFile(stack.pacs, there));
    }
    const metadata = await call('/dicom-web/servers/gateway/get', { Uri: `/studies/${FIXTURE_UIDS[CT].study}/metadata` });
    assert.equal(metadata.status, 200);
    assert.match(metadata.text, /7FE00010/);
  });
});

/** `anofair serve` as an operator runs it. */
describe('anofair serve', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anofair-serve-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const bin = fileURLToPath(new URL('../../../bin/anofair.js', import.meta.url));

  it('starts on embedded defaults, says what it proxies to, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ANOFAIR_LOG_LEVEL: 'warn' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', () => undefined);
    try {
      await waitFor('the start-up message', async () => /configuration:\s+embedded defaults/.test(out), 15_000);
      assert.match(out, /AnoFAIR Gateway listening on http:\/\/127\.0\.0\.1:\d+/);
      assert.match(out, /upstream PACS http:\/\/127\.0\.0\.1:8042\/dicom-web/);
      assert.match(out, /research destination "research": http:\/\/127\.0\.0\.1:8043\/dicom-web/);
      assert.match(out, /state and spool:\s+.*anofair-data/);
      const url = /listening on (http:\/\/[\d.:]+)/.exec(out)![1]!;
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 0);
    assert.match(out, /SIGTERM: stopping/);
  });

  it('refuses a bad configuration with one line per problem and a non-zero exit', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--upstream', 'ftp://pacs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /expected an http\(s\) URL/);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  });
});
