// Pass `memory`: the gradients of the backward share buffers by lifetime. Walking the backward in
// order, a gradient takes a free buffer of its dtype when its first node runs (the smallest that
// holds it, else the largest, grown) and frees it after its last; a buffer freed by a node is not
// reused by a tensor that node writes (a kernel must not alias two of its bindings). Forward
// activations keep their own buffers: the backward reads them.
import type { GraphNode, GraphTensor, MemoryPlan } from './types.js';

export function planMemory(tensors: Map<string, GraphTensor>, backward: readonly GraphNode[]): MemoryPlan {
  const shared = (name: string) => tensors.get(name)?.kind === 'scratch' && name.startsWith('d:');
  const last = new Map<string, number>();
  backward.forEach((node, i) => {
    for (const t of [...Object.values(node.inputs), ...Object.values(node.outputs)]) if (shared(t)) last.set(t, i);
  });
  const buffers: MemoryPlan['buffers'] = [];
  const free: number[] = [];
  const assignment: Record<string, string> = {};
  const holder = new Map<string, number>();
  backward.forEach((node, i) => {
    const used = [...Object.values(node.inputs), ...Object.values(node.outputs)].filter(shared);
    for (const t of used) {
      if (holder.has(t)) continue;
      const tensor = tensors.get(t)!;
      const elements = tensor.shape.reduce((a, b) => a * b, 1);
      const fits = free.filter((b) => buffers[b]!.dtype === tensor.dtype).sort((a, b) => buffers[a]!.elements - buffers[b]!.elements);
      let chosen = fits.find((b) => buffers[b]!.elements >= elements) ?? fits[fits.length - 1];
      if (chosen === undefined) {
        chosen = buffers.length;
        buffers.push({ name: `scratch:grad.${chosen}`, dtype: tensor.dtype, elements });
      } else {
        free.splice(free.indexOf(chosen), 1);
        buffers[chosen]!.elements = Math.max(buffers[chosen]!.elements, elements);
      }
      holder.set(t, chosen);
      assignment[t] = buffers[chosen]!.name;
    }
    for (const t of used) if (last.get(t) === i && holder.has(t)) free.push(holder.get(t)!);
  });
  return { buffers, assignment };
}
