import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { instanceFile, orthancJson, startOrthanc, type OrthancServer } from '../../test/harness/orthanc.js';
import { drained, FAST_RETRY, makePipeline, SHIPPED_SELECTION_HEADER_ONLY, spoolFiles, waitFor } from '../../test/support/research-pipeline-kit.js';
import { syntheticInstance, syntheticStudy } from '../../test/support/synthetic-instance.js';
import { firstString } from '../dicom/dataset.js';
import { readPart10 } from '../dicom/part10.js';
import type { ResearchPipeline } from './research-pipeline.js';

/**
 * The research path against a real research archive: Orthanc 1.10 with the DICOMweb plugin, started by the
 * harness. Instances go in through accept() (as the STOW tap calls it) with the shipped default rules.
 */
describe('research pipeline with a real Orthanc research archive', () => {
  let archive: OrthancServer;
  let pipeline: ResearchPipeline;
  let dataDir: string;
  let dispose: () => Promise<void>;
  let scratch: string;

  before(async () => {
    archive = await startOrthanc({ name: 'RESEARCH-ARCHIVE' });
    const kit = await makePipeline({ archiveUrl: archive.dicomWebUrl, rules: SHIPPED_SELECTION_HEADER_ONLY, maxBatchInstances: 10 });
    ({ pipeline, dataDir, dispose } = kit);
    await pipeline.start();
    scratch = await mkdtemp(join(tmpdir(), 'anofair-research-test-'));
  });
  after(async () => {
    await dispose?.();
    await archive?.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  const instanceCount = async (): Promise<number> => (await orthancJson<{ CountInstances: number }>(archive, '/statistics')).CountInstances;
  const archivedSopUIDs = async (): Promise<string[]> => {
    const ids = await orthancJson<string[]>(archive, '/instances');
    const tags = await Promise.all(ids.map((id) => orthancJson<{ SOPInstanceUID: string }>(archive, `/instances/${id}/simplified-tags`)));
    return tags.map((t) => t.SOPInstanceUID);
  };

  it('forwards chest radiographs de-identified, drops the rest, and empties the spool', async () => {
    const chest = [
      syntheticInstance({ seed: 'dx-chest', overrides: { Modality: 'DX', BodyPartExamined: 'CHEST' } }),
      syntheticInstance({ seed: 'cr-thorax', overrides: { Modality: 'CR', BodyPartExamined: null, StudyDescription: 'THORAX PA' } }),
    ];
    const others = [
      syntheticInstance({ seed: 'ct-chest', overrides: { Modality: 'CT', BodyPartExamined: 'CHEST' } }),
      syntheticInstance({ seed: 'dx-hand', overrides: { Modality: 'DX', BodyPartExamined: 'HAND', StudyDescription: 'XR HAND' } }),
    ];
    const originals: string[] = [];
    for (const bytes of chest) {
      const r = await pipeline.accept({ bytes }, { address: '127.0.0.1' }, 'tap');
      assert.deepEqual([r.rule, r.queued], ['chest-radiographs', true]);
      originals.push(r.sopInstanceUID);
    }
    for (const bytes of others) {
      const r = await pipeline.accept({ bytes }, {}, 'tap');
      assert.deepEqual([r.rule, r.queued, r.reason], ['drop-everything-else', false, 'dropped by rule "drop-everything-else"']);
    }
    await drained(pipeline);
    assert.equal(await instanceCount(), 2);
    const ids = await orthancJson<string[]>(archive, '/instances');
    for (const id of ids) {
      const bytes = await instanceFile(archive, id);
      const file = readPart10(bytes);
      assert.ok(!originals.includes(firstString(file.dataset, '00080018')!), 'a new SOP Instance UID');
      assert.notEqual(firstString(file.dataset, '00100010'), 'Doe^Jane');
      assert.notEqual(firstString(file.dataset, '00100020'), 'PAT0001');
      assert.ok(!firstString(file.dataset, '00080050'), 'Accession Number emptied (PS3.15 Z)');
      assert.equal(firstString(file.dataset, '00120062'), 'YES');
      // Checked with a tool we did not write: dcmdump reads the archived file and finds none of the identifiers.
      const path = join(scratch, `${id}.dcm`);
      await writeFile(path, bytes);
      const dump = spawnSync('/usr/bin/dcmdump', ['+L', path], { encoding: 'utf8' });
      assert.equal(dump.status, 0, dump.stderr);
      for (const phi of ['Doe^Jane', 'PAT0001', 'ACC0001', '19700101', 'Example Hospital']) assert.ok(!dump.stdout.includes(phi), `dcmdump shows ${phi}`);
    }
    const status = await pipeline.status();
    assert.equal(status.totals.delivered, 2);
    assert.equal(status.destinations[0]!.health, 'ok');
    await waitFor('the spool to empty', async () => (await spoolFiles(dataDir)).length === 0);
  });

  it('archive down during a burst, then up: everything arrives, nothing is quarantined', async () => {
    const before = await instanceCount();
    await archive.stop();
    const burst = [...syntheticStudy('burst-a', 5), ...syntheticStudy('burst-b', 4), ...syntheticStudy('burst-c', 3)];
    for (const bytes of burst) assert.equal((await pipeline.accept({ bytes }, {}, 'tap')).queued, true);
    await waitFor('the archive to show as unreachable', async () => (await pipeline.status()).destinations[0]!.health === 'unreachable');
    // Far more attempts than maxAttempts fit in this wait: an outage must never quarantine anything.
    await new Promise((r) => setTimeout(r, 10 * FAST_RETRY.capMs));
    const during = await pipeline.status();
    assert.equal(during.totals.quarantined, 0);
    assert.equal(during.totals.pending + during.totals['in-flight'], burst.length);
    assert.match(during.destinations[0]!.lastError ?? '', /no answer from the destination \(ECONNREFUSED\)/);
    assert.equal((await spoolFiles(dataDir)).length, burst.length, 'spooled until confirmed');
    await archive.restart();
    await drained(pipeline, 30_000);
    assert.equal(await instanceCount(), before + burst.length);
    const status = await pipeline.status();
    assert.equal(status.totals.quarantined, 0);
    assert.equal(status.destinations[0]!.health, 'ok');
    await waitFor('the spool to empty', async () => (await spoolFiles(dataDir)).length === 0);
  });

  it('Orthanc refuses one instance of a study (400, Failure Reason 0xC000): the others arrive, it is quarantined', async () => {
    const before = await instanceCount();
    const study = syntheticStudy('partial', 3);
    // Orthanc cannot store an instance without a Series Instance UID; it says so per instance.
    study[1] = syntheticInstance({ seed: 'partial/1', overrides: { __study: 'partial', SeriesInstanceUID: null } });
    for (const bytes of study) assert.equal((await pipeline.accept({ bytes }, {}, 'tap')).queued, true);
    await drained(pipeline);
    assert.equal(await instanceCount(), before + 2);
    const quarantine = await pipeline.listQuarantine({ limit: 10, offset: 0 });
    assert.equal(quarantine.total, 1);
    assert.equal(quarantine.items[0]!.quarantineReason, 'the destination refused the instance: HTTP 400, Failure Reason 0xC000 Error: Cannot understand');
    assert.ok(!(await archivedSopUIDs()).includes(quarantine.items[0]!.deidSopInstanceUID!));
  });
});
