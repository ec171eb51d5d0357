// Collects a graph's tensors and nodes, checking each node against the op catalogue as it is added:
// every required role bound, no unknown role, every tensor declared. A tensor declared twice must be
// declared the same way (the training forward and the eval forward share their activations).
import { rolesOf } from './ops.js';
import type { Dtype, GraphNode, GraphTensor, Phase, TensorInit, TensorKind } from './types.js';

export interface TensorSpec {
  kind: TensorKind;
  dtype?: Dtype;
  shape: number[];
  init?: TensorInit;
}

export class GraphBuilder {
  readonly tensors = new Map<string, GraphTensor>();
  readonly phases: Record<Phase, GraphNode[]> = { forward: [], backward: [], optimizer: [], eval: [] };

  tensor(name: string, spec: TensorSpec): string {
    const dtype = spec.dtype ?? 'f32';
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(elements) || elements < 1) throw new Error(`graph: tensor ${name} has the empty shape [${spec.shape}]`);
    const have = this.tensors.get(name);
    if (have) {
      if (have.dtype !== dtype || have.kind !== spec.kind || have.shape.join() !== spec.shape.join()) throw new Error(`graph: tensor ${name} declared twice differently`);
      return name;
    }
    this.tensors.set(name, { name, kind: spec.kind, dtype, shape: [...spec.shape], ...(spec.init ? { init: spec.init } : {}) });
    return name;
  }

  shape(name: string): number[] {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`graph: tensor ${name} is not declared`);
    return t.shape;
  }

  node(phase: Phase, node: GraphNode): void {
    checkNode(node, (t) => this.tensors.has(t));
    this.phases[phase].push(node);
  }
}

/** Throws when a node does not match its op's roles or names an undeclared tensor. */
export function checkNode(node: GraphNode, declared: (tensor: string) => boolean): void {
  const roles = rolesOf(node.op);
  const bound = { ...node.inputs, ...node.outputs };
  for (const r of roles) {
    const side = r.access === 'read' ? node.inputs : node.outputs;
    if (side[r.name] === undefined && !r.optional) throw new Error(`graph: ${node.label}: op ${node.op} needs role '${r.name}'`);
  }
  for (const [role, tensor] of Object.entries(bound)) {
    const spec = roles.find((r) => r.name === role);
    if (!spec) throw new Error(`graph: ${node.label}: op ${node.op} has no role '${role}'`);
    if ((spec.access === 'read') !== (role in node.inputs)) throw new Error(`graph: ${node.label}: role '${role}' of ${node.op} is on the wrong side`);
    if (!declared(tensor)) throw new Error(`graph: ${node.label}: tensor ${tensor} is not declared`);
  }
}
