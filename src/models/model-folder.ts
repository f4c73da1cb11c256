import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { AnofairError } from '../errors/anofair-error.js';
import { readModelManifest, type ModelComponent, type ModelManifest } from '../train/model-manifest.js';
import type { ModelRuntimeSettings } from './execution-providers.js';
import { OnnxModel, type OpenOptions } from './onnx-session.js';

/**
 * A model folder: ONNX files, and our manifest.json where the folder is one of ours (models/demo/*, written by
 * src/train). A real export without our manifest (a `yolo export format=onnx` file, an optimum
 * stable-diffusion-2-inpainting folder) is a folder too: it just has no declared I/O to check against and no
 * manifest keys; what the loaders need then comes from the ONNX files themselves or from the configuration.
 */

export interface ModelFolder {
  /** absolute */
  folder: string;
  /** our manifest.json, when the folder has one */
  manifest?: ModelManifest;
  /** the manifest's raw JSON (for keys beyond the schema, e.g. a detector's names or text_classes) */
  manifestJson?: Record<string, unknown>;
  /** the path of a file in the folder; MODEL_INVALID naming it when it is missing */
  require(file: string, what?: string): string;
  /** the manifest's entry for a component file (relative to the folder), if any */
  component(file: string): ModelComponent | undefined;
  /** opens a component, checked against the manifest's declared inputs and outputs */
  open(file: string, runtime?: ModelRuntimeSettings, options?: OpenOptions): Promise<OnnxModel>;
}

export function openModelFolder(path: string): ModelFolder {
  const folder = resolve(path);
  if (!existsSync(folder)) throw new AnofairError('MODEL_INVALID', `model folder ${folder} not found`, { path: folder });
  if (!statSync(folder).isDirectory()) throw new AnofairError('MODEL_INVALID', `${folder} is not a model folder`, { path: folder });
  let manifest: ModelManifest | undefined;
  let manifestJson: Record<string, unknown> | undefined;
  if (existsSync(join(folder, 'manifest.json'))) {
    try {
      manifest = readModelManifest(folder);
    } catch (err) {
      throw new AnofairError('MODEL_INVALID', (err as Error).message, { path: join(folder, 'manifest.json') });
    }
    manifestJson = manifest as unknown as Record<string, unknown>;
  }
  const require = (file: string, what?: string): string => {
    const p = join(folder, file);
    if (!existsSync(p)) throw new AnofairError('MODEL_INVALID', `${p} is missing${what ? `: ${what}` : ''}`, { path: p });
    return p;
  };
  const component = (file: string): ModelComponent | undefined => manifest?.models.find((m) => m.file === file.split(sep).join('/'));
  return {
    folder,
    ...(manifest ? { manifest, manifestJson } : {}),
    require,
    component,
    open: (file, runtime, options = {}) => {
      const declared = component(file);
      return OnnxModel.open(require(file), runtime, { ...(declared ? { declared } : {}), ...options });
    },
  };
}

/**
 * Where a model is: an .onnx file (its folder and manifest are the file's directory) or a folder holding
 * `defaultFile`. Returns the folder and the file relative to it.
 */
export function locateModel(model: string, defaultFile = 'model.onnx'): { folder: ModelFolder; file: string } {
  const abs = resolve(model);
  if (existsSync(abs) && statSync(abs).isDirectory()) {
    const folder = openModelFolder(abs);
    folder.require(defaultFile);
    return { folder, file: defaultFile };
  }
  if (!existsSync(abs)) throw new AnofairError('MODEL_INVALID', `model ${abs} not found`, { path: abs });
  const folder = openModelFolder(dirname(abs));
  return { folder, file: relative(folder.folder, abs) || basename(abs) };
}

/** locateModel + open: one model from a file or a folder, with the runtime settings. */
export async function loadModel(model: string, runtime?: ModelRuntimeSettings, options: OpenOptions & { file?: string } = {}): Promise<{ model: OnnxModel; folder: ModelFolder }> {
  const { file, ...open } = options;
  const located = locateModel(model, file);
  return { model: await located.folder.open(located.file, runtime, open), folder: located.folder };
}
