// Executes an op graph (compiler/graph) with TensorFlow.js, node by node: each op of the catalogue is
// one function of ./kernels.ts, ./kernels-attention.ts or ./kernels-optimizer.ts over the tensors of an environment
// (./environment.ts). Nothing here knows the ViT; the graph says everything. A tensor is disposed
// after the last node of the phase sequence that reads it (forward activations live until the
// backward is done with them).
import type { Graph, GraphNode, Phase } from '../../compiler/graph/types.js';
import type { Kernel, KernelContext } from './environment.js';
import { ATTENTION_KERNELS } from './kernels-attention.js';
import { OPTIMIZER_KERNELS } from './kernels-optimizer.js';
import { DENSE_KERNELS } from './kernels.js';

export const KERNELS: Record<string, Kernel> = { ...DENSE_KERNELS, ...ATTENTION_KERNELS, ...OPTIMIZER_KERNELS };

/**
 * Runs the nodes of `phases` in order. `keep` names tensors that outlive the run (the caller takes
 * them); any other tensor written here is released after its last reader in these phases. With
 * `keep` null nothing is released (autodiff of the run needs every intermediate). `clock` gets the
 * milliseconds of each phase added (attnc bench).
 */
export function runPhases(k: KernelContext, graph: Graph, phases: readonly Phase[], keep: ReadonlySet<string> | null, clock?: Record<string, number>): void {
  const nodes = phases.flatMap((p) => graph.phases[p]);
  const last = lastReaders(nodes);
  let i = 0;
  for (const phase of phases) {
    // The CPU backends (wasm, cpu, tfjs-node) run each kernel when it is called, so wall time per phase is theirs.
    const t0 = clock ? performance.now() : 0;
    for (const node of graph.phases[phase]) {
      const kernel = KERNELS[node.op];
      if (!kernel) throw new Error(`tfjs graph executor: no kernel for op '${node.op}'`);
      if (keep) k.tf.tidy(() => kernel(k, node, node.attrs as Record<string, any>));
      else kernel(k, node, node.attrs as Record<string, any>);
      if (keep) for (const t of Object.values(node.inputs)) if (last.get(t) === i && !keep.has(t)) k.env.release(t);
      i++;
    }
    if (clock) clock[phase] = (clock[phase] ?? 0) + performance.now() - t0;
  }
}

function lastReaders(nodes: readonly GraphNode[]): Map<string, number> {
  const last = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const t of [...Object.values(n.inputs), ...Object.values(n.outputs)]) last.set(t, i);
  });
  return last;
}
