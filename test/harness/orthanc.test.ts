import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { instanceFile, lookupInstance, orthancJson, startOrthanc, uploadInstance, type OrthancServer } from './orthanc.js';

const FIXTURE = new URL('../../../test/fixtures/dicom-public/pydicom/CT_small.dcm', import.meta.url);
const CT_SMALL_SOP_UID = '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322';

describe('Orthanc test harness', () => {
  let pacs: OrthancServer;
  let client: OrthancServer;

  before(async () => {
    pacs = await startOrthanc({ name: 'HARNESS-PACS' });
    // A second Orthanc acting as a DICOMweb client of the first.
    client = await startOrthanc({ name: 'HARNESS-CLIENT', dicomWebServers: { pacs: { url: pacs.dicomWebUrl } } });
  });
  after(async () => {
    await client?.dispose();
    await pacs?.dispose();
  });

  it('starts a real Orthanc with the DICOMweb plugin on loopback ports', async () => {
    const system = await orthancJson<{ Name: string; Version: string; DicomAet: string }>(pacs, '/system');
    assert.equal(system.Name, 'HARNESS-PACS');
    assert.equal(system.DicomAet, 'HARNESS-PACS');
    assert.match(pacs.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(pacs.httpPort, client.httpPort);
    const res = await fetch(`${pacs.dicomWebUrl}/studies`, { headers: { accept: 'application/dicom+json' } });
    assert.ok(res.status === 200 || res.status === 204, `QIDO answered ${res.status}`);
    await res.arrayBuffer();
  });

  it('keeps storage and port across restart(), and refuses connections while stopped', async () => {
    const bytes = new Uint8Array(await readFile(FIXTURE));
    await uploadInstance(pacs, bytes);
    await pacs.stop();
    assert.equal(pacs.running, false);
    await assert.rejects(fetch(`${pacs.url}/system`));
    await pacs.restart();
    assert.equal(pacs.running, true);
    const id = await lookupInstance(pacs, CT_SMALL_SOP_UID);
    assert.ok(id, 'instance survives a restart');
    assert.deepEqual(await instanceFile(pacs, id), bytes);
  });

  it('configures DicomWeb "Servers" so Orthanc can act as a DICOMweb client', async () => {
    const servers = await orthancJson<string[]>(client, '/dicom-web/servers');
    assert.deepEqual(servers, ['pacs']);
    const res = await fetch(`${client.url}/dicom-web/servers/pacs/qido`, {
      method: 'POST',
      body: JSON.stringify({ Uri: '/studies' }),
    });
    assert.equal(res.status, 200);
    const studies = (await res.json()) as Array<Record<string, { Value?: unknown[] }>>;
    assert.equal(studies.length, 1);
  });

  it('fails loudly with the log tail when Orthanc cannot start', async () => {
    await assert.rejects(
      // The DICOM port is taken by the running PACS: Orthanc exits at start.
      startOrthanc({ name: 'HARNESS-BROKEN', extraConfig: { DicomPort: pacs.dicomPort }, startTimeoutMs: 15_000 }),
      (err: Error) => /did not start/.test(err.message) && /Orthanc log tail/.test(err.message),
    );
  });
});
