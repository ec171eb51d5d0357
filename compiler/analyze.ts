// Static analyses of a model's IR: parameter counts, forward FLOPs, activation memory and the K/V
// cache, as printed by `attnc compile --summary`. Everything is computed from the IR alone, so the
// figures describe the architecture, not a particular runtime. docs/analyses.md states what each
// figure counts; the constants below are the conventions it refers to.
import { describeScore, SCORES } from './ir/scores.js';
import type { AttentionIR, IRDocument, LayerIR, ModelIR } from './ir/types.js';

/** Parameters, activations and the K/V cache are counted in float32. */
export const BYTES_PER_FLOAT = 4;
/** A multiply-add (MAC) counts as 2 FLOPs, so matmul FLOPs are twice the MACs fvcore and timm report. */
export const FLOPS_PER_MULTIPLY_ADD = 2;
/** LayerNorm: mean (1), centre (1), variance (multiply-add, 2), scale by 1/std (1), affine (2). */
export const LAYERNORM_FLOPS_PER_ELEMENT = 7;
/** Softmax: max (1), subtract (1), exp (1), sum (1), divide (1). */
export const SOFTMAX_FLOPS_PER_ELEMENT = 5;
/** Exact GELU x/2 * (1 + erf(x/sqrt 2)): divide, erf, add, multiply, halve; erf counts as 1. */
export const GELU_FLOPS_PER_ELEMENT = 5;
/**
 * PGQA noise per perturbed element: row mean (1) and variance (2) of the noise and of the target,
 * standardise and rescale the noise (3), multiply by scale (1), subtract (1). Drawing is not counted.
 */
export const PERTURB_FLOPS_PER_ELEMENT = 11;
/** Dropout masks are kept as one byte per element (as PyTorch's bool masks). */
export const BYTES_PER_MASK_ELEMENT = 1;

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
  /** timm's `norm` with a class token, its `fc_norm` with mean pooling: the same count. */
  finalNorm: number;
  head: number;
}

/** The FLOPs of one transformer block; every part is already in FLOPs (MACs times 2, plus the rest). */
export interface LayerFlops {
  index: number;
  /** The q, k and v projections; qkv is their sum. Grouping shrinks k and v only. */
  q: number;
  k: number;
  v: number;
  qkv: number;
  /** QK^T over all query heads: 2 * heads * T * T * headDim, whatever kvHeads is. */
  scores: number;
  /** Softmax over the scores, plus scaling q by 1/sqrt(headDim) (timm scales q, not the scores). */
  softmax: number;
  attnV: number;
  proj: number;
  /** fc1, GELU and fc2. */
  mlp: number;
  /** norm1 and norm2. */
  norms: number;
  /** The two residual additions. */
  residual: number;
  /** Key-head norms for a key_norm allocation recomputed at inference; 0 otherwise. */
  allocation: number;
  /** PGQA noise when applied at inference (during 'always'); 0 otherwise. */
  perturb: number;
  /** Multiply-adds of this block's matmuls (projections, QK^T, attention @ V, MLP). */
  macs: number;
  total: number;
}

export interface FlopCounts {
  /** Forward FLOPs per image at inference (dropout, drop-path and train-only noise are off). */
  total: number;
  /** Multiply-adds of every conv and matmul, the figure fvcore/timm call "GMACs" (times 1e9). */
  macs: number;
  /** Patch convolution with its bias, plus the position-embedding addition. */
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
  /** Mean pooling (when pool is 'mean') and the classifier. */
  head: number;
  /** Sum of perLayer totals. */
  blocks: number;
  perLayer: LayerFlops[];
}

/** Bytes a block keeps from its forward pass for the backward pass, per image. */
export interface LayerActivations {
  index: number;
  /** Inputs of norm1 and norm2, with their per-token mean and 1/std. */
  norms: number;
  /** Inputs of the qkv, proj, fc1 and fc2 linears. */
  linearInputs: number;
  /** Scaled q (heads) and k, v (kvHeads) that the two attention matmuls need. */
  qkv: number;
  /** Softmax output heads * T * T; twice that with attention dropout (the dropped copy feeds @V). */
  attentionProbs: number;
  /** The GELU input. */
  gelu: number;
  /** Attention, projection and MLP dropout masks, when their rates are non-zero. */
  dropoutMasks: number;
  total: number;
}

export interface MemoryFigures {
  /** Activation bytes per image kept for backward: input + blocks + final norm + head input. */
  activationsBytes: number;
  /** The image, which the patch convolution keeps to compute its weight gradient. */
  input: number;
  blocks: number;
  perLayer: LayerActivations[];
  /** Final norm input and statistics (all tokens with a class token, the pooled vector otherwise). */
  finalNorm: number;
  /** The classifier's input. */
  head: number;
  /** The weights in float32: params.total * 4. */
  parameterBytes: number;
}

export interface KvCacheFigures {
  /** K and V bytes per token summed over layers: sum of 2 * kvHeads * headDim * 4. */
  bytesPerToken: number;
  perLayer: { index: number; bytesPerToken: number }[];
  /** bytesPerToken * tokens: the cache of one image's full sequence. */
  bytesPerImage: number;
  /** The same model with kvHeads = heads in every layer, to compare against. */
  mhaBytesPerToken: number;
  /** bytesPerToken / mhaBytesPerToken (1 for MHA, 1/heads for MQA). */
  ratioToMha: number;
}

export interface LayerDescription {
  index: number;
  variant: AttentionIR['variant'];
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Query heads per K/V head under a uniform allocation; null when the allocation is dynamic. */
  queryHeadsPerGroup: number | null;
  /** One line: the allocation policy and its settings. */
  allocation: string;
  /** One line, or null without PGQA noise. */
  perturb: string | null;
}

export interface ModelSummary {
  name: string;
  tokens: number;
  conventions: {
    bytesPerFloat: number;
    flopsPerMultiplyAdd: number;
    layerNormFlopsPerElement: number;
    softmaxFlopsPerElement: number;
    geluFlopsPerElement: number;
    perturbFlopsPerElement: number;
  };
  params: ParamCounts;
  flops: FlopCounts;
  memory: MemoryFigures;
  kvCache: KvCacheFigures;
  layers: LayerDescription[];
}

/** Weight and bias of a linear layer. */
const linearParams = (inFeatures: number, outFeatures: number, bias: boolean): number =>
  inFeatures * outFeatures + (bias ? outFeatures : 0);

/** Forward FLOPs of a linear layer applied to `rows` rows: multiply-adds plus the bias addition. */
const linearFlops = (rows: number, inFeatures: number, outFeatures: number, bias: boolean): number =>
  rows * (FLOPS_PER_MULTIPLY_ADD * inFeatures * outFeatures + (bias ? outFeatures : 0));

const layerNormParams = (dim: number): number => 2 * dim;

function layerParams(m: ModelIR, layer: LayerIR): LayerParams {
  const { heads, kvHeads, headDim } = layer.attention;
  const D = m.dim;
  const hidden = layer.mlp.hidden;
  // timm fuses q, k and v into one linear of D -> (heads + 2 * kvHeads) * headDim; split here so
  // grouping shows up as smaller k and v.
  const q = linearParams(D, heads * headDim, m.qkvBias);
  const k = linearParams(D, kvHeads * headDim, m.qkvBias);
  const v = linearParams(D, kvHeads * headDim, m.qkvBias);
  const proj = linearParams(heads * headDim, D, true);
  const attention = { q, k, v, proj, total: q + k + v + proj };
  const norms = 2 * layerNormParams(D);
  const mlp = linearParams(D, hidden, true) + linearParams(hidden, D, true);
  return { index: layer.index, attention, norms, mlp, total: attention.total + norms + mlp };
}

function countParams(m: ModelIR): ParamCounts {
  const patchEmbed = m.image.channels * m.patch * m.patch * m.dim + m.dim;
  const clsToken = m.pool === 'cls' ? m.dim : 0;
  const posEmbed = m.tokens * m.dim;
  const perLayer = m.layers.map((layer) => layerParams(m, layer));
  const blocks = sum(perLayer.map((l) => l.total));
  const finalNorm = layerNormParams(m.dim);
  const head = linearParams(m.dim, m.classes, true);
  const total = patchEmbed + clsToken + posEmbed + blocks + finalNorm + head;
  return { total, patchEmbed, clsToken, posEmbed, blocks, perLayer, finalNorm, head };
}

function layerFlops(m: ModelIR, layer: LayerIR): LayerFlops {
  const { heads: H, kvHeads: G, headDim: hd } = layer.attention;
  const T = m.tokens;
  const D = m.dim;
  const hidden = layer.mlp.hidden;
  const q = linearFlops(T, D, H * hd, m.qkvBias);
  const k = linearFlops(T, D, G * hd, m.qkvBias);
  const v = linearFlops(T, D, G * hd, m.qkvBias);
  // Every query head still scores against all T keys: grouping shares K/V heads, it does not
  // shrink QK^T or attention @ V.
  const scores = FLOPS_PER_MULTIPLY_ADD * H * T * T * hd;
  const softmax = SOFTMAX_FLOPS_PER_ELEMENT * H * T * T + H * T * hd;
  const attnV = FLOPS_PER_MULTIPLY_ADD * H * T * T * hd;
  const proj = linearFlops(T, H * hd, D, true);
  const mlp = linearFlops(T, D, hidden, true) + GELU_FLOPS_PER_ELEMENT * T * hidden + linearFlops(T, hidden, D, true);
  const norms = 2 * LAYERNORM_FLOPS_PER_ELEMENT * T * D;
  const residual = 2 * T * D;
  const allocation = allocationFlops(layer.attention, T);
  const perturb = perturbFlops(layer.attention, T);
  const macs = T * D * (H + 2 * G) * hd + 2 * H * T * T * hd + T * H * hd * D + 2 * T * D * hidden;
  const qkv = q + k + v;
  const total = qkv + scores + softmax + attnV + proj + mlp + norms + residual + allocation + perturb;
  return { index: layer.index, q, k, v, qkv, scores, softmax, attnV, proj, mlp, norms, residual, allocation, perturb, macs, total };
}

/** A scored allocation recomputed at inference computes its statistic over every key head's T * headDim values (a key norm: a multiply-add or |x| + add each). */
function allocationFlops(a: AttentionIR, tokens: number): number {
  if (a.allocation.policy === 'uniform' || a.allocation.eval !== 'recompute') return 0;
  return SCORES[a.allocation.score.kind].flopsPerKey * a.kvHeads * tokens * a.headDim;
}

/** PGQA noise counts only when it is applied at inference too. */
function perturbFlops(a: AttentionIR, tokens: number): number {
  if (a.perturb === null || a.perturb.during !== 'always') return 0;
  const elements = a.perturb.at === 'output' ? a.heads * tokens * a.headDim : a.heads * tokens * tokens;
  return PERTURB_FLOPS_PER_ELEMENT * elements;
}

function countFlops(m: ModelIR): FlopCounts {
  const perLayer = m.layers.map((layer) => layerFlops(m, layer));
  const P = m.patches;
  const D = m.dim;
  const patchMacs = P * m.image.channels * m.patch * m.patch * D;
  // The conv is a linear over flattened patches; the position embedding is added to every token.
  const patchEmbed = linearFlops(P, m.image.channels * m.patch * m.patch, D, true) + m.tokens * D;
  // With a class token timm normalises all tokens and reads out the first; with mean pooling it
  // averages the tokens (P * D adds and divides) and normalises the pooled vector (fc_norm).
  const finalNorm = LAYERNORM_FLOPS_PER_ELEMENT * (m.pool === 'cls' ? m.tokens * D : D);
  const pooling = m.pool === 'mean' ? m.tokens * D : 0;
  const head = pooling + linearFlops(1, D, m.classes, true);
  const part = (key: keyof Omit<LayerFlops, 'index'>): number => sum(perLayer.map((l) => l[key]));
  const blocks = part('total');
  return {
    total: patchEmbed + blocks + finalNorm + head,
    macs: patchMacs + part('macs') + D * m.classes,
    patchEmbed,
    qkv: part('qkv'),
    scores: part('scores'),
    softmax: part('softmax'),
    attnV: part('attnV'),
    proj: part('proj'),
    mlp: part('mlp'),
    norms: part('norms') + finalNorm,
    residual: part('residual'),
    allocation: part('allocation'),
    perturb: part('perturb'),
    head,
    blocks,
    perLayer,
  };
}

function layerActivations(m: ModelIR, layer: LayerIR): LayerActivations {
  const { heads: H, kvHeads: G, headDim: hd } = layer.attention;
  const T = m.tokens;
  const D = m.dim;
  const hidden = layer.mlp.hidden;
  const f = BYTES_PER_FLOAT;
  const b = BYTES_PER_MASK_ELEMENT;
  // LayerNorm backward needs its input and the per-token mean and 1/std.
  const norms = 2 * (T * D + 2 * T) * f;
  const linearInputs = (T * D + T * H * hd + T * D + T * hidden) * f;
  // K and V are counted at kvHeads: the grouping is a broadcast, not a copy (docs/analyses.md).
  const qkv = (H + 2 * G) * T * hd * f;
  const probs = H * T * T;
  const attentionProbs = (m.attnDropout > 0 ? 2 : 1) * probs * f;
  const gelu = T * hidden * f;
  const attnMask = m.attnDropout > 0 ? probs * b : 0;
  // timm's Block: proj_drop after the projection; Mlp: drop1 after GELU, drop2 after fc2.
  const outputMasks = m.dropout > 0 ? (T * D + T * hidden + T * D) * b : 0;
  const dropoutMasks = attnMask + outputMasks;
  const total = norms + linearInputs + qkv + attentionProbs + gelu + dropoutMasks;
  return { index: layer.index, norms, linearInputs, qkv, attentionProbs, gelu, dropoutMasks, total };
}

function countMemory(m: ModelIR, params: ParamCounts): MemoryFigures {
  const f = BYTES_PER_FLOAT;
  const perLayer = m.layers.map((layer) => layerActivations(m, layer));
  const input = m.image.height * m.image.width * m.image.channels * f;
  const blocks = sum(perLayer.map((l) => l.total));
  const normRows = m.pool === 'cls' ? m.tokens : 1;
  const finalNorm = (normRows * m.dim + 2 * normRows) * f;
  const head = m.dim * f;
  return {
    activationsBytes: input + blocks + finalNorm + head,
    input,
    blocks,
    perLayer,
    finalNorm,
    head,
    parameterBytes: params.total * f,
  };
}

function countKvCache(m: ModelIR): KvCacheFigures {
  const bytes = (kvHeads: number, headDim: number): number => 2 * kvHeads * headDim * BYTES_PER_FLOAT;
  const perLayer = m.layers.map((l) => ({ index: l.index, bytesPerToken: bytes(l.attention.kvHeads, l.attention.headDim) }));
  const bytesPerToken = sum(perLayer.map((l) => l.bytesPerToken));
  const mhaBytesPerToken = sum(m.layers.map((l) => bytes(l.attention.heads, l.attention.headDim)));
  return {
    bytesPerToken,
    perLayer,
    bytesPerImage: bytesPerToken * m.tokens,
    mhaBytesPerToken,
    ratioToMha: mhaBytesPerToken === 0 ? 1 : bytesPerToken / mhaBytesPerToken,
  };
}

export function describeLayer(layer: LayerIR): LayerDescription {
  const a = layer.attention;
  const uniform = a.allocation.policy === 'uniform';
  return {
    index: layer.index,
    variant: a.variant,
    heads: a.heads,
    kvHeads: a.kvHeads,
    headDim: a.headDim,
    queryHeadsPerGroup: uniform && a.heads % a.kvHeads === 0 ? a.heads / a.kvHeads : null,
    allocation: describeAllocation(a),
    perturb: a.perturb === null ? null : `${a.perturb.distribution} noise x${a.perturb.scale} at ${a.perturb.at}, during ${a.perturb.during}`,
  };
}

function describeAllocation(a: AttentionIR): string {
  const al = a.allocation;
  if (al.policy === 'uniform') {
    const perGroup = a.heads / a.kvHeads;
    return Number.isInteger(perGroup) ? `uniform, ${perGroup} query head(s) per K/V head` : 'uniform';
  }
  const parts = [
    `${describeScore(al.score)}, scale ${al.scale}, ${al.rounding} rounding`,
    `min ${al.min} per group`,
    `per ${al.scope}`,
    `eval ${al.eval}`,
  ];
  if (al.track !== null) {
    const how = al.track.kind === 'ema' ? `ema decay ${al.track.decay} (${al.track.rule})` : 'diff';
    parts.push(`tracked ${how} every ${al.window} steps from ${al.init}`);
  }
  return parts.join(', ');
}

export function analyzeModel(m: ModelIR): ModelSummary {
  const params = countParams(m);
  return {
    name: m.name,
    tokens: m.tokens,
    conventions: {
      bytesPerFloat: BYTES_PER_FLOAT,
      flopsPerMultiplyAdd: FLOPS_PER_MULTIPLY_ADD,
      layerNormFlopsPerElement: LAYERNORM_FLOPS_PER_ELEMENT,
      softmaxFlopsPerElement: SOFTMAX_FLOPS_PER_ELEMENT,
      geluFlopsPerElement: GELU_FLOPS_PER_ELEMENT,
      perturbFlopsPerElement: PERTURB_FLOPS_PER_ELEMENT,
    },
    params,
    flops: countFlops(m),
    memory: countMemory(m, params),
    kvCache: countKvCache(m),
    layers: m.layers.map(describeLayer),
  };
}

/** One summary per model, in the document's order (summaries[i] describes doc.models[i]). */
export function analyzeDocument(doc: IRDocument): ModelSummary[] {
  return doc.models.map(analyzeModel);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
