import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AnofairError } from '../errors/anofair-error.js';
import { readModelManifest } from '../train/model-manifest.js';
import { resizeGrey, type GreyImage } from '../anonymizer/pixel/image-resize.js';

/**
 * The three judges of an anonymization, on onnxruntime-node, with the input conventions their manifests declare:
 * the re-identification network (PriCheXy-Net's Siamese design: embedding.onnx, head.onnx), the attribute
 * classifier (p(male), p(age >= 60)) and the diagnostic classifier (TorchXRayVision interface: 224x224,
 * [-1024, 1024], one probability per finding).
 */

const ATTR_SIZE = 256;
const XRV_SIZE = 224;

async function open(path: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, { graphOptimizationLevel: 'all' });
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `${path} does not load in onnxruntime: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** The models were trained on bilinearly resized images (torch's interpolate): resized the same way here. */
function batch(images: GreyImage[], size: number, scale = 1, offset = 0): ort.Tensor {
  const data = new Float32Array(images.length * size * size);
  images.forEach((img, k) => {
    const r = img.width === size && img.height === size ? img : resizeGrey(img, size, size, 'bilinear');
    for (let i = 0; i < size * size; i++) data[k * size * size + i] = r.data[i]! * scale + offset;
  });
  return new ort.Tensor('float32', data, [images.length, 1, size, size]);
}

export class EvaluationModels {
  private constructor(
    private readonly embedding: ort.InferenceSession,
    private readonly head: ort.InferenceSession,
    private readonly attributes: ort.InferenceSession,
    private readonly diagnostic: ort.InferenceSession,
    readonly findings: string[],
  ) {}

  /** `models`: a folder with reid/, attributes/ and diagnostic/ (as models/demo). */
  static async load(models: string): Promise<EvaluationModels> {
    const diag = readModelManifest(join(models, 'diagnostic'));
    return new EvaluationModels(
      await open(join(models, 'reid', 'embedding.onnx')),
      await open(join(models, 'reid', 'head.onnx')),
      await open(join(models, 'attributes', 'model.onnx')),
      await open(join(models, 'diagnostic', 'model.onnx')),
      diag.classes,
    );
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
      const e = r.embedding!.data as Float32Array;
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
    const r = await this.head.run({ embedding_a: new ort.Tensor('float32', flat(a), [a.length, 128]), embedding_b: new ort.Tensor('float32', flat(b), [b.length, 128]) });
    return Array.from(r.logit!.data as Float32Array, (l) => 1 / (1 + Math.exp(-l)));
  }

  /** [p(male), p(age >= 60)] per image. */
  async judgeAttributes(images: GreyImage[]): Promise<[number, number][]> {
    const out: [number, number][] = [];
    for (let s = 0; s < images.length; s += 16) {
      const chunk = images.slice(s, s + 16);
      const p = (await this.attributes.run({ images: batch(chunk, ATTR_SIZE) })).probabilities!.data as Float32Array;
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
      const p = (await this.diagnostic.run({ images: batch(chunk, XRV_SIZE, 2048, -1024) })).probabilities!.data as Float32Array;
      for (let k = 0; k < chunk.length; k++) out.push(Array.from(p.subarray(k * n, (k + 1) * n)));
    }
    return out;
  }
}
