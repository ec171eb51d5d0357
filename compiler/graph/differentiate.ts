// Pass `differentiate`: the backward phase from the forward phase, by reverse-mode accumulation with
// one vector-Jacobian rule per op (ops.ts). It starts from the loss gradient at the logits (which the
// training forward's cross_entropy writes) and walks the forward nodes in reverse. A tensor used by
// several nodes gets the sum of their contributions: the first contribution writes its gradient, later
// ones add to it (`accumulate`), and an identity branch (a residual's skip path) shares its output's
// gradient instead of copying it, so the residual stream's gradient is one tensor that each layer
// norm's backward adds into. Parameters' gradients always add: they accumulate over a step's passes.
import type { GraphBuilder } from './build.js';
import { OPS, type VjpContext } from './ops.js';

export interface DifferentiateOptions {
  /** The logits and the tensor holding the loss gradient at them. */
  seed: { tensor: string; grad: string };
  /** Parameter tensor -> its gradient tensor. */
  paramGrads: Map<string, string>;
}

export function differentiate(g: GraphBuilder, o: DifferentiateOptions): void {
  const forward = g.phases.forward;
  // Forward tensors through which some parameter reaches the loss.
  const depends = new Set<string>(o.paramGrads.keys());
  for (const node of forward) {
    if (!OPS[node.op]!.vjp) continue;
    if (Object.values(node.inputs).some((t) => depends.has(t))) for (const t of Object.values(node.outputs)) depends.add(t);
  }
  const grads = new Map<string, string>([[o.seed.tensor, o.seed.grad]]);
  const d: VjpContext = {
    grad: (t) => grads.get(t) ?? null,
    needs: (t) => depends.has(t),
    into(t) {
      const paramGrad = o.paramGrads.get(t);
      if (paramGrad) return { tensor: paramGrad, accumulate: true };
      const have = grads.get(t);
      if (have) return { tensor: have, accumulate: true };
      const name = g.tensor(`d:${t.replace(/^act:/, '')}`, { kind: 'scratch', shape: g.shape(t) });
      grads.set(t, name);
      return { tensor: name, accumulate: false };
    },
    alias(t, same) {
      if (grads.has(t)) throw new Error(`graph: the gradient of ${t} already exists; an identity branch cannot share ${same}`);
      grads.set(t, same);
    },
    emit: (node) => g.node('backward', node),
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i]!;
    const rule = OPS[node.op]!.vjp;
    if (!rule || !Object.values(node.outputs).some((t) => grads.has(t))) continue;
    rule(node, d);
  }
}
