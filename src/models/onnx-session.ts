import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { AnofairError } from '../errors/anofair-error.js';
import type { ModelComponent } from '../train/model-manifest.js';
import { createWithProviders, resolveRuntimeSettings, type ExecutionProvider, type ModelRuntimeSettings, type ProviderFallback } from './execution-providers.js';
import { readOnnxFileInfo, type OnnxFileInfo } from './onnx-metadata.js';
import { isSupportedType, readFloat32, tensorOf, type TensorData } from './tensor-dtype.js';

/**
 * One ONNX model in onnxruntime-node: the only place outside src/train that creates an InferenceSession. It picks
 * the execution provider (execution-providers.ts), applies the session options, optionally warms up, and builds
 * every input in the type the model declares and reads every output back as Float32Array (tensor-dtype.ts), so
 * that fp32 and fp16 exports go through the same code.
 */

/** A declared input or output. type: the element type ('float32', 'float16', 'int64', ...) or 'non-tensor'. */
export interface TensorInfo {
  name: string;
  type: string;
  /** numbers for fixed dims, names for symbolic ones (e.g. 'batch'); empty when the model does not say */
  shape: (number | string)[];
}

/** What was loaded and how: for start-up logs and /status. No pixel data, no paths but the model's own. */
export interface ModelDescription {
  path: string;
  /** the provider the session was created with */
  provider: ExecutionProvider;
  /** the configured order */
  requested: ExecutionProvider[];
  /** providers tried before `provider` and why they were not used (e.g. cuda when its libraries are missing) */
  fallbacks: ProviderFallback[];
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  intraOpNumThreads: number;
  graphOptimizationLevel: string;
  loadMs: number;
  /** milliseconds of the warm-up run, when one was asked for */
  warmUpMs?: number;
}

export interface OpenOptions {
  /** warm-up shapes by input name (take precedence over warmUpDims) */
  warmUpShapes?: Record<string, readonly number[]>;
  /** warm-up values of symbolic dims by name (e.g. { batch: 1 }); any other dynamic dim is 1 */
  warmUpDims?: Record<string, number>;
  /** our manifest's entry for this file: its declared input and output types must be the model's */
  declared?: ModelComponent;
}

/** An input value: a tensor already built (model.tensor()), or numbers converted to the declared type. */
export type Feed = ort.Tensor | { data: TensorData; dims: readonly number[] };

export interface Output {
  data: Float32Array;
  dims: readonly number[];
  /** the element type the model produced (float16 outputs are decoded into data) */
  type: string;
}

function isTensor(feed: Feed): feed is ort.Tensor {
  return feed instanceof ort.Tensor;
}

function infoOf(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  return meta.isTensor ? { name: meta.name, type: meta.type, shape: [...meta.shape] } : { name: meta.name, type: 'non-tensor', shape: [] };
}

function problem(path: string, message: string): AnofairError {
  return new AnofairError('MODEL_INVALID', `${path}: ${message}`, { path });
}

/** Mismatches between our manifest's declared I/O and the model's own (an fp16 file with an fp32 manifest, ...). */
function compareDeclared(declared: ModelComponent, inputs: TensorInfo[], outputs: TensorInfo[]): string[] {
  const bad: string[] = [];
  for (const [kind, want, have] of [['input', declared.inputs, inputs], ['output', declared.outputs, outputs]] as const) {
    for (const d of want) {
      const h = have.find((x) => x.name === d.name);
      if (!h) bad.push(`manifest.json declares ${kind} "${d.name}", the model has no such ${kind} (${kind}s: ${have.map((x) => x.name).join(', ')})`);
      else if (h.type !== d.dtype) bad.push(`manifest.json declares ${kind} "${d.name}" as ${d.dtype}, the model as ${h.type}`);
    }
    for (const h of have) if (!want.some((d) => d.name === h.name)) bad.push(`the model has ${kind} "${h.name}" that manifest.json does not declare`);
  }
  return bad;
}

export class OnnxModel {
  private readonly inputInfo: Map<string, TensorInfo>;
  private readonly outputInfo: Map<string, TensorInfo>;
  private warmUpMs?: number;

  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    readonly provider: ExecutionProvider,
    private readonly base: Omit<ModelDescription, 'inputs' | 'outputs' | 'warmUpMs' | 'path' | 'provider'>,
    /** the file's ONNX metadata (producer, opsets, metadata_props) */
    readonly fileInfo: OnnxFileInfo,
  ) {
    this.inputInfo = new Map(session.inputMetadata.map((m) => [m.name, infoOf(m)]));
    this.outputInfo = new Map(session.outputMetadata.map((m) => [m.name, infoOf(m)]));
  }

  /**
   * Opens an .onnx file. Errors: MODEL_INVALID naming the path and what is wrong (missing, not ONNX, does not load,
   * differs from its manifest, warm-up failed); MODEL_PROVIDER when requireGpu is set and CUDA cannot be used;
   * CONFIG_INVALID for settings out of range.
   */
  static async open(path: string, runtime: ModelRuntimeSettings = {}, options: OpenOptions = {}): Promise<OnnxModel> {
    const settings = resolveRuntimeSettings(runtime);
    if (!existsSync(path)) throw problem(path, 'not found');
    if (!statSync(path).isFile()) throw problem(path, 'is not a file');
    let fileInfo: OnnxFileInfo;
    try {
      fileInfo = readOnnxFileInfo(path);
    } catch (err) {
      throw problem(path, `is not an ONNX model (${(err as Error).message})`);
    }
    const t0 = performance.now();
    const { session, provider, fallbacks } = await createWithProviders(path, settings, {
      graphOptimizationLevel: settings.graphOptimizationLevel,
      intraOpNumThreads: settings.intraOpNumThreads,
    });
    const model = new OnnxModel(path, session, provider, {
      requested: settings.executionProviders,
      fallbacks,
      intraOpNumThreads: settings.intraOpNumThreads,
      graphOptimizationLevel: settings.graphOptimizationLevel,
      loadMs: Math.round(performance.now() - t0),
    }, fileInfo);
    try {
      if (options.declared) {
        const bad = compareDeclared(options.declared, model.inputs, model.outputs);
        if (bad.length) throw problem(path, bad.join('; '));
      }
      if (settings.warmUp) await model.warmUp(options);
    } catch (err) {
      await model.release();
      throw err;
    }
    return model;
  }

  get inputs(): TensorInfo[] {
    return [...this.inputInfo.values()];
  }

  get outputs(): TensorInfo[] {
    return [...this.outputInfo.values()];
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  input(name: string): TensorInfo | undefined {
    return this.inputInfo.get(name);
  }

  output(name: string): TensorInfo | undefined {
    return this.outputInfo.get(name);
  }

  /** MODEL_INVALID naming the file and the missing inputs (and what it has) unless it has all of them. */
  requireInputs(names: readonly string[], what = 'the model'): void {
    const missing = names.filter((n) => !this.inputInfo.has(n));
    if (missing.length) throw problem(this.path, `has no input ${missing.join(', ')} (inputs: ${this.inputNames.join(', ')}): not ${what}`);
  }

  requireOutputs(names: readonly string[], what = 'the model'): void {
    const missing = names.filter((n) => !this.outputInfo.has(n));
    if (missing.length) throw problem(this.path, `has no output ${missing.join(', ')} (outputs: ${this.outputNames.join(', ')}): not ${what}`);
  }

  /** A tensor for input `name` in the element type the model declares for it. */
  tensor(name: string, data: TensorData, dims: readonly number[]): ort.Tensor {
    const info = this.inputInfo.get(name);
    if (!info) throw problem(this.path, `has no input ${name} (inputs: ${this.inputNames.join(', ')})`);
    if (!isSupportedType(info.type)) throw problem(this.path, `input ${name} is ${info.type}, which the gateway cannot feed`);
    return tensorOf(info.type, data, dims, name);
  }

  /** Runs the model; every output comes back as Float32Array whatever its declared type. */
  async run(feeds: Record<string, Feed>): Promise<Record<string, Output>> {
    const raw = await this.runTensors(feeds);
    const out: Record<string, Output> = {};
    for (const [name, value] of Object.entries(raw)) {
      const t = value as ort.Tensor;
      out[name] = { data: readFloat32(t), dims: t.dims, type: t.type };
    }
    return out;
  }

  /** Runs the model and returns onnxruntime's own output tensors. */
  async runTensors(feeds: Record<string, Feed>): Promise<ort.InferenceSession.ReturnType> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) tensors[name] = isTensor(feed) ? feed : this.tensor(name, feed.data, feed.dims);
    return this.session.run(tensors);
  }

  /** The warm-up shape of an input: given, else declared with symbolic dims from warmUpDims (default 1). */
  warmUpShape(name: string, options: Pick<OpenOptions, 'warmUpShapes' | 'warmUpDims'> = {}): number[] {
    const given = options.warmUpShapes?.[name];
    if (given) return [...given];
    const info = this.inputInfo.get(name);
    return (info?.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : typeof d === 'string' && options.warmUpDims?.[d] !== undefined ? options.warmUpDims[d]! : 1));
  }

  /** One run on zeros of the declared shapes (MODEL_INVALID when the model cannot run them). */
  async warmUp(options: Pick<OpenOptions, 'warmUpShapes' | 'warmUpDims'> = {}): Promise<number> {
    const t0 = performance.now();
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const name of this.inputNames) {
      const dims = this.warmUpShape(name, options);
      feeds[name] = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims };
    }
    try {
      await this.runTensors(feeds);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([n, f]) => `${n} [${f.dims.join(', ')}]`).join(', ');
      throw problem(this.path, `the warm-up run on zeros (${shapes}) failed: ${(err as Error).message}`);
    }
    this.warmUpMs = Math.round(performance.now() - t0);
    return this.warmUpMs;
  }

  describe(): ModelDescription {
    return {
      path: this.path,
      provider: this.provider,
      ...this.base,
      requested: [...this.base.requested],
      fallbacks: this.base.fallbacks.map((f) => ({ ...f })),
      inputs: this.inputs,
      outputs: this.outputs,
      ...(this.warmUpMs !== undefined ? { warmUpMs: this.warmUpMs } : {}),
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
