/**
 * The model runtime room: every onnxruntime session of the gateway (detector, inpainting pipeline, evaluation
 * models) is opened here, with the execution provider, session options and warm-up from one ModelRuntimeSettings,
 * and fed in the tensor types the model declares. See docs/GPU.md.
 */
export {
  CUDA_PROVIDER_LIBRARIES,
  DEFAULT_INTRA_OP_THREADS,
  EXECUTION_PROVIDERS,
  cudaProviderInstall,
  forgetProviderFailures,
  resolveRuntimeSettings,
  type ExecutionProvider,
  type ModelRuntimeSettings,
  type ProviderFallback,
  type ResolvedRuntimeSettings,
} from './execution-providers.js';
export { locateModel, loadModel, openModelFolder, type ModelFolder } from './model-folder.js';
export { parseClassNames, parseImageSize, readOnnxFileInfo, type OnnxFileInfo } from './onnx-metadata.js';
export { OnnxModel, type Feed, type ModelDescription, type OpenOptions, type Output, type TensorInfo } from './onnx-session.js';
export { float32ToHalf, fromHalfBits, halfBits, halfToFloat32, readFloat32, tensorOf, SUPPORTED_TYPES, type SupportedType, type TensorData } from './tensor-dtype.js';
