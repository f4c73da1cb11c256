import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { checkInputData, compareSamples, readModelManifest, verifyModelFiles, type ModelComponent } from './model-manifest.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const DEMO = join(ROOT, 'models', 'demo');
const EXPECTED = ['attributes', 'detector', 'diagnostic', 'inpaint', 'reid'];

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

async function runChecks(folder: string, component: ModelComponent): Promise<void> {
  const session = await ort.InferenceSession.create(join(folder, component.file));
  try {
    assert.deepEqual([...session.inputNames], component.inputs.map((i) => i.name), `${component.file}: input names`);
    assert.deepEqual([...session.outputNames], component.outputs.map((o) => o.name), `${component.file}: output names`);
    for (const declared of component.inputs) {
      const meta = session.inputMetadata.find((m) => m.name === declared.name);
      assert.ok(meta?.isTensor, `${component.file}: ${declared.name} is a tensor`);
      assert.equal(meta.type, declared.dtype, `${component.file}: ${declared.name} dtype`);
      assert.deepEqual([...meta.shape], declared.shape, `${component.file}: ${declared.name} shape`);
    }
    assert.ok(component.checks.length > 0, `${component.file} has recorded checks`);
    for (const check of component.checks) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const input of check.inputs) feeds[input.name] = new ort.Tensor(input.dtype, checkInputData(input), input.shape);
      const results = await session.run(feeds);
      for (const [name, expected] of Object.entries(check.outputs)) {
        const tensor = results[name];
        assert.ok(tensor, `${component.file}: output ${name} produced`);
        assert.deepEqual([...tensor.dims], expected.shape, `${component.file}: ${name} shape`);
        const bad = compareSamples(tensor.data as Float32Array, expected, check.atol, check.rtol);
        assert.deepEqual(bad, [], `${component.file}: ${name} reproduces the values recorded at export`);
      }
    }
  } finally {
    await session.release();
  }
}

describe('shipped demo models (models/demo)', () => {
  it('holds the five models, together under 40 MB', () => {
    for (const name of EXPECTED) assert.ok(existsSync(join(DEMO, name, 'manifest.json')), `models/demo/${name}/manifest.json exists`);
    assert.ok(folderBytes(DEMO) < 40 * 1024 * 1024, `models/demo is ${(folderBytes(DEMO) / 1048576).toFixed(1)} MB`);
  });

  for (const name of EXPECTED) {
    describe(name, () => {
      const folder = join(DEMO, name);

      it('has a valid manifest whose sha256 match every file, and lists every file of the folder', async () => {
        const manifest = readModelManifest(folder);
        assert.equal(manifest.name, name);
        assert.deepEqual(await verifyModelFiles(folder, manifest), []);
        const onDisk = (dir: string, prefix = ''): string[] =>
          readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? onDisk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
          );
        assert.deepEqual(onDisk(folder).filter((f) => f !== 'manifest.json').sort(), Object.keys(manifest.files).sort());
      });

      it('loads in onnxruntime-node with the declared inputs and outputs and reproduces the recorded outputs', async () => {
        const manifest = readModelManifest(folder);
        for (const component of manifest.models) await runChecks(folder, component);
      });

      it('was trained on the full phantom set and records held-out metrics', () => {
        const manifest = readModelManifest(folder);
        assert.notEqual(manifest.data.smoke, true, 'not a --smoke build');
        assert.ok(Object.keys(manifest.metrics).length > 0);
      });
    });
  }

  it('detector output0 has the YOLOv8 layout [B, 4 + nc, N] for 256x256 input', () => {
    const m = readModelManifest(join(DEMO, 'detector'));
    const out = m.models[0]!.outputs[0]!;
    assert.equal(out.name, 'output0');
    assert.deepEqual(out.shape.slice(1), [4 + m.classes.length, (256 / 8) ** 2 + (256 / 16) ** 2 + (256 / 32) ** 2]);
    assert.deepEqual(m.classes, ['nodule', 'mass', 'effusion', 'cardiomegaly', 'consolidation', 'pneumothorax', 'text']);
  });

  it('inpaint folder has the layout of an optimum export of stable-diffusion-2-inpainting', () => {
    const folder = join(DEMO, 'inpaint');
    for (const f of ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_encoder/model.onnx',
      'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer/special_tokens_map.json', 'tokenizer/tokenizer_config.json']) {
      assert.ok(existsSync(join(folder, f)), f);
    }
    const m = readModelManifest(folder);
    const byFile = Object.fromEntries(m.models.map((c) => [c.file, c]));
    assert.deepEqual(byFile['unet/model.onnx']!.inputs.map((i) => i.name), ['sample', 'timestep', 'encoder_hidden_states']);
    assert.equal(byFile['unet/model.onnx']!.inputs[0]!.shape[1], 9);
    assert.deepEqual(byFile['text_encoder/model.onnx']!.inputs[0], { name: 'input_ids', dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
    assert.equal(byFile['vae_encoder/model.onnx']!.outputs[0]!.name, 'latent_parameters');
    assert.equal(byFile['vae_decoder/model.onnx']!.inputs[0]!.name, 'latent_sample');
    const vocab = JSON.parse(readFileSync(join(folder, 'tokenizer/vocab.json'), 'utf8')) as Record<string, number>;
    assert.equal(vocab['<|startoftext|>'], 49406);
    assert.equal(vocab['<|endoftext|>'], 49407);
    assert.equal(vocab['!'], 0);
    const scheduler = JSON.parse(readFileSync(join(folder, 'scheduler/scheduler_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(scheduler.num_train_timesteps, 1000);
    assert.equal(scheduler.prediction_type, 'epsilon');
  });

  it('a model folder whose file was altered fails verification', async () => {
    const manifest = readModelManifest(join(DEMO, 'attributes'));
    const tampered = { ...manifest, files: { ...manifest.files, 'model.onnx': { ...manifest.files['model.onnx']!, sha256: '0'.repeat(64) } } };
    const problems = await verifyModelFiles(join(DEMO, 'attributes'), tampered);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /model\.onnx: sha256 .* does not match/);
  });
});
