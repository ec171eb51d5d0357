// The readable form of a graph (`attnc compile SPEC --emit graph`): a header, the tensors by kind,
// then each phase with one line per node,
//     act:blocks.0.norm1, act:blocks.0.norm1.stats = layernorm(x=act:blocks.0.in, gamma=..., beta=...)  rows=8 dim=16 eps=1e-6
// and the memory plan of the backward. The JSON form (`--json`) is the Graph itself (schema.json).
import { PHASES, type Graph, type GraphNode, type TensorKind } from './types.js';

const KIND_ORDER: TensorKind[] = ['input', 'param', 'state', 'activation', 'scratch', 'output', 'grad', 'optimizer-state'];

export function printGraph(graph: Graph): string {
  const lines: string[] = [];
  const head = `graph v${graph.graphVersion} of model ${graph.model}${graph.run ? `, run ${graph.run}` : ' (eval only)'}, ${graph.batch} image${graph.batch === 1 ? '' : 's'} per pass (${graph.compiler})`;
  lines.push(head);
  if (graph.training) {
    const t = graph.training;
    lines.push(`training: ${t.optimizer}, lr ${t.lr}, weight decay ${t.weightDecay}, ${t.accumulate} pass${t.accumulate === 1 ? '' : 'es'} per step, seed ${t.seed}`);
  }
  const shape = new Map(graph.tensors.map((t) => [t.name, `${t.dtype}[${t.shape.join('x')}]`]));
  lines.push('', 'tensors');
  for (const kind of KIND_ORDER) {
    const of = graph.tensors.filter((t) => t.kind === kind);
    if (!of.length) continue;
    const values = of.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    lines.push(`  ${kind}: ${of.length} tensor${of.length === 1 ? '' : 's'}, ${values.toLocaleString('en-US')} values`);
    for (const t of of) lines.push(`    ${t.name} ${shape.get(t.name)}`);
  }
  for (const phase of PHASES) {
    const nodes = graph.phases[phase];
    if (!nodes.length) continue;
    lines.push('', `${phase} (${nodes.length} node${nodes.length === 1 ? '' : 's'})`);
    for (const n of nodes) lines.push(`  ${printNode(n)}`);
  }
  if (graph.memory.buffers.length) {
    const pooled = (pool: string) => graph.memory.buffers.filter((b) => b.name.startsWith(`scratch:${pool}.`)).length;
    const count = (pool: string) => Object.values(graph.memory.assignment).filter((b) => b.startsWith(`scratch:${pool}.`)).length;
    const parts = [['grad', "the backward's", 'gradients'], ['eval', "the eval phase's", 'activations']].filter(([pool]) => pooled(pool!) > 0);
    lines.push('', `memory: ${parts.map(([pool, whose, what]) => `${whose} ${count(pool!)} ${what} share ${pooled(pool!)} buffers`).join('; ')}`);
    for (const b of graph.memory.buffers) {
      const held = Object.entries(graph.memory.assignment).filter(([, name]) => name === b.name).map(([t]) => t);
      lines.push(`  ${b.name} ${b.dtype}[${b.elements}]: ${held.join(', ')}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function printNode(n: GraphNode): string {
  const outs = Object.values(n.outputs).join(', ');
  const ins = Object.entries(n.inputs).map(([role, t]) => `${role}=${t}`).join(', ');
  const attrs = Object.entries(n.attrs).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}=${typeof v === 'object' ? compact(v) : v}`).join(' ');
  return `${outs ? `${outs} = ` : ''}${n.op}(${ins})${attrs ? `  ${attrs}` : ''}  # ${n.label}`;
}

function compact(v: unknown): string {
  return JSON.stringify(v).replace(/"([a-zA-Z_]+)":/g, '$1: ').replace(/,/g, ', ');
}
