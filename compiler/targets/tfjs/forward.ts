// The emitted module's forward(): the model's eval graph (compiler/graph/, docs/graph.md) printed node
// by node, one small printer per op kind, each a call of an op of assets/forward.js (or noise.js)
// on named token rows. Shapes stay symbolic in the batch: the graph is lowered at one image, and
// every printed shape that depends on it reads `batch`. The loss nodes after the logits are not
// printed: the module predicts.
import { lowerModelGraph } from '../../graph/lower.js';
import type { Graph, GraphNode } from '../../graph/types.js';
import type { ModelIR } from '../../ir/types.js';
import { blockOf, printerOf, rolesOf, upToLogits, type Roles } from '../graph-walk.js';
import { jsValue } from './model-table.js';

/** A tensor's variable: `act:blocks.3.attn.qkv` -> `b3_attn_qkv`, `output:logits` -> `logits`. */
export function variableOf(tensor: string): string {
  return tensor.replace(/^[a-z]+:/, '').replace(/^blocks\.(\d+)\./, 'b$1.').replace(/[^A-Za-z0-9_$]/g, '_');
}

/** A parameter of the checkpoint by its timm name: `weights.pos_embed`, `weights['blocks.0.norm1.weight']`. */
function weight(tensor: string): string {
  const name = tensor.replace(/^param:/, '');
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `weights.${name}` : `weights[${jsValue(name)}]`;
}

interface Printing extends Roles {
  /** The block's entry of LAYERS and of the allocation state. */
  layer: string;
  state: string;
}

/** Refuses a node whose training-only rates survived into the eval graph. */
function evalOnly(node: GraphNode, ...rates: string[]): void {
  for (const r of rates) if (node.attrs[r]) throw new Error(`tfjs target: ${node.label} has ${r} ${String(node.attrs[r])} at evaluation`);
}

/** An allocate node's statistics: a key_stat's output, or (key_grad) the state row training stored, read from the checkpoint. */
function statsOf(node: GraphNode, p: Printing): string {
  if (!node.inputs.stats?.startsWith('state:')) return p.in('stats');
  return `tf.tensor2d(${p.state}.keyGrad, [1, ${jsValue(node.attrs.groups)}]) /* key_grad: training's last gradient statistic */`;
}

/** One printer per op of the eval graph: the statement that computes the node's output. */
const PRINTERS: Record<string, (node: GraphNode, p: Printing) => string> = {
  patchify: (_n, p) => `const ${p.out('patches')} = patchify(tf, ${p.in('images')});`,
  linear: (n, p) => `const ${p.out('y')} = linear(tf, ${p.in('x')}, ${weight(n.inputs.weight!)}, ${n.inputs.bias ? weight(n.inputs.bias) : 'null'});`,
  embed: (n, p) => `const ${p.out('h')} = embed(tf, ${p.in('patches')}, batch, ${n.inputs.cls ? `${weight(n.inputs.cls)}, ` : ''}${weight(n.inputs.pos!)});`,
  layernorm: (n, p) => `const ${p.out('y')} = layerNorm(tf, ${p.in('x')}, ${weight(n.inputs.gamma!)}, ${weight(n.inputs.beta!)}, ${jsValue(n.attrs.eps)});`,
  gelu: (n, p) => (evalOnly(n, 'dropout'), `const ${p.out('y')} = gelu(tf, ${p.in('x')});`),
  residual: (n, p) => (evalOnly(n, 'dropout', 'dropPath'), `const ${p.out('out')} = tf.add(${p.in('h')}, ${p.in('y')});`),
  key_stat: (_n, p) => `const ${p.out('stats')} = keyScores(tf, ${p.in('qkv')}, batch, ${p.layer}, ${p.state}); // [B, G]`,
  allocate: (n, p) => n.attrs.frozen
    ? `const ${p.out('table')} = ${p.state}.groupOfHead; // the checkpoint's allocation (eval frozen)`
    : `const ${p.out('table')} = allocateHeads(tf, ${statsOf(n, p)}, ${p.layer}, ${p.state});`,
  noise: (n, p) => {
    const a = n.attrs as { heads: number; rowsPerHead: number; rowLength: number };
    return `const ${p.out('z')} = pgqaNoise(tf, ${p.layer}, [batch, ${a.heads}, ${a.rowsPerHead}, ${a.rowLength}], noise);`;
  },
  attention: (n, p) => {
    evalOnly(n, 'dropout');
    const groups = n.inputs.table ? p.in('table') : `${p.layer}.groupOfHead`;
    return `const ${p.out('out')} = groupedAttention(tf, ${p.in('qkv')}, batch, ${p.layer}, ${groups}${n.inputs.z ? `, ${p.in('z')}` : ''});`;
  },
  pool: (n, p) => `const ${p.out('pooled')} = ${n.attrs.pool === 'cls' ? 'classToken' : 'meanOfTokens'}(tf, ${p.in('x')}, batch);`,
};

/** The statements of forward(): the eval phase up to the logits, a comment before each block. */
export function forwardStatements(graph: Graph): string[] {
  const lines: string[] = [];
  let block: number | null = null;
  for (const node of upToLogits(graph, graph.phases.eval)) {
    const printer = printerOf(PRINTERS, node, 'tfjs');
    const layer = blockOf(node);
    if (layer !== block) lines.push('', ...(layer === null ? [] : [`// block ${layer}`]));
    block = layer;
    lines.push(printer(node, { ...rolesOf(node, variableOf, 'tfjs'), layer: `LAYERS[${layer}]`, state: `state[${layer}]` }));
  }
  return lines;
}

/** The forward() section of the module for model `m`. */
export function forwardSection(m: ModelIR, noise: boolean): string {
  const graph = lowerModelGraph(m, null, { batch: 1 });
  const body = forwardStatements(graph).map((l) => (l ? `  ${l}` : l));
  return `// ---------------------------------------------------------------------------------------------
// The forward pass: attnc's eval graph of this model (\`attnc compile SPEC --emit graph\`), node by node.

/** Logits [B, ${m.classes}] of normalised NHWC images [B, ${m.image.height}, ${m.image.width}, ${m.image.channels}]. */
function forward(tf, weights, state, images${noise ? ', noise' : ''}) {
  const batch = images.shape[0];
${body.join('\n')}
  return ${variableOf(graph.outputs.logits)};
}`;
}
