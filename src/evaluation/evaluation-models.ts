import { join } from 'node:path';
import { AnofairError } from '../errors/anofair-error.js';
import { openModelFolder, type ModelDescription, type ModelRuntimeSettings, type OnnxModel } from '../models/index.js';
import { resizeGrey, type GreyImage } from '../anonymizer/pixel/image-resize.js';

/**
 * The three judges of an anonymization, on onnxruntime-node, with the input conventions their manifests declare:
 * the re-identification network (PriCheXy-Net's Siamese design: embedding.onnx, head.onnx), the attribute
 * classifier (p(male), p(age >= 60)) and the diagnostic classifier (TorchXRayVision interface: 224x224,
 * [-1024, 1024], one probability per finding). Opened by src/models: inputs in the declared types (fp16 exports
 * too), outputs read back as float32.
 */

const ATTR_SIZE = 256;
const XRV_SIZE = 224;

export interface EvaluationModelsOptions {
  runtime?: ModelRuntimeSettings;
}

/** The models were trained on bilinearly resized images (torch's interpolate): resized the same way here. */
function batch(images: GreyImage[], size: number, scale = 1, offset = 0): { data: Float32Array; dims: number[] } {
  const data = new Float32Array(images.length * size * size);
  images.forEach((img, k) => {
    const r = img.width === size && img.height === size ? img : resizeGrey(img, size, size, 'bilinear');
    for (let i = 0; i < size * size; i++) data[k * size * size + i] = r.data[i]! * scale + offset;
  });
  return { data, dims: [images.length, 1, size, size] };
}

export class EvaluationModels {
  private constructor(
    private readonly embedding: OnnxModel,
    private readonly head: OnnxModel,
    private readonly attributes: OnnxModel,
    private readonly diagnostic: OnnxModel,
    readonly findings: string[],
  ) {}

  /** `models`: a folder with reid/, attributes/ and diagnostic/ (as models/demo). MODEL_INVALID names what is missing. */
  static async load(models: string, options: EvaluationModelsOptions = {}): Promise<EvaluationModels> {
    const reid = openModelFolder(join(models, 'reid'));
    const attributes = openModelFolder(join(models, 'attributes'));
    const diagnostic = openModelFolder(join(models, 'diagnostic'));
    if (!diagnostic.manifest) throw new AnofairError('MODEL_INVALID', `${join(diagnostic.folder, 'manifest.json')} is missing: the diagnostic model's findings are named there`);
    const findings = diagnostic.manifest.classes;
    const opened: OnnxModel[] = [];
    try {
      for (const [folder, file] of [[reid, 'embedding.onnx'], [reid, 'head.onnx'], [attributes, 'model.onnx'], [diagnostic, 'model.onnx']] as const) {
        opened.push(await folder.open(file, options.runtime, { warmUpDims: { batch: 1, pairs: 1 } }));
      }
      const [embedding, head, attr, diag] = opened as [OnnxModel, OnnxModel, OnnxModel, OnnxModel];
      embedding.requireInputs(['images'], 'the re-identification embedding');
      head.requireInputs(['embedding_a', 'embedding_b'], 'the re-identification head');
      attr.requireInputs(['images'], 'the attribute classifier');
      diag.requireInputs(['images'], 'the diagnostic classifier');
      return new EvaluationModels(embedding, head, attr, diag, findings);
    } catch (err) {
      await Promise.all(opened.map((m) => m.release()));
      throw err;
    }
  }

  /** The four models as loaded: for logs. */
  describe(): Record<'embedding' | 'head' | 'attributes' | 'diagnostic', ModelDescription> {
    return { embedding: this.embedding.describe(), head: this.head.describe(), attributes: this.attributes.describe(), diagnostic: this.diagnostic.describe() };
  }

  async release(): Promise<void> {
    await Promise.all([this.embedding, this.head, this.attributes, this.diagnostic].map((s) => s.release()));
  }

  /** 128-d embeddings, one per image (display01 at 256x256). */
  async embed(images: GreyImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let s = 0; s < images.length; s += 16) {
      const chunk = images.slice(s, s + 16);
      const r = await this.embedding.run({ images: batch(chunk, ATTR_SIZE) });
      const e = r.embedding!.data;
      for (let k = 0; k < chunk.length; k++) out.push(e.slice(k * 128, (k + 1) * 128));
    }
    return out;
  }

  /** p(same patient) of pairs of embeddings. */
  async samePatient(a: Float32Array[], b: Float32Array[]): Promise<number[]> {
    if (a.length === 0) return [];
    const flat = (list: Float32Array[]): Float32Array => {
      const f = new Float32Array(list.length * 128);
      list.forEach((e, k) => f.set(e, k * 128));
      return f;
    };
    const r = await this.head.run({ embedding_a: { data: flat(a), dims: [a.length, 128] }, embedding_b: { data: flat(b), dims: [b.length, 128] } });
    return Array.from(r.logit!.data, (l) => 1 / (1 + Math.exp(-l)));
  }

  /** [p(male), p(age >= 60)] per image. */
  async judgeAttributes(images: GreyImage[]): Promise<[number, number][]> {
    const out: [number, number][] = [];
    for (let s = 0; s < images.length; s += 16) {
      const chunk = images.slice(s, s + 16);
      const p = (await this.attributes.run({ images: batch(chunk, ATTR_SIZE) })).probabilities!.data;
      for (let k = 0; k < chunk.length; k++) out.push([p[2 * k]!, p[2 * k + 1]!]);
    }
    return out;
  }

  /** One probability per finding (this.findings order) per image. */
  async diagnose(images: GreyImage[]): Promise<number[][]> {
    const n = this.findings.length;
    const out: number[][] = [];
    for (let s = 0; s < images.length; s += 16) {
      const chunk = images.slice(s, s + 16);
      const p = (await this.diagnostic.run({ images: batch(chunk, XRV_SIZE, 2048, -1024) })).probabilities!.data;
      for (let k = 0; k < chunk.length; k++) out.push(Array.from(p.subarray(k * n, (k + 1) * n)));
    }
    return out;
  }
}
