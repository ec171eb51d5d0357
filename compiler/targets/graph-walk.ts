// The walk of the op graph (compiler/graph/, docs/graph.md) that the forward printers share
// (targets/tfjs/forward.ts, targets/pytorch/forward.ts): a phase's nodes up to the logits, each
// node's block, its printer, and its roles bound to variable names.
import type { Graph, GraphNode } from '../graph/types.js';

/** A node's block: its `layer` attr, else its label's (the residual that ends a block writes the next one's input); null outside the blocks. */
export function blockOf(node: GraphNode): number | null {
  if (typeof node.attrs.layer === 'number') return node.attrs.layer;
  const m = /^blocks\.(\d+)\./.exec(node.label);
  return m ? Number(m[1]) : null;
}

/** A phase's nodes up to the one that writes the logits (the loss after them is not printed: the printed code predicts). */
export function upToLogits(graph: Graph, nodes: readonly GraphNode[]): GraphNode[] {
  return nodes.slice(0, nodes.findIndex((n) => Object.values(n.outputs).includes(graph.outputs.logits)) + 1);
}

/** The printer of a node's op; `target` names the printer in the error. */
export function printerOf<P>(printers: Record<string, P>, node: GraphNode, target: string): P {
  const printer = printers[node.op];
  if (!printer) throw new Error(`${target} target: no printer for op '${node.op}' (${node.label})`);
  return printer;
}

/** Variables of the tensors bound to a node's roles. */
export interface Roles {
  in(role: string): string;
  out(role: string): string;
}

/** A node's roles, each tensor given its variable by `name`; a role the node lacks is an error of `target`. */
export function rolesOf(node: GraphNode, name: (tensor: string) => string, target: string): Roles {
  const bind = (side: Record<string, string>) => (role: string) => {
    const tensor = side[role];
    if (tensor === undefined) throw new Error(`${target} target: ${node.label} has no '${role}'`);
    return name(tensor);
  };
  return { in: bind(node.inputs), out: bind(node.outputs) };
}
