import type { PixelModelsDescription } from './pixel-cleaner.js';

/** What start-up says about the pixel models: which are loaded, on which provider, and plainly when they are the demo ones. */
export const DEMO_MODELS_WARNING =
  'WARNING: these are the demo models, trained on synthetic phantoms only: on real chest radiographs they neither ' +
  'find disease regions reliably nor regenerate convincing anatomy. Set deidentification.pixels.models to models ' +
  'trained on real radiographs (a YOLOv8 ONNX export and an SD2-inpainting ONNX export) before research use.';

export function describePixelModels(d: PixelModelsDescription): string {
  const line =
    `pixel models (CXR-AnoFAIR): ${d.folder}; detector classes ${d.detector.classes.join(', ')}` +
    `${d.detector.textClasses.length ? ` (text: ${d.detector.textClasses.join(', ')})` : ' (no text class: images that may carry burned-in text are regenerated whole)'}` +
    ` on ${d.detector.provider}; inpainting at ${d.inpaint.imageSize} px on ${d.inpaint.provider}` +
    `${d.providerFallback ? ` (${d.providerFallback})` : ''}`;
  return d.demo ? `${line}\n${DEMO_MODELS_WARNING}` : line;
}
