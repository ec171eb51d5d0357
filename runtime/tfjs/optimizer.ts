// The optimizer's slots as the graph names them (opt.m:<param>, opt.v:<param>; compiler/graph/lower.ts),
// one tfjs variable each in the graph's layout of its parameter, which the graph's optimizer phase
// (./kernels-optimizer.ts, run by VitModel.optimize) updates in place. Saved as the checkpoint's
// optimizer.<slot>.<param> tensors in checkpoint layout by the same conversions as the native and
// WebGPU engines (runtime/checkpoint/graph-layout.ts), so checkpoints move between the backends.
import type { Variable } from '@tensorflow/tfjs';
import type { Graph } from '../../compiler/graph/types.js';
import type { OptimizerState } from '../checkpoint/names.js';
import { graphParamData, toCheckpointLayout } from '../checkpoint/graph-layout.js';
import type { Tf } from './backend.js';

export class OptimizerSlots {
  /** Graph tensor name -> variable. */
  readonly variables = new Map<string, Variable>();

  constructor(
    private readonly tf: Tf,
    private readonly graph: Graph,
  ) {
    // Unnamed (tfjs numbers them): two models in one process must not collide on names.
    for (const p of graph.params) for (const name of Object.values(p.slots)) this.variables.set(name, tf.variable(tf.zeros(p.shape), false));
  }

  /** Every slot in checkpoint layout: slot -> parameter name -> F32 tensor. */
  stateTensors(): OptimizerState {
    const out: OptimizerState = {};
    for (const p of this.graph.params) {
      for (const [slot, name] of Object.entries(p.slots)) {
        const data = toCheckpointLayout(p, Float32Array.from(this.variables.get(name)!.dataSync() as Float32Array));
        (out[slot] ??= {})[p.name] = { dtype: 'F32', shape: [...p.checkpointShape], data };
      }
    }
    return out;
  }

  /** Restores what stateTensors wrote (all or nothing); throws listing every missing or misshapen tensor. */
  loadState(state: OptimizerState): void {
    const slots = new Set(this.graph.params.flatMap((p) => Object.keys(p.slots)));
    const kind = this.graph.training?.optimizer ?? 'an engine without a run';
    const problems: string[] = [];
    const writes: [string, Float32Array, number[]][] = [];
    for (const slot of Object.keys(state)) if (!slots.has(slot)) problems.push(`slot '${slot}' is not used by ${kind}`);
    for (const slot of slots) if (!state[slot]) problems.push(`no optimizer.${slot}.* tensors (${kind} needs slots ${[...slots].join(', ')})`);
    for (const p of this.graph.params) {
      for (const [slot, name] of Object.entries(p.slots)) {
        if (!state[slot]) continue;
        const data = graphParamData(p, state[slot][p.name], `optimizer.${slot}.${p.name}`);
        if (typeof data === 'string') problems.push(data);
        else writes.push([name, data, p.shape]);
      }
    }
    if (problems.length) throw new Error(`cannot restore the optimizer state: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`);
    for (const [name, data, shape] of writes) this.tf.tidy(() => this.variables.get(name)!.assign(this.tf.tensor(data, shape, 'float32')));
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
