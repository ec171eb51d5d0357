// What the graph executor's kernels see: the pass's runtime values, the environment of tensors by
// graph name, and the allocation state. ./executor.ts runs the nodes; ./kernels*.ts implement the ops.
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { GraphNode, RuntimeValue } from '../../compiler/graph/types.js';
import type { AttentionState } from './attention.js';
import type { Tf } from './backend.js';

/** What a pass of the graph is keyed by, as the graph's runtime values say. */
export interface PassContext {
  training: boolean;
  step: number;
  /** The batch index within the epoch (DGQA rule 'paper'); absent: `step`. */
  epochStep?: number;
  seed: number;
  microBatch: number;
  /** The optimizer phase's runtime values (compiler/graph/runtime-values.ts): lr and AdamW's factors. */
  values?: Record<RuntimeValue, number>;
  /** Told each allocating layer's query heads per group in this pass ([G] or [B, G]); the receiver disposes it. */
  onCounts?: (layer: number, counts: Tensor) => void;
}

export interface KernelContext {
  tf: Tf;
  env: Environment;
  pass: PassContext;
  /** The allocation state of a layer (tfjs variables: counts, cache, score, initialised). */
  state: (layer: number) => AttentionState;
}

export type Kernel = (k: KernelContext, node: GraphNode, attrs: Record<string, any>) => void;

/**
 * Tensors by graph name. Parameters and gradients are owned by the caller (`bind`); everything a node
 * writes is owned here and disposed when replaced or when `release` says its last reader has run.
 * A node that writes a bound variable (the optimizer's parameters and slots, a key_grad state row)
 * assigns into it: that is how the graph's in-place updates reach the model's tfjs variables.
 */
export class Environment {
  private readonly tensors = new Map<string, Tensor>();
  private readonly borrowed = new Set<string>();

  /**
   * `owns` false: the environment keeps and disposes nothing, for a run inside one tf.tidy that
   * autodiff differentiates (the tape must keep every intermediate until the gradients exist).
   */
  constructor(private readonly tf: Tf, private readonly owns = true) {}

  /** Lends a tensor the environment must not dispose (a parameter variable). */
  bind(name: string, t: Tensor): void {
    this.drop(name);
    this.tensors.set(name, t);
    this.borrowed.add(name);
  }

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`tfjs graph executor: tensor ${name} has no value here`);
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Sets (replacing) or, with `accumulate`, adds to the tensor's value. Takes ownership of `t`. */
  put(name: string, t: Tensor, accumulate = false): void {
    const have = this.tensors.get(name);
    if (accumulate && have) {
      const sum = this.tf.add(have, t);
      this.tf.dispose(t);
      t = sum;
    }
    if (have && this.borrowed.has(name) && 'assign' in have) {
      (have as Variable).assign(t);
      this.tf.dispose(t);
      return;
    }
    this.drop(name);
    this.tensors.set(name, this.owns ? this.tf.keep(t) : t);
  }

  /** Takes a tensor out without disposing it (the caller owns it now). */
  take(name: string): Tensor {
    const t = this.get(name);
    this.tensors.delete(name);
    this.borrowed.delete(name);
    return t;
  }

  release(name: string): void {
    this.drop(name);
  }

  private drop(name: string): void {
    const old = this.tensors.get(name);
    if (old && this.owns && !this.borrowed.has(name)) old.dispose();
    this.tensors.delete(name);
    this.borrowed.delete(name);
  }

  dispose(): void {
    for (const name of [...this.tensors.keys()]) this.drop(name);
  }
}
