import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AnofairError } from '../../errors/anofair-error.js';
import { resizeGrey, type GreyImage } from './image-resize.js';

/**
 * A detector in the ultralytics YOLOv8 ONNX format: `images` [B,3,S,S] RGB 0..1, letterboxed with grey 114 ->
 * `output0` [B, 4 + classes, N] with (cx, cy, w, h) in input pixels and one score per class, no NMS in the graph.
 * The demo detector and a real `yolo export format=onnx` file load the same way; class names come from our
 * manifest (`names`) or are given by the caller (ultralytics keeps them in ONNX metadata, which onnxruntime-node
 * does not expose).
 */

export interface Detection {
  classIndex: number;
  className: string;
  score: number;
  /** x0, y0, x1, y1 in the pixels of the image given to detect() */
  box: [number, number, number, number];
}

export interface DetectorOptions {
  classes?: string[];
  executionProviders?: string[];
  intraOpNumThreads?: number;
}

export interface DetectOptions {
  /** minimum class score (ultralytics' conf; default 0.25) */
  confidence?: number;
  /** IoU above which a lower-scored box of the same class is suppressed (default 0.6) */
  iou?: number;
  maxDetections?: number;
}

const LETTERBOX_GREY = 114 / 255;

export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const h = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

export class YoloDetector {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly classes: string[],
    readonly inputSize: number,
  ) {}

  /** `model` is a model.onnx file or a folder holding model.onnx (and our manifest.json with the class names). */
  static async load(model: string, options: DetectorOptions = {}): Promise<YoloDetector> {
    const file = existsSync(model) && statSync(model).isDirectory() ? join(model, 'model.onnx') : model;
    if (!existsSync(file)) throw new AnofairError('CONFIG_INVALID', `detector model ${file} not found`);
    let classes = options.classes;
    const manifestPath = join(file, '..', 'manifest.json');
    if (!classes && existsSync(manifestPath)) {
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { names?: Record<string, string>; classes?: string[] };
      classes = manifest.names ? Object.entries(manifest.names).sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => v) : manifest.classes;
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, {
        executionProviders: options.executionProviders ?? ['cpu'],
        graphOptimizationLevel: 'all',
        ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      });
    } catch (err) {
      throw new AnofairError('CONFIG_INVALID', `${file} does not load in onnxruntime: ${(err as Error).message}`, undefined, { cause: err });
    }
    const input = session.inputMetadata.find((m) => m.name === 'images');
    if (!input || !input.isTensor) throw new AnofairError('CONFIG_INVALID', `${file} has no input "images": not a YOLOv8 export`);
    if (!session.outputNames.includes('output0')) throw new AnofairError('CONFIG_INVALID', `${file} has no output "output0": not a YOLOv8 export`);
    const size = typeof input.shape[2] === 'number' ? input.shape[2] : 640;
    const outMeta = session.outputMetadata.find((m) => m.name === 'output0');
    const rows = outMeta?.isTensor && typeof outMeta.shape[1] === 'number' ? outMeta.shape[1] : undefined;
    if (!classes) throw new AnofairError('CONFIG_INVALID', `${file}: no class names (no manifest.json with "names"; pass them in the configuration)`);
    if (rows !== undefined && rows !== 4 + classes.length) {
      throw new AnofairError('CONFIG_INVALID', `${file} scores ${rows - 4} classes but ${classes.length} class names are given`);
    }
    return new YoloDetector(session, classes, size);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /** Detections in the given image's pixel coordinates (any size: letterboxed to the model's input as ultralytics does). */
  async detect(img: GreyImage, options: DetectOptions = {}): Promise<Detection[]> {
    const s = this.inputSize;
    const r = Math.min(s / img.width, s / img.height);
    const nw = Math.round(img.width * r);
    const nh = Math.round(img.height * r);
    const left = Math.round((s - nw) / 2 - 0.1);
    const top = Math.round((s - nh) / 2 - 0.1);
    const resized = resizeGrey(img, nw, nh);
    const plane = new Float32Array(s * s).fill(LETTERBOX_GREY);
    for (let y = 0; y < nh; y++) plane.set(resized.data.subarray(y * nw, (y + 1) * nw), (y + top) * s + left);
    const input = new Float32Array(3 * s * s);
    input.set(plane, 0);
    input.set(plane, s * s);
    input.set(plane, 2 * s * s);
    const out = await this.session.run({ images: new ort.Tensor('float32', input, [1, 3, s, s]) });
    const output = out.output0!;
    const [, rows, n] = output.dims as [number, number, number];
    const data = output.data as Float32Array;
    const nc = rows - 4;
    const conf = options.confidence ?? 0.25;
    const candidates: Detection[] = [];
    for (let k = 0; k < n; k++) {
      let best = -1;
      let score = conf;
      for (let c = 0; c < nc; c++) {
        const v = data[(4 + c) * n + k]!;
        if (v >= score) {
          score = v;
          best = c;
        }
      }
      if (best < 0) continue;
      const cx = data[k]!;
      const cy = data[n + k]!;
      const w = data[2 * n + k]!;
      const h = data[3 * n + k]!;
      const clampX = (v: number): number => Math.min(img.width, Math.max(0, v));
      const clampY = (v: number): number => Math.min(img.height, Math.max(0, v));
      candidates.push({
        classIndex: best,
        className: this.classes[best] ?? String(best),
        score,
        box: [clampX((cx - w / 2 - left) / r), clampY((cy - h / 2 - top) / r), clampX((cx + w / 2 - left) / r), clampY((cy + h / 2 - top) / r)],
      });
    }
    // per-class non-maximum suppression, highest score first
    candidates.sort((a, b) => b.score - a.score);
    const kept: Detection[] = [];
    const threshold = options.iou ?? 0.6;
    for (const d of candidates) {
      if (kept.length >= (options.maxDetections ?? 300)) break;
      if (kept.some((k) => k.classIndex === d.classIndex && iou(k.box, d.box) > threshold)) continue;
      kept.push(d);
    }
    return kept;
  }
}
