// The optimizer's slots as the graph names them (opt.m:<param>, opt.v:<param>; compiler/graph/lower.ts),
// one tfjs variable each in its parameter's variable layout, which the graph's optimizer phase
// (./kernels-optimizer.ts, run by VitModel.optimize) updates in place. Saved as the checkpoint's
// optimizer.<slot>.<param> tensors in checkpoint layout (runtime/checkpoint/names.ts), the names and
// layouts the native, WebGPU and PyTorch backends read and write.
import type { Variable } from '@tensorflow/tfjs';
import type { Graph } from '../../compiler/graph/types.js';
import type { OptimizerState } from '../checkpoint/names.js';
import { formatShape, toFloat32Tensor, type Tensor as CheckpointTensor } from '../checkpoint/safetensors.js';
import type { Tf } from './backend.js';
import { fromCheckpointData, toCheckpointData, type VitParams } from './params.js';

export class OptimizerSlots {
  /** Graph tensor name -> variable. */
  readonly variables = new Map<string, Variable>();

  constructor(
    private readonly tf: Tf,
    private readonly graph: Graph,
    private readonly params: VitParams,
  ) {
    for (const p of graph.params) {
      // Unnamed (tfjs numbers them): two models in one process must not collide on names.
      for (const name of Object.values(p.slots)) this.variables.set(name, tf.variable(tf.zerosLike(this.param(p.name).variable), false));
    }
  }

  /** Every slot in checkpoint layout: slot -> parameter name -> F32 tensor. */
  stateTensors(): OptimizerState {
    const out: OptimizerState = {};
    for (const p of this.graph.params) {
      for (const [slot, name] of Object.entries(p.slots)) {
        const param = this.param(p.name);
        const data = toCheckpointData(param, this.variables.get(name)!.dataSync() as Float32Array);
        (out[slot] ??= {})[p.name] = { dtype: 'F32', shape: [...param.checkpointShape], data } satisfies CheckpointTensor;
      }
    }
    return out;
  }

  /** Restores what stateTensors wrote; throws listing every missing or misshapen tensor. */
  loadState(state: OptimizerState): void {
    const slots = [...new Set(this.graph.params.flatMap((p) => Object.keys(p.slots)))];
    const kind = this.graph.training?.optimizer ?? 'an engine without a run';
    const problems: string[] = [];
    for (const slot of Object.keys(state)) if (!slots.includes(slot)) problems.push(`slot '${slot}' is not used by ${kind}`);
    for (const slot of slots) {
      if (!state[slot]) problems.push(`no optimizer.${slot}.* tensors (${kind} needs slots ${slots.join(', ')})`);
    }
    for (const p of this.graph.params) {
      for (const slot of Object.keys(p.slots)) {
        const t = state[slot]?.[p.name];
        const want = this.param(p.name).checkpointShape;
        if (!state[slot]) continue;
        if (!t) problems.push(`missing optimizer.${slot}.${p.name}`);
        else if (formatShape(t.shape) !== formatShape(want)) problems.push(`optimizer.${slot}.${p.name} has shape ${formatShape(t.shape)}, expected ${formatShape(want)}`);
      }
    }
    if (problems.length) throw new Error(`cannot restore the optimizer state: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`);
    const { tf } = this;
    for (const p of this.graph.params) {
      const param = this.param(p.name);
      for (const [slot, name] of Object.entries(p.slots)) {
        const data = fromCheckpointData(param, toFloat32Tensor(state[slot]![p.name]!).data as Float32Array);
        tf.tidy(() => this.variables.get(name)!.assign(tf.tensor(data, param.variable.shape, 'float32')));
      }
    }
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }

  private param(name: string) {
    return this.params.byName.get(name)!;
  }
}
