import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { syntheticInstance, syntheticStudy } from '../../../test/support/synthetic-instance.js';
import { drained, FAST_RETRY, makePipeline, spoolFiles, waitFor } from '../../../test/support/research-pipeline-kit.js';
import { startScriptedStowServer, type ScriptedStowServer } from '../../../test/support/scripted-stow-server.js';
import { readPart10 } from '../../dicom/part10.js';
import { firstString } from '../../dicom/dataset.js';
import type { ResearchPipeline } from '../research-pipeline.js';

/**
 * The forwarder against a scripted STOW-RS server that answers the exact PS3.18 cases (202, 409, 401, 503 ...):
 * what is retried, what is quarantined, what waits, and that nothing is given up silently.
 */
describe('forwarding: PS3.18 answers, instance by instance', () => {
  let server: ScriptedStowServer | undefined;
  let dispose: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await dispose?.();
    await server?.close();
    dispose = undefined;
    server = undefined;
  });

  async function setUp(script: Parameters<typeof startScriptedStowServer>[0], retry = FAST_RETRY) {
    server = await startScriptedStowServer(script);
    const kit = await makePipeline({ archiveUrl: server.url, retry });
    dispose = kit.dispose;
    await kit.pipeline.start();
    return { pipeline: kit.pipeline, dataDir: kit.dataDir, server };
  }

  async function acceptAll(pipeline: ResearchPipeline, instances: Uint8Array[]): Promise<string[]> {
    const uids: string[] = [];
    for (const bytes of instances) {
      const result = await pipeline.accept({ bytes }, { address: '10.0.0.5' }, 'tap');
      assert.equal(result.queued, true);
      uids.push(result.sopInstanceUID);
    }
    return uids;
  }

  it('sends one study as one multipart/related request of de-identified instances, then deletes the spool files', async () => {
    const { pipeline, dataDir, server } = await setUp(() => ({ status: 200 }));
    const originals = await acceptAll(pipeline, syntheticStudy('study-1', 3));
    await drained(pipeline);
    assert.equal(server.requests.length, 1, 'one request for the study');
    const request = server.requests[0]!;
    assert.match(request.contentType, /^multipart\/related; type="application\/dicom"; boundary=/);
    assert.equal(request.headers.accept, 'application/dicom+json');
    assert.equal(request.instances.length, 3);
    for (const instance of request.instances) {
      assert.ok(!originals.includes(instance.sopInstanceUID), 'the SOP Instance UID is replaced');
      assert.notEqual(instance.patientName, 'Doe^Jane');
      assert.notEqual(instance.patientID, 'PAT0001');
      const file = readPart10(instance.bytes);
      assert.equal(firstString(file.dataset, '00120062'), 'YES', 'Patient Identity Removed (PS3.15 E.1.1)');
    }
    const status = await pipeline.status();
    assert.deepEqual(status.totals, { pending: 0, 'in-flight': 0, delivered: 3, quarantined: 0, discarded: 0 });
    assert.equal(status.destinations[0]!.health, 'ok');
    await waitFor('the spool files to be deleted once the destination confirmed them', async () => (await spoolFiles(dataDir)).length === 0);
  });

  it('202: retries what can succeed, quarantines what cannot, delivers the rest', async () => {
    let outOfResources = '';
    let cannotUnderstand = '';
    const { pipeline, dataDir, server } = await setUp((req) => {
      if (req.n > 1) return { status: 200 };
      const [a, b, c, d] = req.instances.map((i) => i.sopInstanceUID) as [string, string, string, string];
      outOfResources = b;
      cannotUnderstand = c;
      void d; // not mentioned at all
      return { status: 202, stored: [a], failed: [[b, 0xa700], [c, 0xc000]] };
    });
    await acceptAll(pipeline, syntheticStudy('study-202', 4));
    await drained(pipeline);
    const status = await pipeline.status();
    assert.deepEqual(status.totals, { pending: 0, 'in-flight': 0, delivered: 3, quarantined: 1, discarded: 0 });
    assert.ok(server.stored.has(outOfResources), 'the 0xA700 instance was sent again and stored');
    assert.ok(!server.stored.has(cannotUnderstand), 'the 0xC000 instance was not sent again');
    const resent = server.requests.slice(1).flatMap((r) => r.instances.map((i) => i.sopInstanceUID));
    assert.ok(!resent.includes(cannotUnderstand));
    const quarantine = await pipeline.listQuarantine({ limit: 10, offset: 0 });
    assert.equal(quarantine.items[0]!.deidSopInstanceUID, cannotUnderstand);
    assert.equal(quarantine.items[0]!.quarantineReason, 'the destination refused the instance: HTTP 202, Failure Reason 0xC000 Error: Cannot understand');
    await waitFor('only the quarantined instance to keep its spool file', async () => (await spoolFiles(dataDir)).length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await spoolFiles(dataDir)).length, 1, 'the quarantined instance keeps its spool file');
  });

  it('409 with a retryable reason: retried up to the limit, then quarantined with the reason', async () => {
    const { pipeline, server } = await setUp((req) => ({ status: 409, failed: req.instances.map((i) => [i.sopInstanceUID, 0x0110] as [string, number]) }));
    await acceptAll(pipeline, [syntheticInstance({ seed: 'retry-limit' })]);
    await drained(pipeline);
    assert.equal(server.requests.length, FAST_RETRY.maxAttempts);
    const [item] = (await pipeline.listQuarantine({ limit: 10, offset: 0 })).items;
    assert.equal(item!.attempts, FAST_RETRY.maxAttempts);
    assert.equal(item!.quarantineReason, 'no success after 3 attempts (retry limit); last: HTTP 409, Failure Reason 0x0110 Processing failure');
  });

  it('401: items stay queued however long it lasts, the destination says unauthorized, and delivery resumes', async () => {
    const { pipeline, server } = await setUp(() => ({ status: 401 }));
    await acceptAll(pipeline, syntheticStudy('study-401', 2));
    await waitFor('several refused attempts', () => server.requests.length >= FAST_RETRY.maxAttempts + 2, 20_000);
    const during = await pipeline.status();
    assert.equal(during.totals.quarantined, 0, 'a credentials problem never quarantines');
    assert.equal(during.totals.pending + during.totals['in-flight'], 2);
    const destination = during.destinations[0]!;
    assert.equal(destination.health, 'unauthorized');
    assert.equal(destination.lastError, 'HTTP 401: the destination refused our credentials');
    server.setScript(() => ({ status: 200 }));
    await drained(pipeline);
    const after = await pipeline.status();
    assert.equal(after.totals.delivered, 2);
    assert.equal(after.destinations[0]!.health, 'ok');
  });

  it('503 with Retry-After: the destination is paused until then and shown as unreachable', async () => {
    const { pipeline, server } = await setUp(() => ({ status: 503, headers: { 'retry-after': '1' } }), { ...FAST_RETRY, capMs: 5_000 });
    await acceptAll(pipeline, [syntheticInstance({ seed: 'busy' })]);
    await waitFor('the first attempt', () => server.requests.length >= 1);
    const status = (await waitFor('an unreachable status', async () => {
      const s = await pipeline.status();
      return s.destinations[0]!.health === 'unreachable' ? s : undefined;
    }))!;
    assert.ok(status.destinations[0]!.retryAt, 'shows when it is tried next');
    assert.ok(Date.parse(status.destinations[0]!.retryAt!) - Date.now() > 500, 'Retry-After (1 s) is honoured over the 20 ms backoff');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(server.requests.length, 1, 'no request during the pause');
    server.setScript(() => ({ status: 200 }));
    await drained(pipeline);
  });

  it('400 for a batch: instances are sent one by one to find the refused one, which alone is quarantined', async () => {
    let bad = '';
    const { pipeline, server } = await setUp((req) => {
      if (req.n === 1) bad = req.instances[1]!.sopInstanceUID;
      return req.instances.some((i) => i.sopInstanceUID === bad) ? { status: 400 } : { status: 200 };
    });
    await acceptAll(pipeline, syntheticStudy('study-400', 3));
    await drained(pipeline);
    assert.deepEqual((await pipeline.status()).totals, { pending: 0, 'in-flight': 0, delivered: 2, quarantined: 1, discarded: 0 });
    const [item] = (await pipeline.listQuarantine({ limit: 10, offset: 0 })).items;
    assert.equal(item!.deidSopInstanceUID, bad);
    assert.equal(item!.quarantineReason, 'the destination refused the instance: HTTP 400');
    assert.ok(server.requests.slice(1).every((r) => r.instances.length === 1), 'retries go one instance at a time');
  });

  it('never sends what de-identification withholds: it is quarantined with the reason', async () => {
    const { pipeline, server } = await setUp(() => ({ status: 200 }));
    // An ultrasound image that declares burned-in text: pixels are not cleaned yet, so it must not leave.
    await acceptAll(pipeline, [syntheticInstance({ seed: 'burned-in', overrides: { Modality: 'US', BurnedInAnnotation: 'YES' } })]);
    await drained(pipeline);
    assert.equal(server.requests.length, 0);
    const [item] = (await pipeline.listQuarantine({ limit: 10, offset: 0 })).items;
    assert.match(item!.quarantineReason ?? '', /^withheld by de-identification: /);
  });

  it('stop() lets the batch in flight finish and settles it', async () => {
    const { pipeline, server } = await setUp(() => ({ status: 200, delayMs: 400 }));
    await acceptAll(pipeline, [syntheticInstance({ seed: 'slow' })]);
    await waitFor('the request to arrive', () => server.requests.length === 1);
    const before = Date.now();
    await pipeline.stop();
    assert.ok(Date.now() - before >= 200, 'stop waited for the answer');
    assert.equal(server.stored.size, 1);
    await assert.rejects(pipeline.accept({ bytes: syntheticInstance() }, {}, 'tap'), /not running/);
    await pipeline.start();
    assert.deepEqual((await pipeline.status()).totals.delivered, 1, 'settled before stopping, not re-sent');
    assert.equal(server.requests.length, 1);
  });

  it('exports metrics per destination without PHI', async () => {
    const { pipeline } = await setUp(() => ({ status: 200 }));
    const uids = await acceptAll(pipeline, syntheticStudy('study-metrics', 2));
    await pipeline.accept({ bytes: syntheticInstance({ seed: 'x' }) }, {}, 'deid-only');
    await drained(pipeline);
    const text = await pipeline.registry.metrics();
    assert.match(text, /anofair_research_forwarded_total\{destination="research"\} 3/);
    assert.match(text, /anofair_research_queue_items\{destination="research",state="delivered"\} 3/);
    assert.match(text, /anofair_research_accepted_total\{mode="tap",outcome="queued"\} 2/);
    assert.match(text, /anofair_research_destination_up\{destination="research"\} 1/);
    for (const phi of [...uids, 'Doe', 'PAT0001', 'ACC0001']) assert.ok(!text.includes(phi), `metrics must not contain ${phi}`);
  });
});
