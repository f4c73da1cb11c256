import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encoderTool } from '../../../test/support/pixel-encoders.js';
import { firstString, type DicomFile } from '../../dicom/dataset.js';
import { readPart10, transferSyntaxOf } from '../../dicom/part10.js';
import { AnofairError } from '../../errors/anofair-error.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../../phantoms/generate.js';
import { parseLabels } from '../../phantoms/labels.js';
import { CxrPixelCleaner, DEMO_MODELS, pixelRefusal } from './pixel-cleaner.js';

const KEY = { id: 'cleaner-test', secret: new Uint8Array(32).fill(3) };

/**
 * The pixel step on one instance: what it refuses (from the attributes alone), the derived instance it hands
 * back (new keyed UIDs, lossy sources still marked lossy), and the whole-image rule for a detector that cannot
 * see text.
 */
describe('the CXR-AnoFAIR pixel step', () => {
  let work: string;
  let phantoms: { file: string; burned: boolean }[];
  let cleaner: CxrPixelCleaner;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'anofair-pixel-step-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: join(work, 'phantoms'), patients: 2, seed: 'pixel-step', burnedInShare: 0.5, normalShare: 0, force: false });
    phantoms = parseLabels(readFileSync(join(work, 'phantoms', 'labels.jsonl'), 'utf8')).map((l) => ({ file: join(work, 'phantoms', l.file), burned: l.burned_in }));
    cleaner = await CxrPixelCleaner.load({ steps: 4 });
  });
  after(async () => {
    await cleaner?.release();
    rmSync(work, { recursive: true, force: true });
  });

  const read = (path: string): DicomFile => readPart10(new Uint8Array(readFileSync(path)));

  it('refuses, from the attributes alone, what it cannot regenerate', () => {
    const file = read(phantoms[0]!.file);
    const ds = file.dataset;
    const variant = (changes: Record<string, { vr: string; Value: unknown[] }>): DicomFile => ({ ...file, dataset: { ...ds, ...changes } });
    assert.equal(pixelRefusal(file), undefined);
    assert.equal(pixelRefusal(variant({ '00280004': { vr: 'CS', Value: ['YBR_FULL'] } })), 'the image is not greyscale (Photometric Interpretation YBR_FULL)');
    assert.equal(pixelRefusal(variant({ '00280008': { vr: 'IS', Value: ['4'] } })), 'the image has 4 frames; the pixel step regenerates single-frame radiographs');
    assert.equal(pixelRefusal(variant({ '00280010': { vr: 'US', Value: [40] } })), 'the image is 256x40; the pixel step takes sides of 64 to 16384');
    assert.equal(pixelRefusal(variant({ '00280010': { vr: 'US', Value: [1024] }, '00280011': { vr: 'US', Value: [256] } })), "the image is 256x1024; its aspect ratio is beyond 1:3");
    assert.equal(pixelRefusal({ ...file, meta: { ...file.meta, '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.4.100'] } } }), 'Pixel Data in transfer syntax 1.2.840.10008.1.2.4.100 cannot be decoded here');
    const noPixels = { ...ds };
    delete noPixels['7FE00010'];
    assert.equal(pixelRefusal({ ...file, dataset: noPixels }), 'the instance has no Pixel Data');
  });

  it('throws PIXEL_UNSUPPORTED with that reason, never handing the input back', async () => {
    const file = read(phantoms[0]!.file);
    await assert.rejects(cleaner.clean({ ...file, dataset: { ...file.dataset, '00280004': { vr: 'CS', Value: ['RGB'] } } }, KEY), (e: unknown) => e instanceof AnofairError && e.code === 'PIXEL_UNSUPPORTED');
  });

  it('hands back a derived instance: new SOP Instance and Series UIDs, keyed and the same on a rerun', async () => {
    const a = read(phantoms[0]!.file);
    // another instance of the same source series
    const b: DicomFile = { ...a, dataset: { ...a.dataset, '00080018': { vr: 'UI', Value: [`${firstString(a.dataset, '00080018')}.2`] } } };
    const first = await cleaner.clean(a, KEY);
    const again = await cleaner.clean(a, KEY);
    const sibling = await cleaner.clean(b, KEY);
    for (const tag of ['00080018', '0020000E']) {
      assert.notEqual(firstString(first.file.dataset, tag), firstString(a.dataset, tag), tag);
      assert.equal(firstString(again.file.dataset, tag), firstString(first.file.dataset, tag), `${tag} the same on a rerun`);
    }
    assert.equal(firstString(sibling.file.dataset, '0020000E'), firstString(first.file.dataset, '0020000E'), 'one source series, one new series');
    assert.notEqual(firstString(sibling.file.dataset, '00080018'), firstString(first.file.dataset, '00080018'));
    assert.equal(transferSyntaxOf(first.file), '1.2.840.10008.1.2.1');
  });

  it('keeps a lossy source marked Lossy Image Compression 01, with the method, once written uncompressed', async () => {
    const jpeg = join(work, 'lossy.dcm');
    const twelveBit = phantoms.map((p) => p.file).find((f) => firstString(read(f).dataset, '00280101') === '12');
    assert.ok(twelveBit, 'a 12-bit phantom for JPEG Extended');
    encoderTool('dcmcjpeg', ['+ee', twelveBit, jpeg]);
    const cleaned = await cleaner.clean(read(jpeg), KEY);
    assert.equal(firstString(cleaned.file.dataset, '00282110'), '01');
    assert.equal(firstString(cleaned.file.dataset, '00282114'), 'ISO_10918_1');
    assert.equal(cleaned.file.encapsulatedPixelData, undefined);
  });

  it('with a detector that has no text class, regenerates an image that may carry text whole, and keeps findings otherwise', async () => {
    const models = join(work, 'models-without-text');
    mkdirSync(models);
    cpSync(join(DEMO_MODELS, 'detector'), join(models, 'detector'), { recursive: true });
    symlinkSync(join(DEMO_MODELS, 'inpaint'), join(models, 'inpaint'));
    const manifestPath = join(models, 'detector', 'manifest.json');
    writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), text_classes: [] }));
    const blind = await CxrPixelCleaner.load({ models, steps: 4 });
    try {
      assert.deepEqual(blind.description.detector.textClasses, []);
      const burned = read(phantoms.find((p) => p.burned)!.file);
      const whole = await blind.clean(burned, KEY);
      assert.deepEqual(whole.record.kept, []);
      assert.equal(whole.record.regeneratedFraction, 1);
      assert.match(whole.record.regeneratedWhole ?? '', /no text class/);
      const clean = read(phantoms.find((p) => !p.burned)!.file);
      assert.equal(firstString(clean.dataset, '00280301'), 'NO', 'the phantom without text says so');
      const kept = await blind.clean(clean, KEY);
      assert.equal(kept.record.regeneratedWhole, undefined);
      assert.ok(kept.record.kept.length > 0, 'its findings are kept');
    } finally {
      await blind.release();
    }
  });
});
