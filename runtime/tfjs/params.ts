// The ViT's parameters as tf.Variables, in the layouts the forward pass wants, with conversion to and
// from checkpoint layout (timm / PyTorch, runtime/checkpoint/names.ts).
//
// Layouts: a Linear weight is [out, in] in a checkpoint and [in, out] here, so the forward matMul is
// x @ w with no transpose (wasm's fast path). The patch embedding's Conv2d weight [D, C, p, p] is held
// as [C*p*p, D], the matrix patchify()'s rows multiply. Everything else keeps its checkpoint shape.
// Both conversions are the transpose of the checkpoint tensor viewed as [shape[0], rest].
//
// Initialisation follows timm's VisionTransformer (init mode ''), drawn in checkpoint layout from the
// counter-based generator (runtime/random.ts), one stream per tensor name, so a seed gives the same
// weights on every run and backend, and a tensor's values do not depend on which others exist.

import type { Variable } from '@tensorflow/tfjs';
import type { ModelIR } from '../../compiler/ir/types.js';
import { parameterSpecs, type ParamSpec } from '../checkpoint/names.js';
import { formatShape, shapeSize, toFloat32Tensor, type Tensor } from '../checkpoint/safetensors.js';
import { gaussianFloats, Purpose, seed32, streamId, uniformFloats } from '../random.js';
import type { Tf } from './backend.js';

/** How a tensor is held here relative to its checkpoint layout. */
export type Layout = 'same' | 'transposed';

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

/** Random-stream purpose of the initial weights (registered in runtime/random.ts). */
export const INIT_PURPOSE = Purpose.init;

export function layoutOf(spec: ParamSpec): Layout {
  const rank = spec.shape.length;
  return spec.name.endsWith('.weight') && (rank === 2 || rank === 4) ? 'transposed' : 'same';
}

/** The shape held here: [rest, shape[0]] for transposed tensors, [C*p*p, D] for the patch conv. */
export function variableShape(spec: ParamSpec): number[] {
  if (layoutOf(spec) === 'same') return spec.shape;
  const [rows, ...rest] = spec.shape;
  return [shapeSize(rest), rows];
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

/** FNV-1a of the name: the tensor's random stream, independent of its position in the list. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

// Standard normal quantile (P. J. Acklam's rational approximation, relative error below 1.2e-9).
const A = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
const B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const E = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

export function normalQuantile(p: number): number {
  if (p <= 0 || p >= 1) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const tail = (q: number) =>
    (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((E[0] * q + E[1]) * q + E[2]) * q + E[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

/** Phi(-2) and Phi(2): a uniform mapped into [PHI_M2, PHI_P2] and through the quantile is N(0,1) cut at +/-2. */
const PHI_P2 = 0.9772498680518208;
const PHI_M2 = 1 - PHI_P2;

/** How each tensor starts (docs/tfjs-backend.md, "Initialisation"). */
export function initRule(spec: ParamSpec): string {
  const { name, shape } = spec;
  if (name === 'patch_embed.proj.weight' || name === 'patch_embed.proj.bias') return 'conv-default';
  if (name === 'cls_token') return 'normal(1e-6)';
  if (name === 'pos_embed') return 'trunc-normal(0.02)';
  if (name.endsWith('.weight')) return shape.length === 2 ? 'trunc-normal(0.02)' : 'ones';
  return 'zeros';
}

/** The initial value of one tensor, in checkpoint layout. */
export function initialValue(spec: ParamSpec, convFanIn: number, seed: number): Float32Array {
  const n = shapeSize(spec.shape);
  const draw = (count: number) => uniformFloats(seed32(seed), streamId(INIT_PURPOSE, nameHash(spec.name)), count);
  const rule = initRule(spec);
  switch (rule) {
    case 'conv-default': {
      // PyTorch's Conv2d default (kaiming_uniform with a = sqrt 5, and its bias rule): U(+/- 1/sqrt(fan_in)).
      // timm's default init only re-initialises nn.Linear, so this is what timm's patch_embed starts from.
      const bound = 1 / Math.sqrt(convFanIn);
      return draw(n).map((u) => (2 * u - 1) * bound);
    }
    case 'normal(1e-6)':
      return gaussianFloats(seed32(seed), streamId(INIT_PURPOSE, nameHash(spec.name)), n).map((z) => z * 1e-6);
    case 'trunc-normal(0.02)':
      // Inverse-CDF sampling: one uniform per value, no rejection loop.
      return draw(n).map((u) => 0.02 * normalQuantile(PHI_M2 + (PHI_P2 - PHI_M2) * (u + 0.5 / 16777216)));
    case 'ones':
      return new Float32Array(n).fill(1);
    default:
      return new Float32Array(n);
  }
}

/** All initial tensors of a model in checkpoint layout, as a checkpoint would hold them. */
export function initialTensors(model: ModelIR, seed: number): Record<string, Tensor> {
  const fanIn = model.image.channels * model.patch * model.patch;
  const out: Record<string, Tensor> = {};
  for (const spec of parameterSpecs(model)) {
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data: initialValue(spec, fanIn, seed) };
  }
  return out;
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
