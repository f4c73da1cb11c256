import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPart10 } from '../../dicom/part10.js';
import { AnofairError } from '../../errors/anofair-error.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../../phantoms/generate.js';
import { parseLabels, type ImageLabel } from '../../phantoms/labels.js';
import { runTrainPython } from '../../../test/support/external-tools.js';
import { REPO_ROOT } from '../../../test/support/repo-paths.js';
import { anonymizeRadiograph, promptConfigOf, promptFor, widenedToValues, type AnofairModels } from './cxr-anofair.js';
import { fromDisplay, readGreyPixels, toDisplay, type GreyPixels } from './grey-pixels.js';
import { maskFromGrain } from '../../evaluation/kept-mask-from-grain.js';
import { keepMask } from './kept-regions.js';
import { resizeGrey } from './image-resize.js';
import { SdInpaintPipeline } from './sd-inpaint-pipeline.js';
import { iou, YoloDetector } from './yolo-detector.js';

const DEMO = join(REPO_ROOT, 'models', 'demo');

interface Phantom {
  label: ImageLabel;
  path: string;
  px: GreyPixels;
}

/** Phantoms the models never saw (another seed), a share with burned-in text, at 256 and at 512 pixels. */
async function phantoms(dir: string, size: number, patients: number): Promise<Phantom[]> {
  const out = join(dir, `size-${size}`);
  await generatePhantoms({ ...DEFAULT_OPTIONS, out, patients, seed: `pixel-test-${size}`, size, burnedInShare: 0.5, normalShare: 0.2, force: false });
  return parseLabels(readFileSync(join(out, 'labels.jsonl'), 'utf8')).map((label) => {
    const path = join(out, label.file);
    return { label, path, px: readGreyPixels(readPart10(readFileSync(path)).dataset) };
  });
}

function insideAny(x: number, y: number, boxes: readonly (readonly number[])[]): boolean {
  return boxes.some((b) => x >= b[0]! && x < b[2]! && y >= b[1]! && y < b[3]!);
}

describe('pixel anonymization of chest radiographs (CXR-AnoFAIR, demo models)', () => {
  let dir: string;
  let small: Phantom[];
  let large: Phantom[];
  let models: AnofairModels;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anofair-pixel-'));
    small = await phantoms(dir, 256, 6);
    large = await phantoms(dir, 512, 1);
    models = { detector: await YoloDetector.load(join(DEMO, 'detector')), inpainter: await SdInpaintPipeline.load(join(DEMO, 'inpaint')) };
  });
  after(async () => {
    await models?.detector.release();
    await models?.inpainter.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('display rendering of the stored values', () => {
    it('is the rendering the models were trained on (the Python builder\'s display01, read by pydicom)', () => {
      const chosen = small.slice(0, 4);
      // one interpreter for all files: importing torch is the slow part
      const out = runTrainPython(['-c', 'import sys,pydicom,numpy as np\nfrom anofair_models.dataset import display01\nfor f in sys.argv[1:]: sys.stdout.buffer.write(display01(pydicom.dcmread(f)).astype("<f4").tobytes())', ...chosen.map((p) => p.path)]);
      const all = new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
      let at = 0;
      for (const p of chosen) {
        const ours = toDisplay(p.px).data;
        const expected = all.subarray(at, at + ours.length);
        at += ours.length;
        let worst = 0;
        for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - expected[i]!));
        assert.ok(worst < 1e-6, `${p.label.photometric} ${p.label.bits_stored} bit: largest difference ${worst}`);
      }
      assert.equal(at, all.length);
    });

    it('inverts: stored values inside the window come back exactly from their display values (MONOCHROME1 and 2)', () => {
      const seen = new Set<string>();
      for (const p of small) {
        seen.add(p.label.photometric);
        const back = fromDisplay(p.px, toDisplay(p.px).data);
        const { center, width } = p.px.window!;
        for (let i = 0; i < back.length; i++) {
          const v = p.px.stored[i]!;
          if (v > center - width / 2 + 1 && v < center + width / 2 - 1) assert.equal(back[i], v, `pixel ${i}`);
        }
      }
      assert.deepEqual([...seen].sort(), ['MONOCHROME1', 'MONOCHROME2']);
    });

    it('refuses what it cannot render, with the reason', () => {
      const ds = readPart10(readFileSync(small[0]!.path)).dataset;
      assert.throws(() => readGreyPixels({ ...ds, '00280004': { vr: 'CS', Value: ['RGB'] } }), (e: unknown) => e instanceof AnofairError && e.code === 'PIXEL_UNSUPPORTED' && /greyscale/.test(e.message));
      assert.throws(() => readGreyPixels({ ...ds, '00280008': { vr: 'IS', Value: ['3'] } }), /single-frame/);
      const noPixels = { ...ds };
      delete noPixels['7FE00010'];
      assert.throws(() => readGreyPixels(noPixels), /absent, compressed/);
    });
  });

  describe('the YOLOv8-format detector', () => {
    it('finds the labelled findings of phantoms it never saw (recall at IoU 0.5 of at least 0.75)', async () => {
      let found = 0;
      let total = 0;
      for (const p of small) {
        const dets = await models.detector.detect(toDisplay(p.px));
        for (const f of p.label.findings) {
          total++;
          if (dets.some((d) => d.className === f.label && iou(d.box, f.box) >= 0.5)) found++;
        }
      }
      assert.ok(total >= 5, `${total} labelled findings`);
      assert.ok(found / total >= 0.75, `recall ${found}/${total}`);
    });

    it('finds burned-in text lines as text', async () => {
      let found = 0;
      let total = 0;
      for (const p of small.filter((q) => q.label.burned_in)) {
        const dets = (await models.detector.detect(toDisplay(p.px))).filter((d) => d.className === 'text');
        for (const t of p.label.text_boxes) {
          total++;
          if (dets.some((d) => iou(d.box, t.box) >= 0.3)) found++;
        }
      }
      assert.ok(total >= 3, `${total} text lines`);
      assert.ok(found / total >= 0.75, `text recall ${found}/${total}`);
    });

    it('letterboxes other sizes as ultralytics does and maps the boxes back to the image\'s pixels', async () => {
      const p = small.find((q) => q.label.findings.length > 0)!;
      const display = toDisplay(p.px);
      const base = (await models.detector.detect(display)).filter((d) => d.className !== 'text');
      const wide = resizeGrey(display, 512, 384); // non-square: padded top and bottom in the model's input
      const scaled = (await models.detector.detect(wide)).filter((d) => d.className !== 'text');
      assert.ok(base.length > 0);
      for (const d of base) {
        const expected = [d.box[0] * 2, d.box[1] * 1.5, d.box[2] * 2, d.box[3] * 1.5];
        assert.ok(scaled.some((s) => s.className === d.className && iou(s.box, expected) >= 0.6), `${d.className} at ${d.box.map(Math.round).join(',')} found again`);
      }
    });

    it('refuses class names that do not match the model\'s outputs', async () => {
      await assert.rejects(YoloDetector.load(join(DEMO, 'detector'), { classes: ['a', 'b'] }), (e: unknown) => e instanceof AnofairError && /scores 7 classes but 2 class names/.test(e.message));
    });
  });

  describe('anonymizeRadiograph', () => {
    it('keeps the detected disease regions pixel-exact in the stored values and regenerates the rest, burned-in text included', async () => {
      const p = small.find((q) => q.label.burned_in && q.label.findings.length > 0) ?? small.find((q) => q.label.burned_in)!;
      const { stored, record } = await anonymizeRadiograph(p.px, models, { seed: 'test-1', modelSize: 256, prompt: promptConfigOf(join(DEMO, 'inpaint')) });
      const { columns: w, rows: h } = p.px;
      assert.equal(stored.length, w * h);
      const keptBoxes = record.kept.map((k) => k.box);
      let changedOutside = 0;
      let outside = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = y * w + x;
          const inText = insideAny(x, y, p.label.text_boxes.map((t) => t.box));
          if (insideAny(x, y, keptBoxes) && !inText) continue;
          outside++;
          if (stored[i] !== p.px.stored[i]) changedOutside++;
        }
      }
      // kept regions: every stored value identical, but where text was found inside them
      for (const k of record.kept) {
        for (let y = k.box[1]; y < k.box[3]; y++) {
          for (let x = k.box[0]; x < k.box[2]; x++) if (!insideAny(x, y, record.textRegions)) assert.equal(stored[y * w + x], p.px.stored[y * w + x]);
        }
      }
      assert.ok(record.textRegions.length >= p.label.text_boxes.length, `${record.textRegions.length} text regions found`);
      assert.ok(changedOutside / outside > 0.6, `${changedOutside} of ${outside} regenerated pixels differ from the original`);
      // every pixel of every burned-in text line is regenerated
      for (const t of p.label.text_boxes) {
        let same = 0;
        let n = 0;
        for (let y = t.box[1]; y < t.box[3]; y++) for (let x = t.box[0]; x < t.box[2]; x++, n++) if (stored[y * w + x] === p.px.stored[y * w + x]) same++;
        assert.ok(same / n < 0.05, `text line ${t.kind}: ${same}/${n} pixels unchanged`);
      }
      assert.equal(record.method, 'CXR-AnoFAIR');
      assert.ok(record.regeneratedFraction > 0.5 && record.regeneratedFraction < 1, `regenerated ${record.regeneratedFraction}`);
      assert.match(record.prompt, /^A chest X-ray showing .+\.$/);
      for (const k of record.kept) assert.ok(record.prompt.toLowerCase().includes(k.finding), `prompt names ${k.finding}`);
      const bits = p.px.bitsStored;
      for (const v of stored) assert.ok(v >= 0 && v < 2 ** bits);
    });

    it('works at the image\'s own resolution (512 pixels with a 256-pixel model) and is reproducible from its seed', async () => {
      const p = large.find((q) => q.label.findings.length > 0) ?? large[0]!;
      const a = await anonymizeRadiograph(p.px, models, { seed: 'same', modelSize: 256, steps: 8 });
      const b = await anonymizeRadiograph(p.px, models, { seed: 'same', modelSize: 256, steps: 8 });
      const c = await anonymizeRadiograph(p.px, models, { seed: 'other', modelSize: 256, steps: 8 });
      assert.equal(a.stored.length, 512 * 512);
      assert.deepEqual(a.stored, b.stored);
      assert.notDeepEqual(a.stored, c.stored);
      for (const k of a.record.kept) for (let y = k.box[1]; y < k.box[3]; y++) for (let x = k.box[0]; x < k.box[2]; x++) assert.equal(a.stored[y * 512 + x], p.px.stored[y * 512 + x]);
    });

    it('regenerates values across the whole range the image holds, not only inside a narrow presentation window', async () => {
      const p = small.find((q) => !q.label.burned_in) ?? small[0]!;
      const sorted = Int32Array.from(p.px.stored).sort();
      const [q20, q80] = [sorted[Math.floor(sorted.length * 0.2)]!, sorted[Math.floor(sorted.length * 0.8)]!];
      // a window over the middle of the values only, as a CR's VOI often is: a fifth of the pixels lie below it
      const narrow = { ...p.px, window: { center: (q20 + q80) / 2 + 0.5, width: q80 - q20 + 1 } };
      const wide = widenedToValues(narrow);
      assert.ok(wide.window!.width > narrow.window.width);
      assert.equal(widenedToValues(wide), wide, 'a window that covers every value is kept as it is');
      const { stored, record } = await anonymizeRadiograph(narrow, models, { seed: 'range', modelSize: 256, steps: 8 });
      const keep = record.kept.map((k) => k.box);
      let below = 0;
      let above = 0;
      for (let y = 0; y < p.px.rows; y++) {
        for (let x = 0; x < p.px.columns; x++) {
          if (insideAny(x, y, keep)) continue;
          const v = stored[y * p.px.columns + x]!;
          if (v < q20) below++;
          if (v > q80) above++;
        }
      }
      const n = p.px.rows * p.px.columns;
      assert.ok(below > 0.02 * n && above > 0.02 * n, `regenerated pixels below the window ${below}, above ${above} of ${n}`);
    });

    it('gives the regenerated pixels the image\'s grain, so the kept regions hardly stand out by their noise', async () => {
      // the attacker's cue: the grain of 8x8 blocks, kept against regenerated (src/evaluation/kept-mask-from-grain.ts)
      const released = async (matchNoise: boolean): Promise<{ auc: number; keptBlocks: number; sigma?: number }> => {
        const images: { anonymized: { data: Float32Array; width: number; height: number }; kept: Uint8Array }[] = [];
        let sigma: number | undefined;
        for (const p of small) {
          const { stored, record } = await anonymizeRadiograph(p.px, models, { seed: p.label.image_id, modelSize: 256, matchNoise });
          sigma ??= record.noiseSigma;
          const kept = keepMask({ kept: record.kept, text: record.textRegions, identifying: record.identifyingRegions }, 1, 1, p.px.columns, p.px.rows);
          images.push({ anonymized: { data: Float32Array.from(stored), width: p.px.columns, height: p.px.rows }, kept });
        }
        const m = maskFromGrain(images);
        return { auc: m.auc, keptBlocks: m.keptBlocks, ...(sigma !== undefined ? { sigma } : {}) };
      };
      const smooth = await released(false);
      const grained = await released(true);
      assert.ok(smooth.keptBlocks >= 50, `kept blocks: ${smooth.keptBlocks}`);
      assert.ok(smooth.auc > 0.65, `without the image's grain the kept blocks stand out: AUC ${smooth.auc.toFixed(3)}`);
      assert.ok(Math.abs(grained.auc - 0.5) < 0.15 && Math.abs(grained.auc - 0.5) < Math.abs(smooth.auc - 0.5), `with it less: AUC ${grained.auc.toFixed(3)} (without: ${smooth.auc.toFixed(3)})`);
      assert.equal(smooth.sigma, undefined, 'no level recorded when none is added');
      assert.ok(grained.sigma! > 0, 'the level given is recorded');
    });
  });

  it('builds the method\'s prompt: findings in the model\'s order, "No Finding" when none', () => {
    assert.equal(promptFor(['cardiomegaly', 'nodule']), 'A chest X-ray showing Nodule, Cardiomegaly.');
    assert.equal(promptFor([]), 'A chest X-ray showing No Finding.');
  });
});
