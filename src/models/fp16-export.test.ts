import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toDisplay, readGreyPixels } from '../anonymizer/pixel/grey-pixels.js';
import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import { SdInpaintPipeline } from '../anonymizer/pixel/sd-inpaint-pipeline.js';
import { iou, YoloDetector, type Detection } from '../anonymizer/pixel/yolo-detector.js';
import { readPart10 } from '../dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../phantoms/generate.js';
import { parseLabels } from '../phantoms/labels.js';
import { checkInputData, compareSamples, readModelManifest, verifyModelFiles } from '../train/model-manifest.js';
import { runTrainPython } from '../../test/support/external-tools.js';
import { REPO_ROOT } from '../../test/support/repo-paths.js';
import { openModelFolder } from './index.js';

/**
 * The same loaders run fp32 and fp16 exports. The fp16 exports are made here from the shipped fp32 demo models by
 * src/train/python/anofair_models/fp16_export.py (float16 weights and graph I/O, float32 compute inside, so that
 * the CPU provider runs them) and must give what the fp32 models give, within float16's precision.
 */

const DEMO = join(REPO_ROOT, 'models', 'demo');
const COMPONENTS = ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_encoder/model.onnx', 'vae_decoder/model.onnx'];

function convert(src: string, out: string): Record<string, { float16_inputs: string[]; float16_outputs: string[]; float16_weights: number }> {
  return JSON.parse(runTrainPython(['-m', 'anofair_models.fp16_export', src, out]).toString('utf8')) as Record<string, { float16_inputs: string[]; float16_outputs: string[]; float16_weights: number }>;
}

/** Element types of the initializers of an ONNX file (counted by python3-onnx, not by us). */
function initializerTypes(file: string): Record<string, number> {
  return JSON.parse(
    runTrainPython(['-c', 'import sys,json,collections,onnx\nm=onnx.load(sys.argv[1])\nprint(json.dumps(collections.Counter(onnx.TensorProto.DataType.Name(t.data_type) for t in m.graph.initializer)))', file]).toString('utf8'),
  ) as Record<string, number>;
}

describe('fp16 exports (fp16_export.py) through the same loaders as fp32', () => {
  let dir: string;
  let detectorFp16: string;
  let inpaintFp16: string;
  let images: GreyImage[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-fp16-'));
    detectorFp16 = join(dir, 'detector');
    inpaintFp16 = join(dir, 'inpaint');
    convert(join(DEMO, 'detector'), detectorFp16);
    convert(join(DEMO, 'inpaint'), inpaintFp16);
    const ph = join(dir, 'phantoms');
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: ph, patients: 3, seed: 'fp16-test', burnedInShare: 0.5, normalShare: 0, force: false });
    images = parseLabels(readFileSync(join(ph, 'labels.jsonl'), 'utf8')).map((l) => toDisplay(readGreyPixels(readPart10(readFileSync(join(ph, l.file))).dataset)));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores every float weight as float16 (about half the bytes) and declares the float inputs and outputs float16; ids stay int64', async () => {
    for (const [folder, files] of [[detectorFp16, ['model.onnx']], [inpaintFp16, COMPONENTS]] as const) {
      const src = folder === detectorFp16 ? join(DEMO, 'detector') : join(DEMO, 'inpaint');
      for (const file of files) {
        const ratio = statSync(join(folder, file)).size / statSync(join(src, file)).size;
        assert.ok(ratio > 0.45 && ratio < 0.6, `${file}: ${ratio.toFixed(3)} of the fp32 size`);
        const types = initializerTypes(join(folder, file));
        assert.equal(types.FLOAT ?? 0, 0, `${file}: no float32 initializer left (${JSON.stringify(types)})`);
        assert.ok((types.FLOAT16 ?? 0) > 10, `${file}: float16 initializers`);
      }
    }
    const detector = openModelFolder(detectorFp16);
    const d = await detector.open('model.onnx');
    assert.deepEqual(d.inputs.map((i) => [i.name, i.type]), [['images', 'float16']]);
    assert.deepEqual(d.outputs.map((o) => [o.name, o.type]), [['output0', 'float16']]);
    await d.release();
    const unet = await openModelFolder(inpaintFp16).open('unet/model.onnx');
    assert.deepEqual(unet.inputs.map((i) => [i.name, i.type]), [['sample', 'float16'], ['timestep', 'float16'], ['encoder_hidden_states', 'float16']]);
    assert.deepEqual(unet.outputs.map((o) => [o.name, o.type]), [['out_sample', 'float16']]);
    await unet.release();
    const text = await openModelFolder(inpaintFp16).open('text_encoder/model.onnx');
    assert.deepEqual(text.inputs.map((i) => [i.name, i.type]), [['input_ids', 'int64']]);
    assert.equal(text.output('last_hidden_state')?.type, 'float16');
    await text.release();
  });

  it('rewrites the manifest: float16 declared I/O, "precision": "float16", sha256 of the new files', async () => {
    for (const folder of [detectorFp16, inpaintFp16]) {
      const manifest = readModelManifest(folder);
      assert.equal((manifest as { precision?: string }).precision, 'float16');
      assert.deepEqual(await verifyModelFiles(folder, manifest), [], folder);
      for (const c of manifest.models) for (const v of [...c.inputs, ...c.outputs]) assert.ok(v.dtype === 'float16' || v.dtype === 'int64', `${c.file} ${v.name}: ${v.dtype}`);
    }
  });

  it('reproduces the outputs PyTorch recorded for the fp32 exports, within the fp16 tolerance the manifest states', async () => {
    for (const folder of [detectorFp16, inpaintFp16]) {
      const models = openModelFolder(folder);
      for (const component of models.manifest!.models) {
        const model = await models.open(component.file);
        try {
          for (const check of component.checks) {
            assert.ok(check.atol <= 0.01 && check.rtol <= 0.01, `${component.file}: tolerance ${check.atol}/${check.rtol}`);
            const feeds = Object.fromEntries(check.inputs.map((i) => [i.name, { data: checkInputData(i), dims: i.shape }]));
            const out = await model.run(feeds);
            for (const [name, expected] of Object.entries(check.outputs)) {
              assert.deepEqual(out[name]!.dims, expected.shape);
              assert.deepEqual(compareSamples(out[name]!.data, expected, check.atol, check.rtol), [], `${component.file}: ${name}`);
            }
          }
        } finally {
          await model.release();
        }
      }
    }
  });

  it('the fp16 detector finds what the fp32 detector finds: same classes, boxes within IoU 0.9, scores within 0.02', async () => {
    const fp32 = await YoloDetector.load(join(DEMO, 'detector'));
    const fp16 = await YoloDetector.load(detectorFp16);
    try {
      assert.deepEqual(fp16.classes, fp32.classes);
      assert.deepEqual(fp16.textClasses, ['text']);
      let compared = 0;
      for (const img of images) {
        const a = await fp32.detect(img);
        const b = await fp16.detect(img);
        // detections near the confidence threshold may appear in one and not the other: compare the clear ones
        const clear = (d: Detection): boolean => d.score > 0.35;
        for (const d of a.filter(clear)) {
          const m = b.find((e) => e.className === d.className && iou(e.box, d.box) > 0.9);
          assert.ok(m, `${d.className} ${d.score.toFixed(3)} at ${d.box.map(Math.round).join(',')} found in fp16 too`);
          assert.ok(Math.abs(m.score - d.score) < 0.02, `${d.className}: score ${d.score} vs ${m.score}`);
          compared++;
        }
        for (const e of b.filter(clear)) assert.ok(a.some((d) => d.className === e.className && iou(e.box, d.box) > 0.9), `fp16 ${e.className} found in fp32 too`);
      }
      assert.ok(compared >= images.length, `${compared} detections compared over ${images.length} images`);
    } finally {
      await Promise.all([fp32.release(), fp16.release()]);
    }
  });

  it('the fp16 inpainting pipeline gives the fp32 image from the same seed (mean |difference| < 0.005), its kept pixels exact', async () => {
    const fp32 = await SdInpaintPipeline.load(join(DEMO, 'inpaint'));
    const fp16 = await SdInpaintPipeline.load(inpaintFp16);
    try {
      assert.equal(fp32.timestepType, 'float32');
      assert.equal(fp16.timestepType, 'float16', 'the timestep type comes from the UNet\'s declared input');
      assert.equal(fp16.imageSize, fp32.imageSize);
      const img = images[0]!;
      assert.equal(img.width, 256);
      const mask = new Float32Array(256 * 256).fill(1);
      for (let y = 90; y < 160; y++) for (let x = 60; x < 130; x++) mask[y * 256 + x] = 0;
      const input = { image: img.data, width: 256, height: 256, mask, prompt: 'A chest X-ray showing Effusion.', seed: 'fp16', steps: 12 };
      const a = await fp32.inpaint(input);
      const b = await fp16.inpaint(input);
      let sum = 0;
      let worst = 0;
      for (let i = 0; i < a.generated.length; i++) {
        const d = Math.abs(a.generated[i]! - b.generated[i]!);
        sum += d;
        worst = Math.max(worst, d);
      }
      const mean = sum / a.generated.length;
      assert.ok(mean < 0.005, `mean |difference| ${mean} (largest ${worst})`);
      for (let i = 0; i < mask.length; i++) if (mask[i]! < 0.5) assert.equal(b.image[i], img.data[i]);
      const text = await fp16.encodePrompt('A chest X-ray showing Effusion.');
      assert.ok(text instanceof Float32Array && text.length === 77 * 64, 'float16 hidden states read back as float32');
    } finally {
      await Promise.all([fp32.release(), fp16.release()]);
    }
  });
});
