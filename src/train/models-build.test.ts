import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO_ROOT } from './models-build.js';
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
    assert.deepEqual(Object.keys(summary.stages).sort(), ['attributes', 'detector', 'diagnostic', 'diffusion', 'reid', 'vae']);
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
