// model.py's forward code, printed from the model's op graph (compiler/graph/, docs/graph.md) with one
// small printer per op kind: Block.forward, and VisionTransformer.forward after its checks. The
// modules themselves are assets/network.py's (the Attention module computes the graph's key_stat,
// allocate, noise and attention nodes from its LAYERS entry). One function serves both of the graph's
// forwards: what the training forward has and the eval phase lacks (dropout, drop path) runs under
// `ctx.training`. One Block.forward serves every block, so the blocks must have the same nodes.
import { SITE } from '../../graph/forward.js';
import { lowerModelGraph } from '../../graph/lower.js';
import type { Graph, GraphNode } from '../../graph/types.js';
import type { ModelIR, RunIR } from '../../ir/types.js';
import { blockOf, printerOf, rolesOf, upToLogits, type Roles } from '../graph-walk.js';
import { pyNumber } from './python.js';

/** Nodes the Attention module computes itself from its LAYERS entry (the attention node's call prints them all). */
const IN_ATTENTION = new Set(['key_stat', 'allocate', 'noise']);

/** One printed place: its node in the training forward and in the eval phase, per block (one outside the blocks). */
interface Site {
  train: GraphNode[];
  eval: GraphNode[];
}

/** SITE.projDropout -> SITE_PROJ_DROPOUT (network.py's constants of the random streams). */
const siteName = (v: unknown) => `SITE_${Object.entries(SITE).find(([, x]) => x === v)![0].replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

const fail = (why: string): never => {
  throw new Error(`pytorch target: ${why}`);
};

/** The module of a parameter, from the printing class: `param:blocks.3.attn.qkv.weight` -> `self.attn.qkv`. */
const moduleOf = (tensor: string) => `self.${tensor.replace(/^param:(blocks\.\d+\.)?/, '').replace(/\.(weight|bias)$/, '')}`;

/**
 * A rate only training applies: the training forward's (the same in every block unless `perBlock`,
 * then whether some block has one); the eval phase must have none.
 */
function trainingRate(s: Site, attr: string, perBlock = false): number {
  if (s.eval.some((n) => n.attrs[attr])) fail(`${s.eval[0]!.label} has ${attr} at evaluation`);
  const rates = [...new Set(s.train.map((n) => Number(n.attrs[attr] ?? 0)))];
  if (!perBlock && rates.length > 1) fail(`${s.train[0]!.label}: ${attr} differs between blocks (${rates.join(', ')})`);
  return Math.max(...rates);
}

const dropout = (v: string, rate: number, site: unknown) => (rate > 0 ? [`${v} = dropout(${v}, ${pyNumber(rate)}, ctx, self.index, ${siteName(site)})`] : []);
const training = (lines: string[]) => (lines.length ? ['if ctx.training:', ...lines.map((l) => `    ${l}`)] : []);

const PRINTERS: Record<string, (s: Site, p: Roles) => string[]> = {
  // PatchEmbed's strided convolution is the patchify and the patch linear at once (that linear prints nothing).
  patchify: (_s, p) => [`${p.out('patches')} = self.patch_embed(${p.in('images')})  # [B, patches, D]`],
  linear: (s, p) => (s.eval[0]!.inputs.weight!.startsWith('param:patch_embed.') ? [] : [`${p.out('y')} = ${moduleOf(s.eval[0]!.inputs.weight!)}(${p.in('x')})`]),
  embed: (s, p) => [
    ...(s.eval[0]!.inputs.cls ? [`${p.in('patches')} = torch.cat([self.cls_token.expand(${p.in('patches')}.shape[0], -1, -1), ${p.in('patches')}], dim=1)`] : []),
    `${p.out('h')} = ${p.in('patches')} + self.pos_embed`,
  ],
  layernorm: (s, p) => [`${p.out('y')} = ${moduleOf(s.eval[0]!.inputs.gamma!)}(${p.in('x')})`],
  gelu: (s, p) => [`${p.out('y')} = F.gelu(${p.in('x')})`, ...training(dropout(p.out('y'), trainingRate(s, 'dropout'), s.train[0]!.attrs.site))],
  attention: (s, p) => {
    const rate = trainingRate(s, 'dropout');
    return [`${p.out('out')} = self.attn(${p.in('qkv')}, ctx${rate > 0 ? `, dropout=${pyNumber(rate)} if ctx.training else 0` : ''})`];
  },
  residual: (s, p) => {
    const y = p.in('y');
    const { dropSite, pathSite } = s.train[0]!.attrs;
    // Drop path's rate is per block (Block.drop_path, from LAYERS): printed where some block has one.
    const path = trainingRate(s, 'dropPath', true) > 0 ? [`${y} = drop_path(${y}, self.drop_path, ctx, self.index, ${siteName(pathSite)})`] : [];
    return [...training([...dropout(y, trainingRate(s, 'dropout'), dropSite), ...path]), `${p.out('out')} = ${p.in('h')} + ${y}`];
  },
  pool: (s, p) => [`${p.out('pooled')} = ${p.in('x')}${s.eval[0]!.attrs.pool === 'cls' ? '[:, 0]  # the class token' : '.mean(dim=1)'}`],
};

/** What must agree between the nodes one statement prints: op, roles (the Attention module's own aside) and module. */
function shapeOf(node: GraphNode): string {
  const roles = (r: Record<string, string>) => Object.keys(r).filter((k) => node.op !== 'attention' || k === 'qkv' || k === 'out');
  const module = node.inputs.weight ?? node.inputs.gamma;
  return `${node.op}(${roles(node.inputs).join(',')} -> ${roles(node.outputs).join(',')})${module ? ` ${moduleOf(module)}` : ''}`;
}

/** A phase up to the logits: the nodes before the blocks, each block's (less the Attention module's), those after. */
function split(graph: Graph, nodes: GraphNode[]) {
  const parts = { stem: [] as GraphNode[], blocks: new Map<number, GraphNode[]>(), head: [] as GraphNode[] };
  for (const node of upToLogits(graph, nodes)) {
    const b = blockOf(node);
    if (b === null) (parts.blocks.size ? parts.head : parts.stem).push(node);
    else if (!IN_ATTENTION.has(node.op)) parts.blocks.set(b, [...(parts.blocks.get(b) ?? []), node]);
  }
  return { ...parts, blocks: [...parts.blocks.values()] };
}

/** The statements of node lists that one code must print (every block, both phases); `name` gives a tensor its variable. */
function print(train: GraphNode[][], evaluation: GraphNode[][], what: string, name: (tensor: string) => string): string[] {
  const reference = evaluation[0]!.map(shapeOf).join('; ');
  for (const nodes of [...train, ...evaluation]) {
    const shape = nodes.map(shapeOf).join('; ');
    if (shape !== reference) fail(`${what} differ, which one printed forward cannot do:\n  ${reference}\n  ${shape}`);
  }
  return evaluation[0]!.flatMap((node, i) => {
    const printer = printerOf(PRINTERS, node, 'pytorch');
    return printer({ train: train.map((n) => n[i]!), eval: evaluation.map((n) => n[i]!) }, rolesOf(node, name, 'pytorch'));
  });
}

/** The forward code of model `m`: the run's training forward, or (no run) the model's rates; model.py trains either way. */
export const forwardCode = (m: ModelIR, run: RunIR | null) => printForward(lowerModelGraph(m, run, { batch: 1, trainingPass: run === null }));

/** Block.forward's body, VisionTransformer.forward's statements (indented as in their methods), and NOISY_BLOCKS. */
export function printForward(graph: Graph): { block: string; network: string; noisy: string } {
  const train = split(graph, graph.phases.forward);
  const evaluation = split(graph, graph.phases.eval);
  // The residual stream is `x`; a block's other tensors are named after the node that writes them (norm1, qkv, attn, ...).
  const inBlock = (t: string) => {
    const writer = graph.phases.eval.find((n) => Object.values(n.outputs).includes(t));
    return !writer || writer.op === 'residual' || blockOf(writer) === null ? 'x' : writer.label.split('.').pop()!;
  };
  const outside = (t: string) => (t === graph.outputs.logits ? 'logits' : 'x');
  const block = [...print(train.blocks, evaluation.blocks, 'the blocks', inBlock), 'return x'];
  const network = [
    ...print([train.stem], [evaluation.stem], 'the patch embeddings of training and evaluation', outside),
    'for block in self.blocks:',
    '    x = block(x, ctx)',
    ...print([train.head], [evaluation.head], 'the heads of training and evaluation', outside),
    'return logits',
  ];
  const indent = (lines: string[]) => lines.map((l) => `        ${l}`).join('\n');
  const noisy = (phase: 'forward' | 'eval') => `[${graph.phases[phase].filter((n) => n.op === 'noise').map((n) => n.attrs.layer).join(', ')}]`;
  return { block: indent(block), network: indent(network), noisy: `NOISY_BLOCKS = {'training': ${noisy('forward')}, 'evaluation': ${noisy('eval')}}` };
}
