import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { drained, makePipeline } from '../../../test/support/research-pipeline-kit.js';
import { startScriptedStowServer, type ScriptedStowServer } from '../../../test/support/scripted-stow-server.js';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import { CxrPixelCleaner } from '../../anonymizer/pixel/pixel-cleaner.js';
import { readGreyPixels } from '../../anonymizer/pixel/grey-pixels.js';
import { firstString } from '../../dicom/dataset.js';
import { readPart10 } from '../../dicom/part10.js';
import { DEFAULT_OPTIONS, generatePhantoms } from '../../phantoms/generate.js';
import { parseLabels } from '../../phantoms/labels.js';

const PIXEL_RULES = `version: 1
rules:
  - name: chest-pixels
    forward: { destinations: [research], pixels: cxr-anofair }
`;

/**
 * Routing rules with pixels: cxr-anofair: chest radiographs with burned-in text leave with regenerated pixels;
 * what the method does not apply to, or cannot be done, never leaves with its text.
 */
describe('forwarding with CXR-AnoFAIR pixel anonymization', () => {
  let work: string;
  let chest: Uint8Array[];
  let cleaner: CxrPixelCleaner;
  let server: ScriptedStowServer | undefined;
  let dispose: (() => Promise<void>) | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'anofair-pixel-fwd-'));
    await generatePhantoms({ ...DEFAULT_OPTIONS, out: work, patients: 1, seed: 'pixel-forwarding', burnedInShare: 1, force: false });
    chest = parseLabels(readFileSync(join(work, 'labels.jsonl'), 'utf8')).map((l) => new Uint8Array(readFileSync(join(work, l.file))));
    cleaner = await CxrPixelCleaner.load({ steps: 8 });
  });
  afterEach(async () => {
    await dispose?.();
    await server?.close();
    dispose = undefined;
    server = undefined;
  });
  after(async () => {
    await cleaner?.release();
    rmSync(work, { recursive: true, force: true });
  });

  it('delivers chest radiographs with burned-in text once their pixels are regenerated, marked as cleaned', async () => {
    server = await startScriptedStowServer(() => ({ status: 200 }));
    const kit = await makePipeline({ archiveUrl: server.url, rules: PIXEL_RULES, overrides: { deid: { key: { id: 'k', secret: new Uint8Array(32).fill(9) }, pixelStep: cleaner } } });
    dispose = kit.dispose;
    await kit.pipeline.start();
    for (const bytes of chest) assert.equal((await kit.pipeline.accept({ bytes }, {}, 'tap')).queued, true);
    await drained(kit.pipeline, 120_000);
    assert.deepEqual((await kit.pipeline.status()).totals, { pending: 0, 'in-flight': 0, delivered: 3, quarantined: 0, discarded: 0 });
    const metrics = await kit.pipeline.registry.metrics();
    assert.match(metrics, /anofair_pixel_anonymization_total\{outcome="cleaned"\} 3/);
    assert.match(metrics, /anofair_pixel_anonymization_seconds_count 3/);
    const sent = server.requests.flatMap((r) => r.instances);
    assert.equal(sent.length, 3);
    const originals = chest.map((b) => readGreyPixels(readPart10(b).dataset).stored);
    for (const instance of sent) {
      const file = readPart10(instance.bytes);
      assert.equal(firstString(file.dataset, '00280301'), 'NO', 'Burned In Annotation');
      const codes = (file.dataset['00120064']?.Value ?? []).map((item: Record<string, { Value?: string[] }>) => item['00080100']?.Value?.[0]);
      assert.ok(codes.includes('113101'), 'Clean Pixel Data Option');
      const stored = readGreyPixels(file.dataset).stored;
      // none of the originals survives: at least half of every image differs from each of them
      for (const original of originals) {
        let same = 0;
        for (let i = 0; i < stored.length; i++) if (stored[i] === original[i]) same++;
        assert.ok(same / stored.length < 0.5, `${same} of ${stored.length} pixels equal to an original`);
      }
    }
  });

  it('quarantines what the rule sent to the pixel step and the step cannot regenerate (a colour ultrasound with burned-in text)', async () => {
    server = await startScriptedStowServer(() => ({ status: 200 }));
    const kit = await makePipeline({ archiveUrl: server.url, rules: PIXEL_RULES, overrides: { deid: { key: { id: 'k', secret: new Uint8Array(32).fill(9) }, pixelStep: cleaner } } });
    dispose = kit.dispose;
    await kit.pipeline.start();
    await kit.pipeline.accept({ bytes: syntheticInstance({ seed: 'us', rows: 96, columns: 128, overrides: { Modality: 'US', BurnedInAnnotation: 'YES', PhotometricInterpretation: 'RGB' } }) }, {}, 'tap');
    await drained(kit.pipeline);
    assert.equal(server.requests.length, 0);
    const [item] = (await kit.pipeline.listQuarantine({ limit: 10, offset: 0 })).items;
    assert.equal(item!.quarantineReason, 'pixel anonymization failed: PIXEL_UNSUPPORTED: the image is not greyscale (Photometric Interpretation RGB)');
    assert.match(await kit.pipeline.registry.metrics(), /anofair_pixel_anonymization_total\{outcome="failed"\} 1/);
  });

  it('quarantines, with the reason, when a rule asks for pixel anonymization and no models are loaded', async () => {
    server = await startScriptedStowServer(() => ({ status: 200 }));
    const kit = await makePipeline({ archiveUrl: server.url, rules: PIXEL_RULES });
    dispose = kit.dispose;
    await kit.pipeline.start();
    await kit.pipeline.accept({ bytes: chest[0]! }, {}, 'tap');
    await drained(kit.pipeline);
    assert.equal(server.requests.length, 0);
    const [item] = (await kit.pipeline.listQuarantine({ limit: 10, offset: 0 })).items;
    assert.equal(item!.quarantineReason, 'rule "chest-pixels" asks for pixels: cxr-anofair but no pixel models are loaded');
  });
});
