import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AnofairError } from '../errors/anofair-error.js';

/**
 * Which onnxruntime execution provider a session gets. onnxruntime-node has no "active provider" API, and a
 * provider list like ['cuda', 'cpu'] fails as a whole when the CUDA provider cannot be loaded; so each provider is
 * tried alone, in the configured order, and the one whose session was created is recorded, with the reason each
 * earlier one failed. (A CUDA session still runs the few nodes CUDA has no kernel for on the CPU: onnxruntime always
 * keeps the CPU provider as the last resort inside a session.)
 */

export type ExecutionProvider = 'cuda' | 'cpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cuda', 'cpu'];

/** How models are run: one object shared by the detector, the inpainting pipeline and the evaluation models. */
export interface ModelRuntimeSettings {
  /** execution providers in order of preference, e.g. ['cuda', 'cpu'] on a GPU host (default ['cpu']) */
  executionProviders?: ExecutionProvider[];
  /** refuse to load (MODEL_PROVIDER) rather than fall back to the CPU when CUDA cannot be used */
  requireGpu?: boolean;
  /** threads of one session's operators (default 1: sessions run inside a pool of worker threads) */
  intraOpNumThreads?: number;
  /** one run on zero inputs at load time, so that the first image does not pay for allocation (default false) */
  warmUp?: boolean;
  /** onnxruntime graph optimization level (default 'all') */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export const DEFAULT_INTRA_OP_THREADS = 1;

/** The settings with their defaults filled in, validated (CONFIG_INVALID names the field). */
export interface ResolvedRuntimeSettings {
  executionProviders: ExecutionProvider[];
  requireGpu: boolean;
  intraOpNumThreads: number;
  warmUp: boolean;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}

export function resolveRuntimeSettings(settings: ModelRuntimeSettings = {}): ResolvedRuntimeSettings {
  const providers = settings.executionProviders ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0) throw new AnofairError('CONFIG_INVALID', 'runtime.executionProviders: give at least one of cuda, cpu');
  for (const p of providers) {
    if (!EXECUTION_PROVIDERS.includes(p)) throw new AnofairError('CONFIG_INVALID', `runtime.executionProviders: unknown provider "${String(p)}" (known: ${EXECUTION_PROVIDERS.join(', ')})`);
  }
  const threads = settings.intraOpNumThreads ?? DEFAULT_INTRA_OP_THREADS;
  if (!Number.isInteger(threads) || threads < 1) throw new AnofairError('CONFIG_INVALID', `runtime.intraOpNumThreads: ${threads} is not a positive integer`);
  const level = settings.graphOptimizationLevel ?? 'all';
  if (!['disabled', 'basic', 'extended', 'all'].includes(level)) throw new AnofairError('CONFIG_INVALID', `runtime.graphOptimizationLevel: unknown level "${level}"`);
  return { executionProviders: [...new Set(providers)], requireGpu: settings.requireGpu ?? false, intraOpNumThreads: threads, warmUp: settings.warmUp ?? false, graphOptimizationLevel: level };
}

/** The CUDA provider's shared libraries onnxruntime-node loads from its own bin folder (installed by its install script). */
export const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** Where onnxruntime-node looks for its provider libraries, and which CUDA ones are not there. */
export function cudaProviderInstall(): { folder: string; missing: string[] } {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  const folder = join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  return { folder, missing: CUDA_PROVIDER_LIBRARIES.filter((f) => !existsSync(join(folder, f))) };
}

/** Why a CUDA session could not be created, in words a GPU host's operator can act on. */
export function explainCudaFailure(message: string): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `onnxruntime-node has CUDA only on Linux x64, not ${process.platform}/${process.arch} (${message})`;
  if (/Failed to load (shared )?library/i.test(message)) {
    const { folder, missing } = cudaProviderInstall();
    if (missing.length) return `the CUDA provider libraries are not installed (${missing.join(', ')} missing in ${folder}; install with ONNXRUNTIME_NODE_INSTALL=cuda12, see docs/GPU.md)`;
    return `the CUDA provider library is installed but does not load: a CUDA 12 or cuDNN 9 library it needs is not on the loader path (LD_LIBRARY_PATH, see docs/GPU.md) (${message})`;
  }
  return `CUDA could not be used: ${message}`;
}

/** One provider that was tried and not used, and why. */
export interface ProviderFallback {
  provider: ExecutionProvider;
  reason: string;
}

// A CUDA provider library that does not load will not load later in this process either: remember it, so that
// every further model does not try again (and onnxruntime does not log the same error once per model).
let cudaLibraryFailure: string | undefined;

/** Forget a remembered CUDA library failure (tests). */
export function forgetProviderFailures(): void {
  cudaLibraryFailure = undefined;
}

/**
 * Creates the session with the first provider that works. Throws MODEL_PROVIDER when requireGpu is set and CUDA
 * was not had; rethrows the last error (a model problem) when no provider could load the model.
 */
export async function createWithProviders(
  path: string,
  settings: ResolvedRuntimeSettings,
  base: ort.InferenceSession.SessionOptions,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider; fallbacks: ProviderFallback[] }> {
  const order = settings.executionProviders;
  if (settings.requireGpu && !order.includes('cuda')) {
    throw new AnofairError('MODEL_PROVIDER', `${path}: requireGpu is set but executionProviders [${order.join(', ')}] does not include cuda`);
  }
  const fallbacks: ProviderFallback[] = [];
  let lastError: unknown;
  for (const provider of order) {
    if (settings.requireGpu && provider !== 'cuda') break;
    if (provider === 'cuda' && cudaLibraryFailure) {
      fallbacks.push({ provider, reason: cudaLibraryFailure });
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: [provider] });
      return { session, provider, fallbacks };
    } catch (err) {
      lastError = err;
      const message = (err as Error).message ?? String(err);
      if (provider === 'cuda') {
        const reason = explainCudaFailure(message);
        if (/Failed to load (shared )?library/i.test(message)) cudaLibraryFailure = reason;
        fallbacks.push({ provider, reason });
      } else {
        fallbacks.push({ provider, reason: message });
      }
    }
  }
  if (settings.requireGpu) {
    const why = fallbacks.find((f) => f.provider === 'cuda')?.reason ?? 'cuda was not tried';
    throw new AnofairError('MODEL_PROVIDER', `${path}: requireGpu is set and the CUDA execution provider cannot be used: ${why}`, { path, fallbacks });
  }
  const cpu = fallbacks.find((f) => f.provider === 'cpu');
  if (!cpu) {
    const why = fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ');
    throw new AnofairError('MODEL_PROVIDER', `${path}: none of the execution providers [${order.join(', ')}] can be used (${why}); add cpu to fall back`, { path, fallbacks });
  }
  const detail = cpu.reason;
  throw new AnofairError('MODEL_INVALID', `${path} does not load in onnxruntime: ${detail}`, { path, fallbacks }, { cause: lastError });
}
