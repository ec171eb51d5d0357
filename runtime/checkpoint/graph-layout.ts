// Between checkpoint tensors (timm layouts, allocation state as three tensors per allocating layer)
// and the tensors of an op graph (compiler/graph/types.ts: parameters in their graph layout, the
// allocation state as one u32 tensor), for the backends that hold the graph's tensors as buffers.
import type { GraphAllocationState, GraphParam } from '../../compiler/graph/types.js';
import type { OptimizerState } from './names.js';
import { formatShape, toFloat32Tensor, type Tensor } from './safetensors.js';

type PlanParam = Pick<GraphParam, 'name' | 'checkpointShape' | 'layout'>;
type PlanAllocationState = Pick<GraphAllocationState, 'layer' | 'groups'>;

/** A checkpoint-layout tensor's values as the graph holds them ('transposed': [shape[0], rest] transposed). */
export function toGraphLayout(p: PlanParam, data: Float32Array): Float32Array {
  if (p.layout === 'same') return data;
  const rows = p.checkpointShape[0]!;
  return transpose(data, rows, data.length / rows);
}

/** The graph's values of a parameter (or its gradient, or an optimizer slot) in checkpoint layout. */
export function toCheckpointLayout(p: PlanParam, data: Float32Array): Float32Array {
  if (p.layout === 'same') return data;
  const rows = p.checkpointShape[0]!;
  return transpose(data, data.length / rows, rows);
}

/** Transposes a row-major [rows, cols] matrix. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** The checkpoint tensor of a parameter as F32 in graph layout, or a line saying why it does not fit. */
export function graphParamData(p: PlanParam, t: Tensor | undefined, what = p.name): Float32Array | string {
  if (!t) return `missing ${what}`;
  if (formatShape(t.shape) !== formatShape(p.checkpointShape)) return `${what} has shape ${formatShape(t.shape)}, the model needs ${formatShape(p.checkpointShape)}`;
  return toGraphLayout(p, toFloat32Tensor(t).data as Float32Array);
}

export const stateName = (layer: number, field: 'counts' | 'cache' | 'score') => `blocks.${layer}.attn.alloc.${field}`;

/**
 * The state tensor's words from checkpoint tensors: counts, cache and score, then 'initialised' = 1
 * (a checkpoint's state comes from training, as runtime/tfjs/attention.ts loadAttentionState
 * assumes) and no step done yet in this process (last step + 1 = 0).
 */
function stateWords(s: PlanAllocationState, tensors: Record<string, Tensor>): Uint32Array | string {
  const G = s.groups;
  const words = new Uint32Array(3 * G + 2);
  const floats = new Float32Array(words.buffer);
  for (const [i, field] of (['counts', 'cache', 'score'] as const).entries()) {
    const t = tensors[stateName(s.layer, field)];
    if (!t) return `missing ${stateName(s.layer, field)}`;
    if (t.shape.length !== 1 || t.shape[0] !== G) return `${stateName(s.layer, field)} has shape ${formatShape(t.shape)}, expected [${G}]`;
    const values = t.dtype === 'I32' ? Float64Array.from(t.data as Int32Array) : (toFloat32Tensor(t).data as Float32Array);
    for (let g = 0; g < G; g++) {
      if (field === 'counts') words[g] = Math.round(values[g]!);
      else floats[i * G + g] = values[g]!;
    }
  }
  words[3 * G] = 1;
  return words;
}

/** The checkpoint tensors of a state tensor (counts as I32, cache and score as F32). */
function stateTensorsOf(s: PlanAllocationState, words: Uint32Array): Record<string, Tensor> {
  const G = s.groups;
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  return {
    [stateName(s.layer, 'counts')]: { dtype: 'I32', shape: [G], data: Int32Array.from(words.subarray(0, G)) },
    [stateName(s.layer, 'cache')]: { dtype: 'F32', shape: [G], data: Float32Array.from(floats.subarray(G, 2 * G)) },
    [stateName(s.layer, 'score')]: { dtype: 'F32', shape: [G], data: Float32Array.from(floats.subarray(2 * G, 3 * G)) },
  };
}

export const gradStatName = (layer: number) => `blocks.${layer}.attn.alloc.key_grad`;

/** A key_grad layer's lagged statistic (the graph's [1, G] row) as its checkpoint tensor [G]; nothing for other layers. */
function gradStatTensorsOf(s: PlanAllocationState & { gradStat?: string }, row: Float32Array | null): Record<string, Tensor> {
  if (!s.gradStat || !row) return {};
  return { [gradStatName(s.layer)]: { dtype: 'F32', shape: [s.groups], data: Float32Array.from(row.subarray(0, s.groups)) } };
}

/** The row of a key_grad layer from checkpoint tensors (null: the layer has none), or a line saying why it does not fit. */
function gradStatRow(s: PlanAllocationState & { gradStat?: string }, tensors: Record<string, Tensor>): Float32Array | string | null {
  if (!s.gradStat) return null;
  const t = tensors[gradStatName(s.layer)];
  if (!t) return `missing ${gradStatName(s.layer)}`;
  if (t.shape.length !== 1 || t.shape[0] !== s.groups) return `${gradStatName(s.layer)} has shape ${formatShape(t.shape)}, expected [${s.groups}]`;
  return Float32Array.from(toFloat32Tensor(t).data as Float32Array);
}

/**
 * What loading a checkpoint writes into a backend's tensors (`at`: the tensor or buffer of a
 * parameter, of a state, of a gradient statistic or slot, by name): the parameters, then the
 * allocation state and the optimizer slots where the checkpoint has them. Throws, listing what does
 * not fit, before anything is written.
 */
export function checkpointWrites<P extends PlanParam & { slots: Record<string, string> }, S extends PlanAllocationState & { gradStat?: string }>(
  g: { params: P[]; allocationState: S[]; training: { optimizer: string } | null },
  at: (x: P | S) => string,
  t: { params: Record<string, Tensor>; state?: Record<string, Tensor>; optimizer?: OptimizerState },
): [string, Float32Array | Uint32Array][] {
  const problems: string[] = [];
  const writes: [string, Float32Array | Uint32Array][] = [];
  const write = (to: string, data: Float32Array | Uint32Array | string | null) => {
    if (typeof data === 'string') problems.push(data);
    else if (data) writes.push([to, data]);
  };
  const wanted = new Set(g.params.map((p) => p.name));
  for (const p of g.params) write(at(p), graphParamData(p, t.params[p.name]));
  for (const name of Object.keys(t.params)) if (!wanted.has(name)) problems.push(`unexpected ${name}`);
  if (t.state) {
    for (const s of g.allocationState) {
      write(at(s), stateWords(s, t.state));
      write(s.gradStat ?? '', gradStatRow(s, t.state));
    }
  }
  if (t.optimizer) {
    const slots = new Set(g.params.flatMap((p) => Object.keys(p.slots)));
    for (const slot of Object.keys(t.optimizer)) if (!slots.has(slot)) problems.push(`slot '${slot}' is not used by ${g.training?.optimizer ?? 'an engine without a run'}`);
    for (const p of g.params) {
      for (const [slot, to] of Object.entries(p.slots)) write(to, graphParamData(p, t.optimizer[slot]?.[p.name], `optimizer.${slot}.${p.name}`));
    }
  }
  if (problems.length) throw new Error(`cannot load the checkpoint: ${problems.slice(0, 12).join('; ')}${problems.length > 12 ? `; and ${problems.length - 12} more` : ''}`);
  return writes;
}

/**
 * The checkpoint tensors of a backend's tensors (`at` names the tensor or buffer of a parameter or a
 * state; `f32` and `u32` give a tensor's values by name): the parameters and the allocation state,
 * and the optimizer slots with `optimizer`.
 */
export function checkpointTensors<P extends PlanParam & { slots: Record<string, string> }, S extends PlanAllocationState & { gradStat?: string }>(
  g: { params: P[]; allocationState: S[] },
  at: (x: P | S) => string,
  values: { f32(name: string): Float32Array; u32(name: string): Uint32Array },
  optimizer: boolean,
): { params: Record<string, Tensor>; state: Record<string, Tensor>; optimizer: OptimizerState } {
  const tensor = (p: P, name: string): Tensor => ({ dtype: 'F32', shape: [...p.checkpointShape], data: toCheckpointLayout(p, values.f32(name)) });
  const out = { params: {} as Record<string, Tensor>, state: {} as Record<string, Tensor>, optimizer: {} as OptimizerState };
  for (const p of g.params) out.params[p.name] = tensor(p, at(p));
  for (const s of g.allocationState) Object.assign(out.state, stateTensorsOf(s, values.u32(at(s))), gradStatTensorsOf(s, s.gradStat ? values.f32(s.gradStat) : null));
  if (optimizer) for (const p of g.params) for (const [slot, name] of Object.entries(p.slots)) (out.optimizer[slot] ??= {})[p.name] = tensor(p, name);
  return out;
}

/** Query heads per K/V group from a head -> group table ([H], or [B, H] per image): [G] or [B * G]. */
export function countsOfTable(table: Uint32Array, heads: number, groups: number): number[] {
  const rows = table.length / heads;
  const counts = new Array<number>(rows * groups).fill(0);
  for (let r = 0; r < rows; r++) for (let h = 0; h < heads; h++) counts[r * groups + table[r * heads + h]!]! += 1;
  return counts;
}
