import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { mergeSummaries, REPO_ROOT } from './models-build.js';
import { readModelManifest, verifyModelFiles } from './model-manifest.js';

/** The whole build pipeline, end to end, in --smoke mode: phantoms from the CLI, a few training steps per model,
 * ONNX export, manifests. It proves `npm run models:build` works from nothing; the shipped models are tested in
 * models.test.ts. */
describe('models:build --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'anofair-smoke-test-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('builds every model from freshly generated phantoms into a temp folder', async () => {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'train', 'models-build.js'), '--smoke', '--out', out, '--patients', '12'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, ANOFAIR_TORCH_DEVICE: 'cpu' },
      timeout: 15 * 60 * 1000,
    });
    assert.equal(run.status, 0, `build failed:\n${run.stderr.slice(-4000)}`);
    for (const name of ['detector', 'attributes', 'diagnostic', 'reid', 'inpaint']) {
      const folder = join(out, name);
      const manifest = readModelManifest(folder);
      assert.equal(manifest.data.smoke, true, `${name} is marked as a smoke build`);
      assert.deepEqual(await verifyModelFiles(folder, manifest), [], `${name} files match the manifest`);
      for (const component of manifest.models) assert.ok(existsSync(join(folder, component.file)), `${name}/${component.file}`);
    }
    const summary = JSON.parse(readFileSync(join(out, 'build-summary.json'), 'utf8')) as { smoke: boolean; stages: Record<string, unknown> };
    assert.equal(summary.smoke, true);
    assert.deepEqual(Object.keys(summary.stages).sort(), ['attributes', 'decoder', 'detector', 'diagnostic', 'diffusion', 'reid', 'vae']);
    // the refined decoder is what the folder ships, its shape recorded for the PyTorch loader, and no checkpoint is left
    const vaeConfig = JSON.parse(readFileSync(join(out, 'inpaint', 'vae_decoder', 'config.json'), 'utf8')) as { decoder?: { block_out_channels: number[] } };
    assert.deepEqual(vaeConfig.decoder?.block_out_channels, [32, 64, 128]);
    const inpaint = readModelManifest(join(out, 'inpaint'));
    assert.deepEqual(Object.keys(inpaint.training).sort(), ['decoder', 'diffusion', 'vae']);
    assert.equal(existsSync(join(out, 'decoder-checkpoint.pt')), false);
  });

  it('folds a partial rebuild (--only) into the summary without taking over the full build\'s times', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anofair-summary-'));
    try {
      writeFileSync(join(dir, 'build-summary.json'), JSON.stringify({ seconds: 6724, seconds_1: 1846, stages: { vae: { a: 1 }, diffusion: { b: 2 } } }));
      writeFileSync(join(dir, 'build-summary-1.json'), JSON.stringify({ seconds: 1283, stages: { decoder: { c: 3 } } }));
      mergeSummaries(dir, ['build-summary-1.json'], 1290);
      const merged = JSON.parse(readFileSync(join(dir, 'build-summary.json'), 'utf8')) as Record<string, unknown> & { partial_builds: { stages: string[]; seconds: number }[] };
      assert.equal(merged.seconds, 6724);
      assert.equal(merged.seconds_1, 1846);
      assert.deepEqual(Object.keys(merged.stages as object), ['vae', 'diffusion', 'decoder']);
      assert.deepEqual(merged.partial_builds.map((p) => [p.stages, p.seconds]), [[['decoder'], 1290]]);
      assert.equal(existsSync(join(dir, 'build-summary-1.json')), false, 'the part is folded in and removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with one clear line when the phantom folder does not exist', () => {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'train', 'models-build.js'), '--smoke', '--out', join(out, 'x'), '--data', join(out, 'missing')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /models-build: .*labels\.jsonl/);
  });
});
