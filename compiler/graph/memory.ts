// Pass `memory`: tensors that live within one phase share buffers by lifetime. Walking the phase in
// order, a tensor takes a free buffer of its dtype when its first node runs (the smallest that holds
// it, else the largest, grown) and frees it after its last; a buffer freed by a node is not reused by
// a tensor that node writes (a kernel must not alias two of its bindings).
//
// Two phases are planned so. The backward's gradients (`d:` scratch): the forward's activations keep
// their own buffers, since the backward reads them. And, in a graph without a training step (the
// eval-only graphs a backend evaluates with), the eval phase's activations: nothing reads them after
// the next layers have, except what the host reads back (the outputs, the taps of an analysis and
// the head-to-group tables that give the counts), which keep their own.
import type { Graph, GraphNode, GraphTensor, MemoryPlan } from './types.js';

export function planMemory(tensors: Map<string, GraphTensor>, phases: Graph['phases'], taps: Graph['taps']): MemoryPlan {
  const plan: MemoryPlan = { buffers: [], assignment: {} };
  sharePhase(plan, 'grad', tensors, phases.backward, (name) => tensors.get(name)?.kind === 'scratch' && name.startsWith('d:'));
  if (phases.forward.length === 0) {
    const read = new Set((taps ?? []).flatMap((t) => [t.probs, t.out, ...(t.table ? [t.table] : [])]));
    for (const n of phases.eval) if (n.op === 'allocate') for (const t of Object.values(n.outputs)) read.add(t);
    sharePhase(plan, 'eval', tensors, phases.eval, (name) => {
      const kind = tensors.get(name)?.kind;
      return (kind === 'activation' || kind === 'scratch') && !read.has(name);
    });
  }
  return plan;
}

/** Assigns the tensors of `nodes` that `shared` accepts to buffers `scratch:<pool>.N` of `plan`. */
function sharePhase(plan: MemoryPlan, pool: string, tensors: Map<string, GraphTensor>, nodes: readonly GraphNode[], shared: (name: string) => boolean): void {
  const last = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const t of [...Object.values(node.inputs), ...Object.values(node.outputs)]) if (shared(t)) last.set(t, i);
  });
  const buffers: MemoryPlan['buffers'] = [];
  const free: number[] = [];
  const holder = new Map<string, number>();
  nodes.forEach((node, i) => {
    const used = [...Object.values(node.inputs), ...Object.values(node.outputs)].filter(shared);
    for (const t of used) {
      if (holder.has(t)) continue;
      const tensor = tensors.get(t)!;
      const elements = tensor.shape.reduce((a, b) => a * b, 1);
      const fits = free.filter((b) => buffers[b]!.dtype === tensor.dtype).sort((a, b) => buffers[a]!.elements - buffers[b]!.elements);
      let chosen = fits.find((b) => buffers[b]!.elements >= elements) ?? fits[fits.length - 1];
      if (chosen === undefined) {
        chosen = buffers.length;
        buffers.push({ name: `scratch:${pool}.${chosen}`, dtype: tensor.dtype, elements });
      } else {
        free.splice(free.indexOf(chosen), 1);
        buffers[chosen]!.elements = Math.max(buffers[chosen]!.elements, elements);
      }
      holder.set(t, chosen);
      plan.assignment[t] = buffers[chosen]!.name;
    }
    for (const t of used) if (last.get(t) === i && holder.has(t)) free.push(holder.get(t)!);
  });
  plan.buffers.push(...buffers);
}
