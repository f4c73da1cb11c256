import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { syntheticInstance } from '../../test/support/synthetic-instance.js';
import { releaseEncoded } from '../anonymizer/release-instance.js';
import { firstString } from '../dicom/dataset.js';
import { readPart10 } from '../dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../phantoms/generate.js';
import { parseLabels } from '../phantoms/labels.js';
import { ReleasePool, releaseWorkerData } from './release-pool.js';

const KEY = { id: 'pool-test', secret: new Uint8Array(32).fill(7) };

/**
 * The release workers: the same release as on the calling thread, bounded, and failing closed when a release
 * overruns or its worker cannot start.
 */
describe('the release worker pool', () => {
  let work: string;
  let phantoms: Uint8Array[];
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'anofair-pool-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: work, patients: 1, seed: 'release-pool', burnedInShare: 1, force: false });
    phantoms = parseLabels(readFileSync(join(work, 'labels.jsonl'), 'utf8')).map((l) => new Uint8Array(readFileSync(join(work, l.file))));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('releases in a worker exactly what the calling thread releases, byte for byte', async () => {
    const pool = await ReleasePool.start({ threads: 2, data: releaseWorkerData({ key: KEY }) });
    try {
      assert.equal(pool.threads, 2);
      assert.equal(pool.pixelStep, false);
      const inputs = ['a', 'b', 'c', 'd'].map((seed) => syntheticInstance({ seed }));
      const request = { options: [], pixels: 'none' as const };
      const here = await Promise.all(inputs.map((bytes) => releaseEncoded(bytes, request, { key: KEY })));
      const there = await Promise.all(inputs.map((bytes) => pool.release(bytes.slice(), request)));
      for (const [k, outcome] of there.entries()) {
        assert.equal(outcome.status, 'released');
        assert.equal(here[k]!.status, 'released');
        if (outcome.status === 'released' && here[k]!.status === 'released') assert.deepEqual(outcome.bytes, (here[k] as { bytes: Uint8Array }).bytes);
      }
      assert.deepEqual(pool.stats(), { threads: 2, busy: 0, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('runs its workers at the nice value asked for, so that research work yields the CPU (Linux: per thread)', async () => {
    const niceOf = (): number[] =>
      readdirSync('/proc/self/task').map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[16]));
    const before = niceOf();
    const own = getPriority();
    const pool = await ReleasePool.start({ threads: 1, nice: 19, data: releaseWorkerData({ key: KEY }) });
    try {
      const during = niceOf();
      assert.equal(during.filter((n) => n === 19).length - before.filter((n) => n === 19).length, 1, 'one thread more at nice 19: the worker');
      assert.equal(getPriority(), own, 'the process (its main thread) keeps its priority');
    } finally {
      await pool.close();
    }
  });

  it('releases file to file in the worker (the CLI), and says "failed" for a file it cannot read', async () => {
    const pool = await ReleasePool.start({ threads: 1, data: releaseWorkerData({ key: KEY }) });
    try {
      const input = join(work, 'file-in.dcm');
      writeFileSync(input, syntheticInstance({ seed: 'file' }));
      const output = join(work, 'out', 'nested', 'file-out.dcm');
      const outcome = await pool.releaseFile(input, output, { options: [], pixels: 'none' });
      assert.equal(outcome.status, 'released');
      const here = await releaseEncoded(new Uint8Array(readFileSync(input)), { options: [], pixels: 'none' }, { key: KEY });
      assert.deepEqual(new Uint8Array(readFileSync(output)), (here as { bytes: Uint8Array }).bytes, 'the same bytes as on this thread');
      assert.equal((outcome as { bytesWritten: number }).bytesWritten, readFileSync(output).length);
      const missing = await pool.releaseFile(join(work, 'no-such-file.dcm'), join(work, 'out', 'x.dcm'), { options: [], pixels: 'none' });
      assert.deepEqual(missing, { status: 'failed', reason: 'IO: cannot read the file (ENOENT)' });
    } finally {
      await pool.close();
    }
  });

  it('answers "unreadable" for bytes that are not DICOM, and keeps working', async () => {
    const pool = await ReleasePool.start({ threads: 1, data: releaseWorkerData({ key: KEY }) });
    try {
      const bad = await pool.release(new TextEncoder().encode('not a DICOM file at all'), { options: [], pixels: 'none' });
      assert.equal(bad.status, 'unreadable');
      assert.equal((await pool.release(syntheticInstance(), { options: [], pixels: 'none' })).status, 'released');
    } finally {
      await pool.close();
    }
  });

  it('loads the pixel models in every worker and regenerates chest radiographs there, marked as derived', async () => {
    const pool = await ReleasePool.start({ threads: 2, data: releaseWorkerData({ key: KEY }, { steps: 4 }) });
    try {
      assert.equal(pool.pixelModels?.demo, true, 'the shipped demo models, and the pool says so');
      assert.ok(pool.pixelModels?.detector.classes.length);
      assert.equal(pool.pixelModels?.inpaint.provider, 'cpu');
      const outcomes = await Promise.all(phantoms.map((bytes) => pool.release(bytes.slice(), { options: [], pixels: 'cxr-anofair', rule: 'chest' })));
      for (const [k, outcome] of outcomes.entries()) {
        assert.equal(outcome.status, 'released', outcome.status === 'released' ? '' : `${outcome.reason}`);
        if (outcome.status !== 'released') continue;
        assert.equal(outcome.record.pixels, 'cleaned');
        assert.ok(outcome.record.pixelAnonymization!.regeneratedFraction > 0.5);
        const out = readPart10(outcome.bytes);
        const source = readPart10(phantoms[k]!);
        assert.deepEqual(out.dataset['00080008']?.Value?.slice(0, 2), ['DERIVED', 'SECONDARY']);
        assert.equal(firstString(out.dataset, '00280301'), 'NO');
        assert.equal(firstString(out.dataset, '00280302'), 'NO');
        assert.notEqual(firstString(out.dataset, '0020000E'), firstString(source.dataset, '0020000E'));
      }
      // the new series is shared by the instances of one source series and differs from the header-only release
      const headerOnly = await releaseEncoded(phantoms[0]!, { options: [], pixels: 'none' }, { key: KEY, burnedInPresumption: { modalities: [], sopClassPrefixes: [] } });
      const series = (o: { status: string; bytes?: Uint8Array }) => firstString(readPart10(o.bytes!).dataset, '0020000E');
      if (headerOnly.status === 'released') assert.notEqual(series(outcomes[0]!), series(headerOnly));
    } finally {
      await pool.close();
    }
  });

  it('quarantines an instance whose release overruns its time, replaces the worker, and goes on', async () => {
    const pool = await ReleasePool.start({ threads: 1, taskTimeoutMs: 200, data: releaseWorkerData({ key: KEY }, { steps: 200 }) });
    try {
      const slow = await pool.release(phantoms[0]!.slice(), { options: [], pixels: 'cxr-anofair', rule: 'chest' });
      assert.equal(slow.status, 'quarantined');
      assert.match((slow as { reason: string }).reason, /^pixel anonymization failed: PIXEL_FAILED: the release did not finish within 0.2 s/);
      // a fresh worker answers the next instance
      const next = await pool.release(syntheticInstance(), { options: [], pixels: 'none' });
      assert.equal(next.status, 'released');
      assert.equal(pool.stats().threads, 1);
    } finally {
      await pool.close();
    }
  });

  it('refuses to start when the pixel models do not load, naming the folder', async () => {
    await assert.rejects(
      ReleasePool.start({ threads: 1, data: releaseWorkerData({ key: KEY }, { models: work }) }),
      (err: Error & { code?: string }) => err.code === 'MODEL_INVALID' && err.message.includes(work) && /detector/.test(err.message),
    );
  });

  it('rejects work once closed, so that a stopping gateway defers instead of quarantining', async () => {
    const pool = await ReleasePool.start({ threads: 1, data: releaseWorkerData({ key: KEY }) });
    await pool.close();
    await assert.rejects(pool.release(syntheticInstance(), { options: [], pixels: 'none' }), (err: Error & { code?: string }) => err.code === 'RESEARCH_UNAVAILABLE');
  });
});
