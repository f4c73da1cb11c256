import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AnofairError } from '../errors/anofair-error.js';
import { SdInpaintPipeline } from '../anonymizer/pixel/sd-inpaint-pipeline.js';
import { YoloDetector } from '../anonymizer/pixel/yolo-detector.js';
import { runTrainPython } from '../../test/support/external-tools.js';
import { REPO_ROOT } from '../../test/support/repo-paths.js';
import { cudaProviderInstall, loadModel, OnnxModel, openModelFolder, parseClassNames, parseImageSize, readOnnxFileInfo } from './index.js';

const DEMO = join(REPO_ROOT, 'models', 'demo');
const DETECTOR = join(DEMO, 'detector', 'model.onnx');

const isCode = (code: string, pattern?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof AnofairError, `an AnofairError, not ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (pattern) assert.match(e.message, pattern);
  assert.doesNotMatch(e.message, /\n\s+at /, 'no stack in the message');
  return true;
};

/** Writes metadata_props into a copy of an ONNX file, as ultralytics does for names/imgsz/stride/task. */
function withMetadata(src: string, dst: string, props: Record<string, string>): void {
  runTrainPython(['-c', 'import sys,json,onnx\nm=onnx.load(sys.argv[1])\nfor k,v in json.loads(sys.argv[3]).items():\n  e=m.metadata_props.add(); e.key=k; e.value=v\nonnx.save(m,sys.argv[2])', src, dst, JSON.stringify(props)]);
}

describe('the model runtime (src/models): opening an ONNX model', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-models-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('opens an .onnx file on the CPU by default, with one intra-op thread, and describes it for logs and /status', async () => {
    const model = await OnnxModel.open(DETECTOR);
    try {
      const d = model.describe();
      assert.equal(d.path, DETECTOR);
      assert.equal(d.provider, 'cpu');
      assert.deepEqual(d.requested, ['cpu']);
      assert.deepEqual(d.fallbacks, []);
      assert.deepEqual(d.inputs, [{ name: 'images', type: 'float32', shape: ['batch', 3, 256, 256] }]);
      assert.deepEqual(d.outputs, [{ name: 'output0', type: 'float32', shape: ['batch', 11, 1344] }]);
      assert.equal(d.intraOpNumThreads, 1);
      assert.equal(d.graphOptimizationLevel, 'all');
      assert.equal(d.warmUpMs, undefined, 'no warm-up unless asked for');
      assert.doesNotThrow(() => JSON.stringify(d));
    } finally {
      await model.release();
    }
  });

  it('takes session options from the settings and refuses values out of range (CONFIG_INVALID naming the field)', async () => {
    const model = await OnnxModel.open(DETECTOR, { intraOpNumThreads: 2, graphOptimizationLevel: 'basic' });
    assert.equal(model.describe().intraOpNumThreads, 2);
    assert.equal(model.describe().graphOptimizationLevel, 'basic');
    await model.release();
    await assert.rejects(OnnxModel.open(DETECTOR, { intraOpNumThreads: 0 }), isCode('CONFIG_INVALID', /intraOpNumThreads/));
    await assert.rejects(OnnxModel.open(DETECTOR, { executionProviders: ['tensorrt' as 'cuda'] }), isCode('CONFIG_INVALID', /unknown provider "tensorrt"/));
    await assert.rejects(OnnxModel.open(DETECTOR, { executionProviders: [] }), isCode('CONFIG_INVALID', /at least one/));
  });

  it('builds inputs in the declared types and reads outputs back as float32 (int64 ids from numbers)', async () => {
    const text = await OnnxModel.open(join(DEMO, 'inpaint', 'text_encoder', 'model.onnx'));
    try {
      assert.equal(text.input('input_ids')?.type, 'int64');
      const ids = [49406, ...Array<number>(75).fill(0), 49407];
      const out = await text.run({ input_ids: { data: ids, dims: [1, 77] } });
      assert.deepEqual(out.last_hidden_state!.dims, [1, 77, 64]);
      assert.ok(out.last_hidden_state!.data instanceof Float32Array);
      assert.equal(out.last_hidden_state!.type, 'float32');
      assert.throws(() => text.tensor('nope', [1], [1]), isCode('MODEL_INVALID', /has no input nope \(inputs: input_ids\)/));
    } finally {
      await text.release();
    }
  });

  it('warms up only when asked: one run on zeros of the declared shapes, dynamic dims from the values given', async () => {
    const model = await OnnxModel.open(DETECTOR, { warmUp: true }, { warmUpDims: { batch: 1 } });
    assert.equal(typeof model.describe().warmUpMs, 'number');
    assert.deepEqual(model.warmUpShape('images', { warmUpDims: { batch: 2 } }), [2, 3, 256, 256]);
    await model.release();
    // the UNet: every input, its symbolic dims given by the pipeline (latents 32x32, 2 guidance rows, 77 tokens)
    const pipeline = await SdInpaintPipeline.load(join(DEMO, 'inpaint'), { runtime: { warmUp: true } });
    try {
      for (const c of Object.values(pipeline.describe().components)) assert.equal(typeof c.warmUpMs, 'number', c.path);
    } finally {
      await pipeline.release();
    }
    // shapes the model cannot run: the warm-up says so, as a model problem naming the file
    await assert.rejects(
      OnnxModel.open(join(DEMO, 'inpaint', 'unet', 'model.onnx'), { warmUp: true }, { warmUpShapes: { sample: [1, 9, 5, 3], timestep: [1], encoder_hidden_states: [1, 77, 64] } }),
      isCode('MODEL_INVALID', /unet\/model\.onnx: the warm-up run on zeros \(sample \[1, 9, 5, 3\]/),
    );
  });

  it('falls back from cuda to the next provider in the list and records why (on this CPU-only host: the CUDA provider is not installed)', async () => {
    const model = await OnnxModel.open(DETECTOR, { executionProviders: ['cuda', 'cpu'] });
    try {
      const d = model.describe();
      assert.deepEqual(d.requested, ['cuda', 'cpu']);
      const { missing, folder } = cudaProviderInstall();
      if (missing.length > 0) {
        // an install with onnxruntime-node-install=skip (.npmrc): the provider libraries are not there
        assert.equal(d.provider, 'cpu');
        assert.equal(d.fallbacks.length, 1);
        assert.equal(d.fallbacks[0]!.provider, 'cuda');
        assert.match(d.fallbacks[0]!.reason, /CUDA provider libraries are not installed/);
        assert.ok(d.fallbacks[0]!.reason.includes(folder), 'names the folder they belong in');
        assert.match(d.fallbacks[0]!.reason, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
      } else {
        // a cuda12 install: CUDA, or the CPU with the reason CUDA could not be had
        assert.ok(d.provider === 'cuda' ? d.fallbacks.length === 0 : d.fallbacks[0]?.provider === 'cuda' && d.fallbacks[0].reason.length > 0);
      }
      // the model runs on the provider it got
      const out = await model.run({ images: { data: new Float32Array(3 * 256 * 256), dims: [1, 3, 256, 256] } });
      assert.deepEqual(out.output0!.dims, [1, 11, 1344]);
    } finally {
      await model.release();
    }
  });

  it('refuses to fall back when requireGpu is set: MODEL_PROVIDER with the reason, through the detector and the pipeline too', async () => {
    const { missing } = cudaProviderInstall();
    const runtime = { executionProviders: ['cuda', 'cpu'] as ('cuda' | 'cpu')[], requireGpu: true };
    if (missing.length > 0) {
      await assert.rejects(OnnxModel.open(DETECTOR, runtime), isCode('MODEL_PROVIDER', /requireGpu is set and the CUDA execution provider cannot be used: the CUDA provider libraries are not installed .*docs\/GPU\.md/));
      await assert.rejects(YoloDetector.load(join(DEMO, 'detector'), { runtime }), isCode('MODEL_PROVIDER'));
      await assert.rejects(SdInpaintPipeline.load(join(DEMO, 'inpaint'), { runtime }), isCode('MODEL_PROVIDER', /text_encoder\/model\.onnx/));
      // cuda alone, without requireGpu: nothing to fall back to is a provider problem too, not a broken model
      await assert.rejects(OnnxModel.open(DETECTOR, { executionProviders: ['cuda'] }), isCode('MODEL_PROVIDER', /none of the execution providers \[cuda\] can be used/));
    } else {
      await OnnxModel.open(DETECTOR, runtime).then(
        async (m) => {
          assert.equal(m.provider, 'cuda');
          await m.release();
        },
        (e: unknown) => isCode('MODEL_PROVIDER')(e),
      );
    }
    // requireGpu with a list that cannot give a GPU is a contradiction, refused before anything is tried
    await assert.rejects(OnnxModel.open(DETECTOR, { executionProviders: ['cpu'], requireGpu: true }), isCode('MODEL_PROVIDER', /does not include cuda/));
  });

  it('refuses a folder without model.onnx, a missing file and a file that is not ONNX: MODEL_INVALID naming the path', async () => {
    const empty = join(dir, 'empty-detector');
    mkdirSync(empty);
    await assert.rejects(loadModel(empty), isCode('MODEL_INVALID', new RegExp(`${join(empty, 'model.onnx').replace(/[/.]/g, '\\$&')} is missing`)));
    await assert.rejects(YoloDetector.load(empty), isCode('MODEL_INVALID', /empty-detector\/model\.onnx is missing/));
    await assert.rejects(OnnxModel.open(join(dir, 'nothing.onnx')), isCode('MODEL_INVALID', /nothing\.onnx: not found/));
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'this is not a protobuf message at all\n');
    await assert.rejects(OnnxModel.open(junk), isCode('MODEL_INVALID', /junk\.onnx: is not an ONNX model/));
    assert.throws(() => openModelFolder(join(dir, 'no-such-folder')), isCode('MODEL_INVALID', /model folder .*no-such-folder not found/));
  });

  it('checks a model folder\'s manifest against the model: an fp16 file under an fp32 manifest is refused', async () => {
    const ok = await loadModel(join(DEMO, 'detector'));
    assert.equal(ok.folder.manifest?.name, 'detector');
    await ok.model.release();
    const stale = join(dir, 'stale-detector');
    cpSync(join(DEMO, 'detector'), stale, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(stale, 'manifest.json'), 'utf8')) as { models: { inputs: { dtype: string }[] }[] };
    manifest.models[0]!.inputs[0]!.dtype = 'float16';
    writeFileSync(join(stale, 'manifest.json'), JSON.stringify(manifest));
    await assert.rejects(loadModel(stale), isCode('MODEL_INVALID', /manifest\.json declares input "images" as float16, the model as float32/));
    writeFileSync(join(stale, 'manifest.json'), '{"manifest_version": 1}');
    await assert.rejects(loadModel(stale), isCode('MODEL_INVALID', /manifest\.json: /));
  });

  it('reads an ONNX file\'s own metadata (producer, opsets, metadata_props) without loading its graph', () => {
    const info = readOnnxFileInfo(DETECTOR);
    assert.equal(info.producerName, 'pytorch');
    assert.equal(info.opsets[''], 17);
    assert.deepEqual(info.metadata, {});
    assert.deepEqual(parseClassNames("{0: 'person', 1: \"it's\", 2: 'traffic light'}"), ['person', "it's", 'traffic light']);
    assert.deepEqual(parseClassNames('{"0": "a", "1": "b"}'), ['a', 'b']);
    assert.equal(parseClassNames('{1: "gap"}'), undefined);
    assert.deepEqual(parseImageSize('[640, 640]'), [640, 640]);
  });
});

describe('a real YOLOv8 export without our manifest (ultralytics metadata in the ONNX file)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-yolo-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads with the class names, image size and text classes from its metadata', async () => {
    const file = join(dir, 'best.onnx');
    const names = ['nodule', 'mass', 'effusion', 'cardiomegaly', 'consolidation', 'pneumothorax', 'text'];
    withMetadata(DETECTOR, file, { names: `{${names.map((n, i) => `${i}: '${n}'`).join(', ')}}`, imgsz: '[256, 256]', stride: '32', task: 'detect' });
    const detector = await YoloDetector.load(file);
    try {
      assert.deepEqual(detector.classes, names);
      assert.deepEqual(detector.textClasses, ['text']);
      assert.equal(detector.inputSize, 256);
      assert.equal(detector.provider, 'cpu');
      assert.equal(detector.describe().path, file);
    } finally {
      await detector.release();
    }
  });

  it('a detector without a text class loads, with no text classes; one without any names is refused, saying where names come from', async () => {
    const sub = join(dir, 'vindr');
    mkdirSync(sub);
    const names = ['aortic enlargement', 'atelectasis', 'calcification', 'cardiomegaly', 'consolidation', 'ild', 'infiltration'];
    withMetadata(DETECTOR, join(sub, 'model.onnx'), { names: JSON.stringify(Object.fromEntries(names.map((n, i) => [String(i), n]))) });
    const detector = await YoloDetector.load(sub);
    assert.deepEqual(detector.classes, names);
    assert.deepEqual(detector.textClasses, []);
    await detector.release();
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    copyFileSync(DETECTOR, join(bare, 'model.onnx'));
    await assert.rejects(YoloDetector.load(bare), isCode('MODEL_INVALID', /no class names \(no manifest\.json with "names", no "names" in the ONNX metadata/));
    const withNames = await YoloDetector.load(bare, { classes: names, textClasses: [] });
    assert.deepEqual(withNames.textClasses, []);
    await withNames.release();
    await assert.rejects(YoloDetector.load(bare, { classes: names, textClasses: ['text'] }), isCode('CONFIG_INVALID', /text classes text are not among/));
  });
});
