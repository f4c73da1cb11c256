import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { drained, makePipeline, SHIPPED_SELECTION_HEADER_ONLY, spoolFiles, waitFor } from '../../../test/support/research-pipeline-kit.js';
import { startScriptedStowServer, type ScriptedStowServer } from '../../../test/support/scripted-stow-server.js';
import { syntheticInstance, syntheticStudy } from '../../../test/support/synthetic-instance.js';
import { isAnofairError } from '../../errors/anofair-error.js';
import type { ResearchPipeline } from '../research-pipeline.js';

/** The research API as the HTTP layer mounts it (/api), errors mapped from their catalogue status. */
function app(pipeline: ResearchPipeline): express.Express {
  const a = express();
  a.use('/api', pipeline.apiRouter());
  a.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (isAnofairError(err)) res.status(err.httpStatus).json({ code: err.code, message: err.message });
    else res.status(500).json({ code: 'INTERNAL', message: 'internal error' });
  });
  return a;
}

const dicom = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

describe('research API (/api)', () => {
  let server: ScriptedStowServer;
  let pipeline: ResearchPipeline;
  let dataDir: string;
  let dispose: () => Promise<void>;
  const refuse = new Set<string>();
  let learning = true;
  const originals: string[] = [];

  before(async () => {
    // The archive refuses (Failure Reason 0xC000) the first two instances it sees, then whatever is in `refuse`.
    server = await startScriptedStowServer((req) => {
      if (learning) for (const i of req.instances) if (refuse.size < 2) refuse.add(i.sopInstanceUID);
      const failed = req.instances.filter((i) => refuse.has(i.sopInstanceUID));
      return failed.length ? { status: 409, failed: failed.map((i) => [i.sopInstanceUID, 0xc000] as [string, number]) } : { status: 200 };
    });
    ({ pipeline, dataDir, dispose } = await makePipeline({ archiveUrl: server.url, rules: SHIPPED_SELECTION_HEADER_ONLY, maxBatchInstances: 1 }));
    await pipeline.start();
    for (const bytes of syntheticStudy('api-study', 3)) originals.push((await pipeline.accept({ bytes }, {}, 'tap')).sopInstanceUID);
    await drained(pipeline);
    learning = false;
  });
  after(async () => {
    await dispose?.();
    await server?.close();
  });

  it('GET /api/queue: counts per state and destination, destination health and progress', async () => {
    const res = await request(app(pipeline)).get('/api/queue').expect(200);
    assert.equal(res.body.running, true);
    assert.equal(res.body.rules.count, 2);
    const [research] = res.body.destinations;
    assert.equal(research.name, 'research');
    assert.equal(research.health, 'ok');
    assert.deepEqual(research.counts, { pending: 0, 'in-flight': 0, delivered: 1, quarantined: 2, discarded: 0 });
    assert.deepEqual(research.progress, { done: 1, total: 3, fraction: 1 / 3 });
    assert.deepEqual(res.body.totals, research.counts);
  });

  it('GET /api/quarantine: the reason, rule and time, with pseudonymous ids only (no PHI)', async () => {
    const res = await request(app(pipeline)).get('/api/quarantine').expect(200);
    assert.equal(res.body.total, 2);
    const item = res.body.items[0];
    assert.deepEqual(Object.keys(item).sort(), ['attempts', 'deidSopInstanceUID', 'destination', 'id', 'instanceRef', 'quarantinedAt', 'reason', 'rule', 'studyRef']);
    assert.equal(item.destination, 'research');
    assert.equal(item.rule, 'chest-radiographs');
    assert.equal(item.reason, 'the destination refused the instance: HTTP 409, Failure Reason 0xC000 Error: Cannot understand');
    assert.ok(!Number.isNaN(Date.parse(item.quarantinedAt)));
    assert.match(item.instanceRef, /^[0-9a-f]{32}$/);
    const text = JSON.stringify(res.body);
    for (const phi of [...originals, 'Doe^Jane', 'PAT0001', 'ACC0001', '19700101']) assert.ok(!text.includes(phi), `the list shows ${phi}`);
    const paged = await request(app(pipeline)).get('/api/quarantine?limit=1&offset=1').expect(200);
    assert.equal(paged.body.items.length, 1);
    assert.equal(paged.body.total, 2);
    assert.equal((await request(app(pipeline)).get('/api/quarantine?destination=elsewhere').expect(200)).body.total, 0);
    assert.equal((await request(app(pipeline)).get('/api/quarantine?limit=-1').expect(400)).body.code, 'BAD_REQUEST');
  });

  it('POST /api/quarantine/{id}/retry sends it again; once the archive takes it, it is delivered', async () => {
    const list = (await request(app(pipeline)).get('/api/quarantine').expect(200)).body.items;
    const target = list[0];
    refuse.delete(target.deidSopInstanceUID);
    const res = await request(app(pipeline)).post(`/api/quarantine/${target.id}/retry`).expect(200);
    assert.deepEqual(res.body, { id: target.id, destination: 'research', rule: 'chest-radiographs', state: 'pending' });
    await drained(pipeline);
    assert.ok(server.stored.has(target.deidSopInstanceUID));
    const again = await request(app(pipeline)).post(`/api/quarantine/${target.id}/retry`).expect(409);
    assert.equal(again.body.code, 'CONFLICT');
    assert.match(again.body.message, /is not quarantined \(it is delivered\)/);
  });

  it('DELETE /api/quarantine/{id} discards it: never forwarded, its spool file deleted', async () => {
    const [target] = (await request(app(pipeline)).get('/api/quarantine').expect(200)).body.items;
    assert.equal((await spoolFiles(dataDir)).length, 1);
    const res = await request(app(pipeline)).delete(`/api/quarantine/${target.id}`).expect(200);
    assert.equal(res.body.state, 'discarded');
    await waitFor('the spool file to go', async () => (await spoolFiles(dataDir)).length === 0);
    assert.equal((await request(app(pipeline)).get('/api/quarantine').expect(200)).body.total, 0);
    const counts = (await request(app(pipeline)).get('/api/queue').expect(200)).body.totals;
    assert.deepEqual(counts, { pending: 0, 'in-flight': 0, delivered: 2, quarantined: 0, discarded: 1 });
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    assert.equal((await request(app(pipeline)).post('/api/quarantine/999999/retry').expect(404)).body.code, 'NOT_FOUND');
    assert.equal((await request(app(pipeline)).delete('/api/quarantine/999999').expect(404)).body.code, 'NOT_FOUND');
    assert.equal((await request(app(pipeline)).delete('/api/quarantine/abc').expect(400)).body.code, 'BAD_REQUEST');
  });

  it('POST /api/rules/dry-run: the rule that matched and, attribute by attribute, what would change; nothing is sent', async () => {
    const requestsBefore = server.requests.length;
    const totalsBefore = (await pipeline.status()).totals;
    const res = await request(app(pipeline))
      .post('/api/rules/dry-run')
      .set('content-type', 'application/dicom')
      .send(dicom(syntheticInstance({ seed: 'dry-run' })))
      .expect(200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.decision, 'forward');
    assert.equal(res.body.decidedBy, 'chest-radiographs');
    assert.deepEqual(res.body.matched, [{ index: 0, name: 'chest-radiographs', action: 'forward', continue: false }]);
    const [forward] = res.body.forwards;
    assert.deepEqual(forward.destinations, ['research']);
    assert.equal(forward.outcome, 'released');
    assert.equal(forward.record.profile, 'Basic Application Level Confidentiality Profile');
    assert.equal(forward.record.configHash, res.body.rules.hash);
    const name = forward.changes.find((c: { name: string }) => c.name === 'PatientName');
    assert.equal(name.before, 'Doe^Jane');
    assert.notEqual(name.after, 'Doe^Jane');
    assert.ok(forward.changes.some((c: { name: string; action: string }) => c.name === 'SOPInstanceUID' && c.action === 'U'));
    assert.equal(server.requests.length, requestsBefore, 'nothing forwarded');
    assert.deepEqual((await pipeline.status()).totals, totalsBefore, 'nothing queued');
  });

  it('dry run of an instance the rules drop, and of one sent by a given client', async () => {
    const res = await request(app(pipeline))
      .post('/api/rules/dry-run?client=ct-export&address=10.1.2.3')
      .set('content-type', 'application/dicom')
      .send(dicom(syntheticInstance({ seed: 'dry-ct', overrides: { Modality: 'CT' } })))
      .expect(200);
    assert.deepEqual([res.body.decision, res.body.decidedBy, res.body.forwards], ['drop', 'drop-everything-else', []]);
  });

  it('dry run refuses what is not one DICOM instance with a clear 4xx', async () => {
    const a = app(pipeline);
    const wrongType = await request(a).post('/api/rules/dry-run').set('content-type', 'application/json').send('{}').expect(415);
    assert.equal(wrongType.body.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await request(a).post('/api/rules/dry-run').set('content-type', 'application/dicom').expect(400)).body.code, 'BAD_REQUEST');
    const junk = await request(a).post('/api/rules/dry-run').set('content-type', 'application/dicom').send(Buffer.from('not dicom at all')).expect(400);
    assert.equal(junk.body.code, 'DICOM_PARSE');
  });

  it('dry run refuses an instance over the size limit with 413', async () => {
    const kit = await makePipeline({ archiveUrl: server.url, overrides: { dryRunMaxBytes: 1000 } });
    await kit.pipeline.start();
    try {
      const res = await request(app(kit.pipeline)).post('/api/rules/dry-run').set('content-type', 'application/dicom').send(dicom(syntheticInstance())).expect(413);
      assert.equal(res.body.code, 'PAYLOAD_TOO_LARGE');
    } finally {
      await kit.dispose();
    }
  });

  it('answers 503 while the pipeline is not running', async () => {
    const kit = await makePipeline({ archiveUrl: server.url });
    const res = await request(app(kit.pipeline)).get('/api/queue').expect(503);
    assert.equal(res.body.code, 'RESEARCH_UNAVAILABLE');
    await kit.dispose();
  });
});
