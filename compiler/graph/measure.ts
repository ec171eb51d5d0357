// What a lowered graph costs, for `attnc compile --summary` (compiler/analyze.ts): parameters from
// its parameter tensors, forward FLOPs from its eval nodes (each op declares its FLOPs from its
// attrs, ops.ts), and activation memory from what its backward reads of the training forward. Lower
// the graph at batch 1 with a training pass (lowerModelGraph's `trainingPass`) for figures per image.
// docs/analyses.md states what each figure counts.
import { linearFlops, OPS } from './ops.js';
import type { Graph, GraphNode, GraphTensor } from './types.js';

/** Every tensor of a graph is float32 or uint32: 4 bytes an element. */
export const BYTES_PER_ELEMENT = 4;

export interface AttentionParams {
  q: number;
  k: number;
  v: number;
  proj: number;
  total: number;
}

export interface LayerParams {
  index: number;
  attention: AttentionParams;
  /** norm1 and norm2 (weight and bias each). */
  norms: number;
  /** fc1 and fc2 with their biases. */
  mlp: number;
  total: number;
}

export interface ParamCounts {
  total: number;
  patchEmbed: number;
  clsToken: number;
  posEmbed: number;
  /** Sum over perLayer. */
  blocks: number;
  perLayer: LayerParams[];
  finalNorm: number;
  head: number;
}

/** The FLOPs of one transformer block; every part is already in FLOPs (MACs times 2, plus the rest). */
export interface LayerFlops {
  index: number;
  /** The q, k and v columns of the fused qkv linear; qkv is their sum. Grouping shrinks k and v only. */
  q: number;
  k: number;
  v: number;
  qkv: number;
  /** QK^T over all query heads: 2 * heads * T * T * headDim, whatever kvHeads is. */
  scores: number;
  /** Softmax over the scores, plus scaling q by 1/sqrt(headDim). */
  softmax: number;
  attnV: number;
  proj: number;
  /** fc1, GELU and fc2. */
  mlp: number;
  /** norm1 and norm2. */
  norms: number;
  /** The two residual additions. */
  residual: number;
  /** The key statistic of an allocation recomputed at inference; 0 otherwise. */
  allocation: number;
  /** PGQA noise when applied at inference (during 'always'); 0 otherwise. */
  perturb: number;
  /** Multiply-adds of this block's matmuls (projections, QK^T, attention @ V, MLP). */
  macs: number;
  total: number;
}

export interface FlopCounts {
  /** Forward FLOPs per image at inference: the eval phase's nodes, the loss left out. */
  total: number;
  /** Multiply-adds of every matmul (the patch conv included), the figure fvcore/timm call "GMACs". */
  macs: number;
  /** Patch linear with its bias, plus the position-embedding addition. */
  patchEmbed: number;
  qkv: number;
  scores: number;
  softmax: number;
  attnV: number;
  proj: number;
  mlp: number;
  /** Block norms and the final norm. */
  norms: number;
  residual: number;
  allocation: number;
  perturb: number;
  /** Pooling (the mean of the tokens with pool 'mean') and the classifier. */
  head: number;
  /** Sum of perLayer totals. */
  blocks: number;
  perLayer: LayerFlops[];
}

/** Bytes a block's training forward keeps for its backward, per image: the tensors the backward reads. */
export interface LayerActivations {
  index: number;
  /** Inputs of norm1 and norm2, with their per-token mean and 1/std. */
  norms: number;
  /** Inputs of the qkv, proj, fc1 and fc2 linears (for their weight gradients). */
  linearInputs: number;
  /** The fused q, k, v rows (k and v at kvHeads). */
  qkv: number;
  /** The softmax output, heads * T * T. */
  attentionProbs: number;
  /** PGQA's noise and the perturbed tensor's unperturbed values, when the training pass perturbs. */
  perturb: number;
  /** The head -> group table of a layer that allocates by score. */
  allocation: number;
  /** The GELU input. */
  gelu: number;
  total: number;
}

export interface MemoryFigures {
  /** Activation bytes per image kept for backward: input + blocks + final norm + head input. */
  activationsBytes: number;
  /** The image as patch rows, which the patch linear keeps for its weight gradient. */
  input: number;
  blocks: number;
  perLayer: LayerActivations[];
  /** The final norm's input and statistics. */
  finalNorm: number;
  /** The classifier's input. */
  head: number;
  /** The weights in float32: params.total * 4. */
  parameterBytes: number;
  /** The backward's gradients per image, in the memory plan's shared buffers (compiler/graph/memory.ts). */
  gradientBuffersBytes: number;
}

/** Graph figures keyed by layer index, in the order the layers run. */
type PerLayer<T> = Map<number, T>;

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** The block a node belongs to: its `layer` attr, or its label's `blocks.<i>.` prefix; null outside the blocks. */
function layerOf(node: GraphNode): number | null {
  if (typeof node.attrs.layer === 'number') return node.attrs.layer;
  const match = /^blocks\.(\d+)\./.exec(node.label);
  return match ? Number(match[1]) : null;
}

/** Heads and K/V groups of each block, from the eval phase's attention nodes (in layer order). */
function attentionShapes(graph: Graph): PerLayer<{ heads: number; groups: number }> {
  const shapes: PerLayer<{ heads: number; groups: number }> = new Map();
  for (const node of graph.phases.eval) {
    if (node.op === 'attention') shapes.set(node.attrs.layer as number, { heads: node.attrs.heads as number, groups: node.attrs.groups as number });
  }
  return shapes;
}

/** The q, k and v shares of something sized by the fused qkv columns ((H + 2G) head dims). */
function splitQkv(total: number, s: { heads: number; groups: number }): { q: number; k: number; v: number } {
  const perHead = total / (s.heads + 2 * s.groups);
  return { q: perHead * s.heads, k: perHead * s.groups, v: perHead * s.groups };
}

export function countParams(graph: Graph): ParamCounts {
  const shapes = attentionShapes(graph);
  const zero = (index: number): LayerParams => ({ index, attention: { q: 0, k: 0, v: 0, proj: 0, total: 0 }, norms: 0, mlp: 0, total: 0 });
  const layers = new Map([...shapes.keys()].map((i) => [i, zero(i)]));
  const outside = { patchEmbed: 0, clsToken: 0, posEmbed: 0, finalNorm: 0, head: 0 };
  const OUTSIDE: Record<string, keyof typeof outside> = { patch_embed: 'patchEmbed', cls_token: 'clsToken', pos_embed: 'posEmbed', norm: 'finalNorm', head: 'head' };
  for (const p of graph.params) {
    const n = elements(p.checkpointShape);
    const block = /^blocks\.(\d+)\.(\w+)\.(\w+)/.exec(p.name);
    if (!block) {
      const part = OUTSIDE[p.name.split('.')[0]!];
      if (!part) throw new Error(`summary: parameter ${p.name} belongs to no part`);
      outside[part] += n;
      continue;
    }
    const layer = layers.get(Number(block[1]))!;
    const [, , module, sub] = block;
    if (module === 'attn' && sub === 'qkv') {
      const { q, k, v } = splitQkv(n, shapes.get(layer.index)!);
      layer.attention.q += q;
      layer.attention.k += k;
      layer.attention.v += v;
    } else if (module === 'attn' && sub === 'proj') layer.attention.proj += n;
    else if (module === 'norm1' || module === 'norm2') layer.norms += n;
    else if (module === 'mlp') layer.mlp += n;
    else throw new Error(`summary: parameter ${p.name} belongs to no part`);
  }
  const perLayer = [...layers.values()].map((l) => {
    const a = l.attention;
    a.total = a.q + a.k + a.v + a.proj;
    return { ...l, total: a.total + l.norms + l.mlp };
  });
  const blocks = sum(perLayer.map((l) => l.total));
  return { total: blocks + sum(Object.values(outside)), ...outside, blocks, perLayer };
}

type FlopPart = Exclude<keyof LayerFlops, 'index' | 'q' | 'k' | 'v' | 'macs' | 'total'>;
/** The part a linear node's FLOPs count in, by what its label names. */
const LINEAR_PARTS: [RegExp, FlopPart | 'patchEmbed' | 'head'][] = [
  [/^patch_embed\./, 'patchEmbed'], [/\.attn\.qkv$/, 'qkv'], [/\.attn\.proj$/, 'proj'], [/\.mlp\.fc\d$/, 'mlp'], [/^head$/, 'head'],
];
const OP_PARTS: Record<string, FlopPart | 'patchEmbed' | 'head'> = { embed: 'patchEmbed', layernorm: 'norms', gelu: 'mlp', residual: 'residual', key_stat: 'allocation', pool: 'head' };

export function countFlops(graph: Graph): FlopCounts {
  const shapes = attentionShapes(graph);
  const zero = (index: number): LayerFlops =>
    ({ index, q: 0, k: 0, v: 0, qkv: 0, scores: 0, softmax: 0, attnV: 0, proj: 0, mlp: 0, norms: 0, residual: 0, allocation: 0, perturb: 0, macs: 0, total: 0 });
  const layers = new Map([...shapes.keys()].map((i) => [i, zero(i)]));
  const outside = { macs: 0, patchEmbed: 0, norms: 0, head: 0 };
  for (const node of graph.phases.eval) {
    const flops = OPS[node.op]!.flops?.(node.attrs);
    if (!flops) continue;
    const index = layerOf(node);
    const part = node.op === 'linear' ? LINEAR_PARTS.find(([label]) => label.test(node.label))?.[1] : OP_PARTS[node.op];
    if (index === null) {
      if (part !== 'patchEmbed' && part !== 'head' && part !== 'norms') throw new Error(`summary: ${node.label} (${node.op}) belongs to no part`);
      outside[part] += flops.total;
      outside.macs += flops.macs;
      continue;
    }
    const layer = layers.get(index)!;
    layer.macs += flops.macs;
    layer.total += flops.total;
    if (flops.parts) for (const [name, n] of Object.entries(flops.parts)) layer[name as FlopPart] += n;
    else if (part && part !== 'patchEmbed' && part !== 'head') layer[part] += flops.total;
    else throw new Error(`summary: ${node.label} (${node.op}) belongs to no part`);
    if (part === 'qkv') {
      const a = node.attrs as { rows: number; in: number; out: number; bias: boolean };
      const cols = splitQkv(a.out, shapes.get(index)!);
      layer.q += linearFlops(a.rows, a.in, cols.q, a.bias).total;
      layer.k += linearFlops(a.rows, a.in, cols.k, a.bias).total;
      layer.v += linearFlops(a.rows, a.in, cols.v, a.bias).total;
    }
  }
  const perLayer = [...layers.values()];
  const part = (key: FlopPart | 'total' | 'macs'): number => sum(perLayer.map((l) => l[key]));
  const blocks = part('total');
  return {
    total: blocks + outside.patchEmbed + outside.norms + outside.head,
    macs: part('macs') + outside.macs,
    patchEmbed: outside.patchEmbed,
    qkv: part('qkv'), scores: part('scores'), softmax: part('softmax'), attnV: part('attnV'), proj: part('proj'), mlp: part('mlp'),
    norms: part('norms') + outside.norms,
    residual: part('residual'), allocation: part('allocation'), perturb: part('perturb'),
    head: outside.head,
    blocks,
    perLayer,
  };
}

/** A training step's FLOPs (docs/analyses.md, training FLOPs): every op of its phases declares its own. */
export interface TrainingFlops {
  /** The training forward per image (dropout, drop path and training-time noise active), the loss left out. */
  forward: number;
  /** The backward per image: every op of the graph's derived backward. */
  backward: number;
  /** Of which the backward's matmuls (weight and input gradients of every linear). */
  backwardMatmuls: number;
  /** The optimizer phase per step (norm, clipping, the update; key_grad statistics); null without a run. */
  optimizer: number | null;
  /** Images per optimizer step (the run's batch; 1 without a run). */
  imagesPerStep: number;
  /** Per image: forward + backward + optimizer / imagesPerStep. */
  total: number;
}

/** Sums the FLOPs that the nodes of a phase declare (ops with none count 0). */
export function phaseFlops(nodes: readonly GraphNode[], op?: string): number {
  return sum(nodes.filter((n) => op === undefined || n.op === op).map((n) => OPS[n.op]!.flops?.(n.attrs)?.total ?? 0));
}

/**
 * `graph`: lowered at one image with a training pass; `step`: the run's graph (its optimizer phase),
 * or null. The optimizer's work does not depend on the images, so it is spread over a step's batch.
 */
export function countTrainingFlops(graph: Graph, step: { graph: Graph; imagesPerStep: number } | null): TrainingFlops {
  const forward = phaseFlops(graph.phases.forward);
  const backward = phaseFlops(graph.phases.backward);
  const optimizer = step ? phaseFlops(step.graph.phases.optimizer) : null;
  const imagesPerStep = step?.imagesPerStep ?? 1;
  return {
    forward, backward, backwardMatmuls: phaseFlops(graph.phases.backward, 'matmul'), optimizer, imagesPerStep,
    total: forward + backward + (optimizer ?? 0) / imagesPerStep,
  };
}

type KeptPart = Exclude<keyof LayerActivations, 'index' | 'total'>;
/** What a tensor of the training forward is kept for, by the backward op and role that read it. */
const KEPT_FOR: Record<string, Record<string, KeptPart>> = {
  layernorm_bwd: { x: 'norms', stats: 'norms' },
  layernorm_bwd_params: { x: 'norms', stats: 'norms' },
  matmul: { a: 'linearInputs' },
  attention_bwd: { qkv: 'qkv', p: 'attentionProbs', s: 'perturb', o: 'perturb', z: 'perturb', table: 'allocation' },
  gelu_bwd: { x: 'gelu' },
};
/** Outside the blocks, by the backward node's label. */
const KEPT_OUTSIDE: [RegExp, 'input' | 'finalNorm' | 'head'][] = [[/^patch_embed\./, 'input'], [/^norm\b/, 'finalNorm'], [/^head\b/, 'head']];

/**
 * Activation memory: every tensor the training forward writes and its backward reads, counted once
 * where the backward first reads it; the loss gradient that seeds the backward is not counted.
 * Dropout and drop-path masks are drawn again from their streams in the backward, so none is kept.
 */
export function countMemory(graph: Graph, params: ParamCounts): MemoryFigures {
  const tensors = new Map<string, GraphTensor>(graph.tensors.map((t) => [t.name, t]));
  const written = new Set(graph.phases.forward.flatMap((n) => (n.op === 'cross_entropy' ? [] : Object.values(n.outputs))));
  const zero = (index: number): LayerActivations => ({ index, norms: 0, linearInputs: 0, qkv: 0, attentionProbs: 0, perturb: 0, allocation: 0, gelu: 0, total: 0 });
  const layers = new Map([...attentionShapes(graph).keys()].map((i) => [i, zero(i)]));
  const outside = { input: 0, finalNorm: 0, head: 0 };
  const counted = new Set<string>();
  for (const node of graph.phases.backward) {
    for (const [role, name] of Object.entries(node.inputs)) {
      if (!written.has(name) || counted.has(name) || tensors.get(name)!.kind !== 'activation') continue;
      counted.add(name);
      const bytes = elements(tensors.get(name)!.shape) * BYTES_PER_ELEMENT;
      const index = layerOf(node);
      const where = index === null ? KEPT_OUTSIDE.find(([label]) => label.test(node.label))?.[1] : KEPT_FOR[node.op]?.[role];
      if (!where) throw new Error(`summary: ${name}, read by ${node.label} (${node.op} ${role}), is kept for no known part`);
      if (index === null) outside[where as keyof typeof outside] += bytes;
      else layers.get(index)![where as KeptPart] += bytes;
    }
  }
  const perLayer = [...layers.values()].map((l) => ({ ...l, total: l.norms + l.linearInputs + l.qkv + l.attentionProbs + l.perturb + l.allocation + l.gelu }));
  const blocks = sum(perLayer.map((l) => l.total));
  return {
    activationsBytes: outside.input + blocks + outside.finalNorm + outside.head,
    input: outside.input,
    blocks,
    perLayer,
    finalNorm: outside.finalNorm,
    head: outside.head,
    parameterBytes: params.total * BYTES_PER_ELEMENT,
    gradientBuffersBytes: sum(graph.memory.buffers.filter((b) => b.name.startsWith('scratch:grad.')).map((b) => b.elements * BYTES_PER_ELEMENT)),
  };
}
