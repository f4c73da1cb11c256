import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstString, type DicomFile } from '../../dicom/dataset.js';
import { AnofairError } from '../../errors/anofair-error.js';
import type { PseudonymKey } from '../deid-types.js';
import { keyedDigest } from '../pseudonyms/keyed-hash.js';
import { anonymizeRadiograph, promptConfigOf, type PixelRecord, type PromptConfig } from './cxr-anofair.js';
import { readGreyPixels, storedToBytes } from './grey-pixels.js';
import { SdInpaintPipeline } from './sd-inpaint-pipeline.js';
import { YoloDetector } from './yolo-detector.js';

/**
 * The edge between DICOM instances and CXR-AnoFAIR: which instances are chest radiographs it may regenerate, and
 * their Pixel Data replaced. The de-identification core then runs with pixelCleaning 'applied' for the instances
 * cleaned here; every other instance keeps its pixels and the fail-closed burned-in rule decides about it.
 */

/** The demo models shipped with the package (models/demo at the package root). */
export const DEMO_MODELS = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../models/demo');

export interface PixelCleanerSettings {
  /** folder with detector/ and inpaint/ (default: the shipped demo models) */
  models?: string;
  /** Modality values the method applies to (default CR, DX) */
  modalities?: string[];
  /** Body Part Examined values the method applies to; an absent one counts as chest (default CHEST) */
  bodyParts?: string[];
  steps?: number;
  guidanceScale?: number;
  confidence?: number;
  executionProviders?: string[];
}

export type PixelCleaning =
  | { status: 'cleaned'; file: DicomFile; record: PixelRecord }
  | { status: 'not-applicable'; reason: string };

export class CxrPixelCleaner {
  private constructor(
    private readonly detector: YoloDetector,
    private readonly inpainter: SdInpaintPipeline,
    private readonly prompt: PromptConfig,
    private readonly modelSize: number,
    private readonly settings: PixelCleanerSettings,
  ) {}

  static async load(settings: PixelCleanerSettings): Promise<CxrPixelCleaner> {
    const models = resolve(settings.models ?? DEMO_MODELS);
    for (const part of ['detector', 'inpaint']) {
      if (!existsSync(join(models, part))) throw new AnofairError('CONFIG_INVALID', `pixel models folder ${models} has no ${part}/ (expected detector/ and inpaint/, as models/demo)`);
    }
    const providers = settings.executionProviders ? { executionProviders: settings.executionProviders } : {};
    const detector = await YoloDetector.load(join(models, 'detector'), providers);
    const inpainter = await SdInpaintPipeline.load(join(models, 'inpaint'), providers);
    return new CxrPixelCleaner(detector, inpainter, promptConfigOf(join(models, 'inpaint')), inpainter.imageSize, settings);
  }

  async release(): Promise<void> {
    await Promise.all([this.detector.release(), this.inpainter.release()]);
  }

  /** Why the method does not apply to this instance, or undefined when it does. */
  notApplicable(file: DicomFile): string | undefined {
    const modality = (firstString(file.dataset, '00080060') ?? '').trim().toUpperCase();
    const modalities = this.settings.modalities ?? ['CR', 'DX'];
    if (!modalities.includes(modality)) return `pixel anonymization applies to ${modalities.join('/')} chest radiographs; Modality is ${modality || 'absent'}`;
    const part = (firstString(file.dataset, '00180015') ?? '').trim().toUpperCase();
    const parts = this.settings.bodyParts ?? ['CHEST'];
    if (part && !parts.includes(part)) return `pixel anonymization applies to chest radiographs; Body Part Examined is ${part}`;
    if (file.encapsulatedPixelData) return 'pixel anonymization needs uncompressed Pixel Data; this instance is compressed';
    return undefined;
  }

  /** Regenerates the chest radiograph's pixels; the noise is seeded from the key and the instance, so a rerun gives the same image. */
  async clean(file: DicomFile, key: PseudonymKey): Promise<PixelCleaning> {
    const reason = this.notApplicable(file);
    if (reason) return { status: 'not-applicable', reason };
    const px = readGreyPixels(file.dataset);
    const seed = keyedDigest(key, 'pixel-noise', firstString(file.dataset, '00080018') ?? '').toString('hex');
    const { stored, record } = await anonymizeRadiograph(px, { detector: this.detector, inpainter: this.inpainter }, {
      seed,
      modelSize: this.modelSize,
      prompt: this.prompt,
      ...(this.settings.steps ? { steps: this.settings.steps } : {}),
      ...(this.settings.guidanceScale ? { guidanceScale: this.settings.guidanceScale } : {}),
      ...(this.settings.confidence ? { confidence: this.settings.confidence } : {}),
    });
    const bytes = storedToBytes(px, stored);
    const vr = file.dataset['7FE00010']?.vr ?? (px.bitsAllocated === 8 ? 'OB' : 'OW');
    const dataset = { ...file.dataset, '7FE00010': { vr, Value: [bytes.buffer] } };
    return { status: 'cleaned', file: { ...file, dataset }, record };
  }
}
