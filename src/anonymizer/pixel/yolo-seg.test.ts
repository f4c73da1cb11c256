import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTrainPython } from '../../../test/support/external-tools.js';
import { REPO_ROOT } from '../../../test/support/repo-paths.js';
import { anonymizeRadiograph } from './cxr-anofair.js';
import type { GreyPixels } from './grey-pixels.js';
import { DEFAULT_KEEP_POLICY, keepMask, planKeptRegions } from './kept-regions.js';
import { SdInpaintPipeline } from './sd-inpaint-pipeline.js';
import { YoloDetector } from './yolo-detector.js';

/**
 * A YOLOv8-seg export in ultralytics' layout, its answers fixed (Constant outputs): output0 [1, 4 + 3 + 32, 3]
 * and output1 [1, 32, 16, 16] for a 64x64 input. Candidate 0: a nodule box (12..36 on both axes) whose mask is
 * the disc of radius 8 around (24, 24); candidate 1: a wire (20..28) inside it; candidate 2: nothing.
 */
const SEG_MODEL = `
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
S, NC, K, N = 64, 3, 32, 3
out0 = np.zeros((1, 4 + NC + K, N), np.float32)
out0[0, :4, 0] = [24, 24, 24, 24]; out0[0, 4, 0] = 0.9; out0[0, 4 + NC, 0] = 1.0
out0[0, :4, 1] = [24, 24, 8, 8]; out0[0, 6, 1] = 0.8
proto = np.full((1, K, S // 4, S // 4), 0.0, np.float32)
yy, xx = np.mgrid[0:S // 4, 0:S // 4]
# prototype pixel (i, j) stands for input pixel centre 4 j + 2: inside the disc +5, outside -5
proto[0, 0] = np.where(((4 * xx + 2 - 24) ** 2 + (4 * yy + 2 - 24) ** 2) <= 64, 5.0, -5.0)
nodes = [helper.make_node('Constant', [], ['output0'], value=numpy_helper.from_array(out0)),
         helper.make_node('Constant', [], ['output1'], value=numpy_helper.from_array(proto))]
g = helper.make_graph(nodes, 'seg', [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, S, S])],
                      [helper.make_tensor_value_info('output0', TensorProto.FLOAT, [1, 4 + NC + K, N]),
                       helper.make_tensor_value_info('output1', TensorProto.FLOAT, [1, K, S // 4, S // 4])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]); m.ir_version = 8
m.metadata_props.add(key='names', value="{0: 'nodule', 1: 'text', 2: 'wire'}")
onnx.save(m, sys.argv[1])
`;

const inDisc = (x: number, y: number): boolean => (x + 0.5 - 24) ** 2 + (y + 0.5 - 24) ** 2 <= 64;

describe('a YOLOv8-seg detector: only the lesion is kept, identifying objects never', () => {
  let dir: string;
  let detector: YoloDetector;
  const image = { data: new Float32Array(64 * 64).fill(0.5), width: 64, height: 64 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-seg-'));
    const file = join(dir, 'model.onnx');
    writeFileSync(join(dir, 'build.py'), SEG_MODEL);
    runTrainPython([join(dir, 'build.py'), file]);
    detector = await YoloDetector.load(file);
  });
  after(async () => {
    await detector?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the export's mask coefficients and prototypes: the mask is the disc inside the box, as ultralytics computes it", async () => {
    assert.equal(detector.describe().segmentation, true);
    assert.deepEqual(detector.classes, ['nodule', 'text', 'wire']);
    const found = await detector.detect(image);
    const nodule = found.find((d) => d.className === 'nodule')!;
    assert.deepEqual(nodule.box, [12, 12, 36, 36]);
    const mask = nodule.mask!;
    assert.deepEqual(mask.box, [12, 12, 36, 36]);
    let agree = 0;
    let inside = 0;
    for (let y = 12; y < 36; y++) {
      for (let x = 12; x < 36; x++) {
        const m = mask.data[(y - 12) * 24 + (x - 12)]!;
        inside += m;
        if (m === (inDisc(x, y) ? 1 : 0)) agree++;
      }
    }
    // the prototypes are at a quarter of the resolution: the edge of the disc is a pixel or two off
    assert.ok(agree / 576 > 0.9, `mask agrees with the disc on ${agree} of 576 pixels`);
    assert.ok(inside > 150 && inside < 260, `mask keeps ${inside} pixels (disc: ~201, box: 576)`);
    assert.equal(mask.data[12 * 24 + 12], 1, 'the centre is the lesion');
    assert.equal(mask.data[0], 0, "the box's corner is not");
    assert.ok(found.some((d) => d.className === 'wire'));
  });

  it('keeps the lesion and not its box, regenerates the wire inside it, and records both without pixels', async () => {
    const found = await detector.detect(image);
    const plan = planKeptRegions(found, { keep: new Set(['nodule']), text: new Set(['text']), identifying: new Set(['wire']) }, DEFAULT_KEEP_POLICY, 64, 64);
    assert.equal(plan.kept.length, 1);
    assert.equal(plan.kept[0]!.shape, 'mask');
    assert.ok(plan.kept[0]!.maskShare! < 0.5, `mask share of the (margin-expanded) box ${plan.kept[0]!.maskShare}`);
    assert.deepEqual(plan.identifying.map((o) => o.className), ['wire']);
    const keep = keepMask(plan, 1, 1, 64, 64);
    assert.equal(keep[24 * 64 + 24], 0, 'the wire is regenerated even inside the lesion');
    assert.equal(keep[24 * 64 + 17], 1, 'lesion pixel outside the wire box (20..28 plus a 2 px margin)');
    assert.equal(keep[13 * 64 + 13], 0, "the box's corner is not the lesion");
    const kept = keep.reduce((a, b) => a + b, 0);
    assert.ok(kept < 260 - 100 + 10, `kept ${kept} pixels: the disc less the wire's box`);
    // at the model's size (4x) the same pixels are kept, scaled
    const big = keepMask(plan, 4, 4, 256, 256);
    assert.equal(big[(24 * 4 + 1) * 256 + 17 * 4 + 1], 1);
    assert.equal(big[(13 * 4 + 1) * 256 + 13 * 4 + 1], 0);
    assert.equal(big[(24 * 4 + 1) * 256 + 24 * 4 + 1], 0);
    assert.doesNotMatch(JSON.stringify({ kept: plan.kept, identifying: plan.identifying }), /data/, 'the plan\'s record part carries no mask pixels');
  });

  it('through the whole pixel step: the lesion released exactly, the rest of its box and the wire regenerated; a class the prompt cannot name is never kept', async () => {
    const inpainter = await SdInpaintPipeline.load(join(REPO_ROOT, 'models', 'demo', 'inpaint'));
    try {
      const stored = new Int32Array(64 * 64);
      for (let i = 0; i < stored.length; i++) stored[i] = 1000 + ((i * 7919) % 97);
      const px: GreyPixels = { stored, columns: 64, rows: 64, bitsStored: 12, bitsAllocated: 16, signed: false, slope: 1, intercept: 0, monochrome1: false, window: { center: 2048, width: 4096 } };
      const { stored: out, record } = await anonymizeRadiograph(px, { detector, inpainter }, { seed: 'seg-test', modelSize: 256, steps: 2 });
      assert.deepEqual(record.kept.map((k) => [k.finding, k.shape]), [['nodule', 'mask']]);
      assert.deepEqual(record.identifyingRegions.map((o) => o.className), ['wire']);
      const keep = keepMask({ kept: record.kept, masks: [(await detector.detect({ data: new Float32Array(64 * 64).fill(0.5), width: 64, height: 64 })).find((d) => d.className === 'nodule')!.mask], text: record.textRegions, identifying: record.identifyingRegions }, 1, 1, 64, 64);
      let exact = 0;
      let keptCount = 0;
      let changedOutside = 0;
      for (let i = 0; i < out.length; i++) {
        if (keep[i]) {
          keptCount++;
          if (out[i] === stored[i]) exact++;
        } else if (out[i] !== stored[i]) changedOutside++;
      }
      assert.ok(keptCount > 50);
      assert.equal(exact, keptCount, 'every lesion pixel released exactly');
      assert.ok(changedOutside > 0.95 * (out.length - keptCount), `regenerated: ${changedOutside} of ${out.length - keptCount}`);
      assert.notEqual(out[24 * 64 + 24], stored[24 * 64 + 24], 'the wire inside the lesion is regenerated');
      assert.notEqual(out[13 * 64 + 13], stored[13 * 64 + 13], "the box's corner is regenerated");
    } finally {
      await inpainter.release();
    }
  });
});
