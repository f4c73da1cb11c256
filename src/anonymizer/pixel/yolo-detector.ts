import { join } from 'node:path';
import { AnofairError } from '../../errors/anofair-error.js';
import { locateModel, parseClassNames, parseImageSize, readOnnxFileInfo, type ExecutionProvider, type ModelDescription, type ModelRuntimeSettings, type OnnxModel } from '../../models/index.js';
import { resizeGrey, type GreyImage } from './image-resize.js';

/**
 * A detector in the ultralytics YOLOv8 ONNX format: `images` [B,3,S,S] RGB 0..1, letterboxed with grey 114 ->
 * `output0` [B, 4 + classes, N] with (cx, cy, w, h) in input pixels and one score per class, no NMS in the graph.
 * A YOLOv8-seg export adds 32 mask coefficients per candidate to output0 ([B, 4 + classes + 32, N]) and the
 * prototype masks as `output1` [B, 32, S/4, S/4]: a detection's mask is sigmoid(coefficients . prototypes) inside
 * its box, as ultralytics computes it, here sampled straight at the image's own pixels.
 * The demo detector and a real `yolo export format=onnx` file load the same way, fp32 or fp16 (input and output
 * in the type the model declares). Class names come from the caller, else our manifest (`names`), else the ONNX
 * metadata ultralytics writes (`names`, read by src/models since onnxruntime-node does not expose it).
 */

export interface Detection {
  classIndex: number;
  className: string;
  score: number;
  /** x0, y0, x1, y1 in the pixels of the image given to detect() */
  box: [number, number, number, number];
  /** a segmentation export's mask of the object, in the image's pixels inside `mask.box` */
  mask?: DetectionMask;
}

export interface DetectionMask {
  /** whole pixels x0, y0, x1, y1 (the detection's box rounded outwards) */
  box: [number, number, number, number];
  /** 1 = the object, row-major over the box */
  data: Uint8Array;
}

/** Prototype masks of a YOLOv8-seg export. */
const MASK_COEFFICIENTS = 32;

export interface DetectorOptions {
  /** class names by index (default: the manifest's, else the export's metadata) */
  classes?: string[];
  /** classes that are burned-in text (default: the manifest's `text_classes`, else a class named 'text' if any) */
  textClasses?: string[];
  runtime?: ModelRuntimeSettings;
}

/** The detector as loaded: for start-up logs and /status. */
export interface DetectorDescription extends ModelDescription {
  classes: string[];
  textClasses: string[];
  inputSize: number;
  /** a YOLOv8-seg export: detections carry masks */
  segmentation: boolean;
}

export interface DetectOptions {
  /** minimum class score (ultralytics' conf; default 0.25) */
  confidence?: number;
  /** IoU above which a lower-scored box of the same class is suppressed (default 0.6) */
  iou?: number;
  maxDetections?: number;
}

const LETTERBOX_GREY = 114 / 255;

/** The manifest's per-class keep thresholds (postprocess.keep_confidence: { class: score }), checked. */
function keepConfidenceOf(manifest: Record<string, unknown>, classes: string[], file: string): Record<string, number> | undefined {
  const post = manifest.postprocess as { keep_confidence?: unknown } | undefined;
  const given = post?.keep_confidence;
  if (given === undefined) return undefined;
  if (!given || typeof given !== 'object' || Array.isArray(given)) throw new AnofairError('MODEL_INVALID', `${file}: manifest postprocess.keep_confidence must map class names to scores`);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(given)) {
    if (!classes.includes(name) || typeof value !== 'number' || !(value > 0 && value < 1)) throw new AnofairError('MODEL_INVALID', `${file}: manifest postprocess.keep_confidence.${name} must be a score in (0, 1) of a detector class`);
    out[name] = value;
  }
  return out;
}

export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const h = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

export class YoloDetector {
  private constructor(
    private readonly model: OnnxModel,
    readonly classes: string[],
    /** the classes that are burned-in text (always regenerated); empty for a detector without one */
    readonly textClasses: string[],
    readonly inputSize: number,
    /** a YOLOv8-seg export (output1 holds the prototype masks) */
    readonly segmentation: boolean,
    /** per-class lowest score of a kept finding, from the manifest's postprocess.keep_confidence */
    readonly keepConfidence?: Readonly<Record<string, number>>,
  ) {}

  /**
   * `model` is a model.onnx file or a folder holding model.onnx (and our manifest.json with the class names).
   * MODEL_INVALID when it is missing, does not load or is not a YOLOv8 detector export; CONFIG_INVALID when the
   * class names given do not fit it; MODEL_PROVIDER when the runtime requires a GPU that cannot be used.
   */
  static async load(model: string, options: DetectorOptions = {}): Promise<YoloDetector> {
    const located = locateModel(model);
    const manifest = located.folder.manifestJson ?? {};
    let meta: Record<string, string> = {};
    try {
      meta = readOnnxFileInfo(join(located.folder.folder, located.file)).metadata;
    } catch {
      // not ONNX: OnnxModel.open says so
    }
    const imgsz = Array.isArray(manifest.imgsz) ? (manifest.imgsz as number[]) : parseImageSize(meta.imgsz);
    // the warm-up (when asked for) of an export with dynamic height and width runs at its imgsz
    const onnx = await located.folder.open(located.file, options.runtime, { warmUpDims: { batch: 1, height: imgsz?.[0] ?? 640, width: imgsz?.[1] ?? 640 } });
    try {
      const file = onnx.path;
      onnx.requireInputs(['images'], 'a YOLOv8 export');
      onnx.requireOutputs(['output0'], 'a YOLOv8 export');
      const [, , h, w] = onnx.input('images')!.shape;
      if (typeof h === 'number' && typeof w === 'number' && h !== w) throw new AnofairError('MODEL_INVALID', `${file} takes ${w}x${h} images; the gateway runs square YOLOv8 exports (imgsz=N)`);
      const size = typeof h === 'number' ? h : (imgsz?.[0] ?? 640);
      const fromManifest = manifest.names && typeof manifest.names === 'object' ? parseClassNames(JSON.stringify(manifest.names)) : Array.isArray(manifest.classes) ? (manifest.classes as string[]) : undefined;
      const classes = options.classes ?? fromManifest ?? parseClassNames(meta.names);
      if (!classes) throw new AnofairError('MODEL_INVALID', `${file}: no class names (no manifest.json with "names", no "names" in the ONNX metadata; pass them in the configuration)`);
      const rows = onnx.output('output0')!.shape[1];
      const proto = onnx.output('output1');
      const segmentation = proto !== undefined;
      if (segmentation) {
        const [, k, ph, pw] = proto.shape;
        if (proto.shape.length !== 4 || (typeof k === 'number' && k !== MASK_COEFFICIENTS) || (typeof ph === 'number' && typeof pw === 'number' && ph !== pw)) {
          throw new AnofairError('MODEL_INVALID', `${file}: output1 is [${proto.shape.join(', ')}]; a YOLOv8-seg export's prototype masks are [B, ${MASK_COEFFICIENTS}, S/4, S/4]`);
        }
      }
      const extra = segmentation ? MASK_COEFFICIENTS : 0;
      if (typeof rows === 'number' && rows !== 4 + classes.length + extra) {
        throw new AnofairError(options.classes ? 'CONFIG_INVALID' : 'MODEL_INVALID', `${file} scores ${rows - 4 - extra} classes${segmentation ? ` (after ${MASK_COEFFICIENTS} mask coefficients)` : ''} but ${classes.length} class names are given`);
      }
      const declaredText = options.textClasses ?? (Array.isArray(manifest.text_classes) ? (manifest.text_classes as string[]) : undefined);
      const textClasses = declaredText ?? classes.filter((c) => c === 'text');
      const unknown = textClasses.filter((c) => !classes.includes(c));
      if (unknown.length) throw new AnofairError(options.textClasses ? 'CONFIG_INVALID' : 'MODEL_INVALID', `${file}: text classes ${unknown.join(', ')} are not among the detector's classes (${classes.join(', ')})`);
      return new YoloDetector(onnx, classes, textClasses, size, segmentation, keepConfidenceOf(manifest, classes, file));
    } catch (err) {
      await onnx.release();
      throw err;
    }
  }

  /** the execution provider the session got ('cuda' or 'cpu') */
  get provider(): ExecutionProvider {
    return this.model.provider;
  }

  describe(): DetectorDescription {
    return { ...this.model.describe(), classes: [...this.classes], textClasses: [...this.textClasses], inputSize: this.inputSize, segmentation: this.segmentation };
  }

  async release(): Promise<void> {
    await this.model.release();
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
    const out = await this.model.run({ images: { data: input, dims: [1, 3, s, s] } });
    const output = out.output0!;
    const [, rows, n] = output.dims as [number, number, number];
    const data = output.data;
    const nc = rows - 4 - (this.segmentation ? MASK_COEFFICIENTS : 0);
    const conf = options.confidence ?? 0.25;
    const candidates: (Detection & { candidate: number })[] = [];
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
        candidate: k,
        classIndex: best,
        className: this.classes[best] ?? String(best),
        score,
        box: [clampX((cx - w / 2 - left) / r), clampY((cy - h / 2 - top) / r), clampX((cx + w / 2 - left) / r), clampY((cy + h / 2 - top) / r)],
      });
    }
    // per-class non-maximum suppression, highest score first
    candidates.sort((a, b) => b.score - a.score);
    const kept: (Detection & { candidate: number })[] = [];
    const threshold = options.iou ?? 0.6;
    for (const d of candidates) {
      if (kept.length >= (options.maxDetections ?? 300)) break;
      if (kept.some((k) => k.classIndex === d.classIndex && iou(k.box, d.box) > threshold)) continue;
      kept.push(d);
    }
    const protos = this.segmentation ? out.output1 : undefined;
    if (this.segmentation && !protos) throw new AnofairError('MODEL_INVALID', `${this.model.path}: a segmentation export returned no output1`);
    return kept.map(({ candidate, ...d }) => (protos ? { ...d, mask: maskOf(d.box, data, n, 4 + nc, candidate, protos.data, protos.dims as number[], { s, r, left, top }) } : d));
  }
}

/**
 * The detection's mask at the image's own pixels inside its box: the prototypes combined with the candidate's
 * coefficients at prototype resolution, then sampled bilinearly at each image pixel's place in the letterboxed
 * input; 1 where the sigmoid exceeds 0.5 (logit > 0), as ultralytics thresholds it.
 */
function maskOf(box: readonly number[], out0: ArrayLike<number>, n: number, firstCoefficient: number, candidate: number, protos: ArrayLike<number>, dims: number[], lb: { s: number; r: number; left: number; top: number }): DetectionMask {
  const [, k, mh, mw] = dims as [number, number, number, number];
  const logit = new Float32Array(mh * mw);
  for (let c = 0; c < k; c++) {
    const coefficient = out0[(firstCoefficient + c) * n + candidate]!;
    if (coefficient === 0) continue;
    const plane = c * mh * mw;
    for (let i = 0; i < mh * mw; i++) logit[i]! += coefficient * protos[plane + i]!;
  }
  const x0 = Math.floor(box[0]!);
  const y0 = Math.floor(box[1]!);
  const x1 = Math.ceil(box[2]!);
  const y1 = Math.ceil(box[3]!);
  const w = Math.max(0, x1 - x0);
  const h = Math.max(0, y1 - y0);
  const mask = new Uint8Array(w * h);
  const sx = mw / lb.s;
  const sy = mh / lb.s;
  for (let y = 0; y < h; y++) {
    const py = Math.min(mh - 1, Math.max(0, ((y0 + y + 0.5) * lb.r + lb.top) * sy - 0.5));
    const j = Math.min(mh - 2, Math.floor(py));
    const fy = mh > 1 ? py - j : 0;
    for (let x = 0; x < w; x++) {
      const px = Math.min(mw - 1, Math.max(0, ((x0 + x + 0.5) * lb.r + lb.left) * sx - 0.5));
      const i = Math.min(mw - 2, Math.floor(px));
      const fx = mw > 1 ? px - i : 0;
      const at = (jj: number, ii: number): number => logit[Math.max(0, jj) * mw + Math.max(0, ii)]!;
      const v = (at(j, i) * (1 - fx) + at(j, i + 1) * fx) * (1 - fy) + (at(j + 1, i) * (1 - fx) + at(j + 1, i + 1) * fx) * fy;
      if (v > 0) mask[y * w + x] = 1;
    }
  }
  return { box: [x0, y0, x1, y1], data: mask };
}
