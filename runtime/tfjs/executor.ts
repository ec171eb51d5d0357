// Executes an op graph (compiler/graph) with TensorFlow.js, node by node: each op of the catalogue is
// one function of ./kernels.ts or ./kernels-attention.ts over the tensors of an environment. Nothing
// here knows the ViT; the graph says everything. A tensor is disposed after the last node of the
// phase sequence that reads it (forward activations live until the backward is done with them).
import type { Tensor } from '@tensorflow/tfjs';
import type { Graph, GraphNode, Phase } from '../../compiler/graph/types.js';
import type { AttentionState } from './attention.js';
import type { Tf } from './backend.js';
import { ATTENTION_KERNELS } from './kernels-attention.js';
import { DENSE_KERNELS } from './kernels.js';

/** What a pass of the graph is keyed by, as the graph's runtime values say. */
export interface PassContext {
  training: boolean;
  step: number;
  /** The batch index within the epoch (DGQA rule 'paper'); absent: `step`. */
  epochStep?: number;
  seed: number;
  microBatch: number;
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

export const KERNELS: Record<string, Kernel> = { ...DENSE_KERNELS, ...ATTENTION_KERNELS };

/**
 * Tensors by graph name. Parameters and gradients are owned by the caller (`bind`); everything a node
 * writes is owned here and disposed when replaced or when `release` says its last reader has run.
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
    if (accumulate && this.tensors.has(name)) {
      const sum = this.tf.add(this.tensors.get(name)!, t);
      this.tf.dispose(t);
      t = sum;
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

/**
 * Runs the nodes of `phases` in order. `keep` names tensors that outlive the run (the caller takes
 * them); any other tensor written here is released after its last reader in these phases. With
 * `keep` null nothing is released (autodiff of the run needs every intermediate).
 */
export function runPhases(k: KernelContext, graph: Graph, phases: readonly Phase[], keep: ReadonlySet<string> | null): void {
  const nodes = phases.flatMap((p) => graph.phases[p]);
  const last = lastReaders(nodes);
  nodes.forEach((node, i) => {
    const kernel = KERNELS[node.op];
    if (!kernel) throw new Error(`tfjs graph executor: no kernel for op '${node.op}'`);
    if (keep) k.tf.tidy(() => kernel(k, node, node.attrs as Record<string, any>));
    else kernel(k, node, node.attrs as Record<string, any>);
    if (keep) for (const t of Object.values(node.inputs)) if (last.get(t) === i && !keep.has(t)) k.env.release(t);
  });
}

function lastReaders(nodes: readonly GraphNode[]): Map<string, number> {
  const last = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const t of [...Object.values(n.inputs), ...Object.values(n.outputs)]) last.set(t, i);
  });
  return last;
}
