// The TensorFlow.js runtime: backend selection, the ViT of a ModelIR and its building blocks.
// docs/tfjs-backend.md explains the choices (layouts, initialisation, wasm workarounds).
export { BACKEND_ORDER, describeBackends, selectBackend } from './backend.js';
export type { BackendCandidate, BackendDescription, BackendPreference, SelectedBackend, Tf } from './backend.js';
export { crossEntropy, dropPath, dropout, gelu, layerNorm, linear, patchify } from './ops.js';
export type { UniformSource } from './ops.js';
export {
  createParams,
  disposeParams,
  fromCheckpointData,
  loadCheckpointTensors,
  toCheckpointData,
  toCheckpointTensors,
} from './params.js';
export type { Param, VitParams } from './params.js';
export { VitModel } from './vit.js';
export type { ForwardContext, VitOptions } from './vit.js';
