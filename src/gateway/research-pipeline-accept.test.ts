import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { drained, makePipeline, spoolFiles, waitFor } from '../../test/support/research-pipeline-kit.js';
import { startScriptedStowServer, type ScriptedStowServer } from '../../test/support/scripted-stow-server.js';
import { syntheticInstance, syntheticStudy } from '../../test/support/synthetic-instance.js';
import { AnofairError } from '../errors/anofair-error.js';
import { createLogger } from '../observability/logger.js';
import { destinationSchema } from './forwarding/destination.js';
import { loadRules } from './rules/rules-loader.js';

describe('research pipeline: accept() and restart', () => {
  let server: ScriptedStowServer | undefined;
  let dispose: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await dispose?.();
    await server?.close();
    dispose = undefined;
    server = undefined;
  });

  async function setUp(overrides: Parameters<typeof makePipeline>[0]['overrides'] = {}, rules?: string) {
    server = await startScriptedStowServer(() => ({ status: 200 }));
    const kit = await makePipeline({ archiveUrl: server.url, rules, overrides });
    dispose = kit.dispose;
    return { ...kit, server };
  }

  it('refuses input it cannot route with a typed error, and anything before start()', async () => {
    const { pipeline } = await setUp();
    await assert.rejects(pipeline.accept({ bytes: syntheticInstance() }, {}, 'tap'), (e) => e instanceof AnofairError && e.code === 'RESEARCH_UNAVAILABLE');
    await pipeline.start();
    await assert.rejects(pipeline.accept({ bytes: new TextEncoder().encode('not dicom') }, {}, 'tap'), (e) => e instanceof AnofairError && e.code === 'DICOM_PARSE');
    await assert.rejects(
      pipeline.accept({ bytes: syntheticInstance({ overrides: { SOPInstanceUID: null } }) }, {}, 'tap'),
      (e) => e instanceof AnofairError && e.code === 'DICOM_MISSING_ATTRIBUTE' && /\(0008,0018\)/.test(e.message),
    );
    assert.deepEqual((await pipeline.status()).totals.pending, 0);
  });

  it('says why an instance is not queued: no rule matched, or which rule dropped it', async () => {
    const rules = `version: 1
rules:
  - name: ct-only
    when: { attribute: Modality, equals: CT }
    forward: { destinations: [research] }
  - name: drop-mr
    when: { attribute: Modality, equals: MR }
    drop: true
`;
    const { pipeline, dataDir } = await setUp({}, rules);
    await pipeline.start();
    const dx = await pipeline.accept({ bytes: syntheticInstance({ seed: 'dx' }) }, {}, 'deid-only');
    assert.deepEqual({ ...dx, sopInstanceUID: undefined }, { sopInstanceUID: undefined, rule: null, queued: false, reason: 'no routing rule matched' });
    const mr = await pipeline.accept({ bytes: syntheticInstance({ seed: 'mr', overrides: { Modality: 'MR' } }) }, {}, 'tap');
    assert.deepEqual([mr.rule, mr.queued, mr.reason], ['drop-mr', false, 'dropped by rule "drop-mr"']);
    assert.equal((await spoolFiles(dataDir)).length, 0, 'nothing spooled');
  });

  it('queues one item per destination of every matching rule (continue), one spool file for all', async () => {
    const { server: s } = await setUp();
    await dispose!();
    const rules = loadRules(
      `version: 1
rules:
  - name: copy-to-trial
    forward: { destinations: [trial] }
    continue: true
  - name: research
    forward: { destinations: [research], deidentify: { profile: basic, options: [retain-patient-characteristics] } }
`,
      { knownDestinations: ['research', 'trial'] },
    );
    const destination = destinationSchema.parse({ url: s.url });
    const kit = await makePipeline({ archiveUrl: s.url, overrides: { rules, destinations: { research: destination, trial: destination } } });
    dispose = kit.dispose;
    await kit.pipeline.start();
    const r = await kit.pipeline.accept({ bytes: syntheticInstance({ seed: 'both' }) }, {}, 'tap');
    assert.deepEqual([r.rule, r.queued], ['research', true]);
    assert.equal((await spoolFiles(kit.dataDir)).length, 1);
    await drained(kit.pipeline);
    const status = await kit.pipeline.status();
    assert.deepEqual(status.destinations.map((d) => [d.name, d.counts.delivered]), [['research', 1], ['trial', 1]]);
    assert.equal(s.requests.length, 2);
    // retain-patient-characteristics keeps Patient's Sex for research only.
    const sexes = s.requests.map((q) => q.instances[0]!.bytes).map((b) => Buffer.from(b).includes(Buffer.from('\x10\x00\x40\x00CS\x02\x00F ', 'latin1')));
    assert.deepEqual(sexes.sort(), [false, true]);
    await waitFor('the shared spool file to go after both confirmed', async () => (await spoolFiles(kit.dataDir)).length === 0);
  });

  it('after a crash, deletes spool files that were never acknowledged and keeps queued ones', async () => {
    const { pipeline, dataDir, server: s } = await setUp({ batchWindowMs: 1_000 });
    await pipeline.start();
    await pipeline.accept({ bytes: syntheticInstance({ seed: 'kept' }) }, {}, 'tap');
    await pipeline.stop();
    assert.equal(s.requests.length, 0, 'stopped before its batch was due');
    // What a kill between the spool write and the index commit leaves behind: a file no index row knows.
    await writeFile(join(dataDir, 'spool', '00000000-0000-4000-8000-000000000000.dcm'), syntheticInstance({ seed: 'orphan' }));
    await writeFile(join(dataDir, 'spool', '.tmp-half.dcm.123'), new Uint8Array(10));
    const kit = await makePipeline({ archiveUrl: s.url, dataDir });
    try {
      await kit.pipeline.start();
      assert.equal((await spoolFiles(dataDir)).length, 1, 'the orphan is gone, the queued file stays');
      await drained(kit.pipeline);
      assert.equal(s.requests.length, 1);
      assert.equal(s.requests[0]!.instances.length, 1);
    } finally {
      await kit.pipeline.stop();
    }
  });

  it('logs no PHI: destination names, internal ids and pseudonymous UIDs only', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const { pipeline, server: s } = await setUp({ logger: createLogger({ level: 'debug', destination: stream }) });
    s.setScript((req) => (req.n === 1 ? { status: 202, stored: [req.instances[0]!.sopInstanceUID], failed: [[req.instances[1]!.sopInstanceUID, 0xc000]] } : { status: 200 }));
    await pipeline.start();
    const originals: string[] = [];
    for (const bytes of syntheticStudy('logged', 2)) originals.push((await pipeline.accept({ bytes }, { client: 'modality-1', address: '10.9.8.7' }, 'tap')).sopInstanceUID);
    const withheld = syntheticInstance({ seed: 'withheld', overrides: { Modality: 'US', BurnedInAnnotation: 'YES' } });
    originals.push((await pipeline.accept({ bytes: withheld }, {}, 'tap')).sopInstanceUID);
    await drained(pipeline);
    await pipeline.stop();
    const text = lines.join('');
    assert.match(text, /forwarding: instance quarantined/);
    assert.match(text, /forwarding: batch settled/);
    for (const phi of [...originals, 'Doe', 'Jane', 'PAT0001', 'ACC0001', '19700101', 'Example Hospital', 'XR CHEST']) {
      assert.ok(!text.includes(phi), `the log contains ${phi}`);
    }
  });
});
