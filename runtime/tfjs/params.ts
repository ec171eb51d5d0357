// The ViT's parameters as tf.Variables, in the layouts the forward pass wants (compiler/ir/params.ts
// layoutOf: Linear weights [in, out], so the forward matMul is x @ w with no transpose, wasm's fast
// path), with conversion to and from checkpoint layout (timm / PyTorch). The initial values are
// compiler/ir/init.ts's, the same on every backend.

import type { Variable } from '@tensorflow/tfjs';
import { initialTensors } from '../../compiler/ir/init.js';
import { layoutOf, parameterSpecs, variableShape, type Layout, type ParamSpec } from '../../compiler/ir/params.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import { formatShape, shapeSize, toFloat32Tensor, type Tensor } from '../checkpoint/safetensors.js';
import type { Tf } from './backend.js';

export interface Param {
  /** The checkpoint name (timm's), e.g. 'blocks.0.attn.qkv.weight'. */
  name: string;
  checkpointShape: number[];
  layout: Layout;
  variable: Variable;
  /** timm's rule: no weight decay for biases, norms, pos_embed and cls_token (tensors of rank <= 1 or named so). */
  weightDecay: boolean;
}

export interface VitParams {
  /** In parameterSpecs order (timm's state_dict order). */
  list: Param[];
  byName: Map<string, Param>;
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

function toVariableLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (layoutOf(spec) === 'same') return data;
  return transpose2d(data, spec.shape[0], shapeSize(spec.shape.slice(1)));
}

function toCheckpointLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (layoutOf(spec) === 'same') return data;
  const [cols, rows] = variableShape(spec);
  return transpose2d(data, cols, rows);
}

/**
 * Values of a parameter's variable layout (its value, its gradient, an optimizer slot) rearranged
 * into checkpoint layout, and back. Optimizer state is saved in checkpoint layout too.
 */
export function toCheckpointData(p: Param, data: Float32Array): Float32Array {
  return toCheckpointLayout({ name: p.name, shape: p.checkpointShape }, data);
}

export function fromCheckpointData(p: Param, data: Float32Array): Float32Array {
  return toVariableLayout({ name: p.name, shape: p.checkpointShape }, data);
}

function decays(spec: ParamSpec): boolean {
  return spec.shape.length > 1 && spec.name !== 'pos_embed' && spec.name !== 'cls_token';
}

/**
 * Creates the model's variables, initialised from `seed`. tfjs variable names are global to the
 * engine, so they are the checkpoint names behind an optional `scope` (e.g. 'ema/'); a second live
 * model in the same scope is refused until the first is disposed.
 */
export function createParams(tf: Tf, model: ModelIR, seed: number, scope = ''): VitParams {
  const registered = (tf.engine() as unknown as { registeredVariables: Record<string, unknown> }).registeredVariables;
  const specs = parameterSpecs(model);
  const taken = specs.filter((s) => registered[scope + s.name] !== undefined).map((s) => scope + s.name);
  if (taken.length) {
    throw new Error(`tfjs variables ${taken.slice(0, 3).join(', ')}${taken.length > 3 ? ', ...' : ''} already exist: dispose the other model or give this one another scope`);
  }
  const init = initialTensors(model, seed);
  const list = specs.map((spec): Param => {
    const values = toVariableLayout(spec, init[spec.name].data as Float32Array);
    const initial = tf.tensor(values, variableShape(spec), 'float32');
    const variable = tf.variable(initial, true, scope + spec.name);
    initial.dispose(); // the variable holds its own reference to the data
    return { name: spec.name, checkpointShape: spec.shape, layout: layoutOf(spec), variable, weightDecay: decays(spec) };
  });
  return { list, byName: new Map(list.map((p) => [p.name, p])) };
}

export function disposeParams(params: VitParams): void {
  for (const p of params.list) p.variable.dispose();
}

/** Every parameter in checkpoint layout (F32, timm names and shapes), ready for writeCheckpoint. */
export function toCheckpointTensors(params: VitParams): Record<string, Tensor & { dtype: 'F32'; data: Float32Array }> {
  const out: Record<string, Tensor & { dtype: 'F32'; data: Float32Array }> = {};
  for (const p of params.list) {
    out[p.name] = { dtype: 'F32', shape: [...p.checkpointShape], data: toCheckpointData(p, p.variable.dataSync() as Float32Array) };
  }
  return out;
}

/**
 * Assigns checkpoint-layout tensors (any float dtype) to the variables. Every parameter must be
 * present with its exact shape; anything wrong is reported all at once and nothing is assigned.
 */
export function loadCheckpointTensors(tf: Tf, params: VitParams, tensors: Record<string, Tensor>): void {
  const problems: string[] = [];
  for (const p of params.list) {
    const t = tensors[p.name];
    if (!t) problems.push(`missing ${p.name}`);
    else if (formatShape(t.shape) !== formatShape(p.checkpointShape)) {
      problems.push(`${p.name} has shape ${formatShape(t.shape)}, the model needs ${formatShape(p.checkpointShape)}`);
    }
  }
  const extra = Object.keys(tensors).filter((n) => !params.byName.has(n));
  for (const name of extra) problems.push(`unexpected ${name}`);
  if (problems.length) {
    const shown = problems.slice(0, 12).join('; ') + (problems.length > 12 ? `; and ${problems.length - 12} more` : '');
    throw new Error(`cannot load the parameters: ${shown}`);
  }
  for (const p of params.list) {
    const data = toFloat32Tensor(tensors[p.name]).data as Float32Array;
    tf.tidy(() => p.variable.assign(tf.tensor(fromCheckpointData(p, data), p.variable.shape, 'float32')));
  }
}
