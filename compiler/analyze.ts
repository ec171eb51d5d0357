// Static analyses of a model, as printed by `attnc compile --summary`: a pass over the model's op
// graph (compiler/graph/), lowered at one image with a training pass. Parameters come from the
// graph's parameter tensors, forward FLOPs from its eval nodes (each op of the catalogue declares its
// FLOPs), activation memory from what its backward reads of the training forward, and the gradient
// buffers from its memory plan (compiler/graph/measure.ts); the K/V cache and the layer descriptions
// read the IR's attention. docs/analyses.md states what each figure counts.
import { lowerModelGraph } from './graph/lower.js';
import { countFlops, countMemory, countParams, countTrainingFlops, BYTES_PER_ELEMENT, type FlopCounts, type MemoryFigures, type ParamCounts, type TrainingFlops } from './graph/measure.js';
import {
  FLOPS_PER_MULTIPLY_ADD, GELU_FLOPS_PER_ELEMENT, LAYERNORM_FLOPS_PER_ELEMENT, PERTURB_FLOPS_PER_ELEMENT, SOFTMAX_FLOPS_PER_ELEMENT,
} from './graph/ops.js';
import { describeScore } from './ir/scores.js';
import type { AttentionIR, IRDocument, LayerIR, ModelIR, RunIR } from './ir/types.js';

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
  /** A training step's FLOPs per image; the optimizer's from `run` (null: none given). */
  training: TrainingFlops;
  memory: MemoryFigures;
  kvCache: KvCacheFigures;
  layers: LayerDescription[];
}

function countKvCache(m: ModelIR): KvCacheFigures {
  const bytes = (kvHeads: number, headDim: number): number => 2 * kvHeads * headDim * BYTES_PER_ELEMENT;
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

/** `run`: the run whose optimizer the training FLOPs count (the model's only run in a document). */
export function analyzeModel(m: ModelIR, run: RunIR | null = null): ModelSummary {
  const graph = lowerModelGraph(m, null, { batch: 1, trainingPass: true });
  const step = run ? { graph: lowerModelGraph(m, run, { batch: 1 }), imagesPerStep: run.batch } : null;
  const params = countParams(graph);
  return {
    name: m.name,
    tokens: m.tokens,
    conventions: {
      bytesPerFloat: BYTES_PER_ELEMENT,
      flopsPerMultiplyAdd: FLOPS_PER_MULTIPLY_ADD,
      layerNormFlopsPerElement: LAYERNORM_FLOPS_PER_ELEMENT,
      softmaxFlopsPerElement: SOFTMAX_FLOPS_PER_ELEMENT,
      geluFlopsPerElement: GELU_FLOPS_PER_ELEMENT,
      perturbFlopsPerElement: PERTURB_FLOPS_PER_ELEMENT,
    },
    params,
    flops: countFlops(graph),
    training: countTrainingFlops(graph, step),
    memory: countMemory(graph, params),
    kvCache: countKvCache(m),
    layers: m.layers.map(describeLayer),
  };
}

/**
 * One summary per model, in the document's order (summaries[i] describes doc.models[i]); a model
 * trained by exactly one run gets that run's optimizer counted.
 */
export function analyzeDocument(doc: IRDocument): ModelSummary[] {
  return doc.models.map((m) => {
    const runs = doc.runs.filter((r) => r.model === m.name);
    return analyzeModel(m, runs.length === 1 ? runs[0]! : null);
  });
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
