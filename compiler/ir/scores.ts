// The importance statistics an allocation may share query heads by: ONE registry. Each entry is a
// name, its parameters (schema, default, doc: the language's `allocate NAME(...)` arguments and the
// IR's `score` object are built from them) and a plain float64 reference implementation that tests
// hold every backend to. A backend computes a statistic with one function per entry (the graph's
// `key_stat` op carries the IR's `score`); docs/allocation.md lists them.
//
// Every statistic is per image and K/V group, [B, G]; scope 'batch' sums it over the batch's images
// (the allocate op), as the reference code sums its key norms.
import { Purpose, randomBits, seed32, streamId } from '../../core/random.js';

/** The statistic of a scored allocation, as the IR holds it: `kind` names a registry entry, the rest are its parameters. */
export type ScoreIR = { kind: 'key_norm'; norm: 'l2' | 'l1' } | { kind: 'key_variance' } | { kind: 'random' } | { kind: 'attention_entropy' } | { kind: 'key_grad' };
export type ScoreKind = ScoreIR['kind'];

/** What a keyed statistic (`random`) is drawn from: the pass, as every backend knows it. */
export interface ScoreDraw {
  /** The run seed (seed32 is applied here). */
  seed: number;
  layer: number;
  /** Training: keyed by (step, micro-batch, image); evaluation: one key per layer, still drawn per image (by its batch position). */
  training: boolean;
  step: number;
  microBatch: number;
  /** Where these images start within their (micro-)batch (data-parallel processes share one; 0 otherwise). */
  firstImage?: number;
}

export interface ScoreParam {
  values: readonly string[];
  default: string;
  doc: string;
}

export interface ScoreEntry {
  /** The language's doc line of `allocate NAME(...)`. */
  doc: string;
  params: Readonly<Record<string, ScoreParam>>;
  /** Whether the statistic is drawn from the (seed, layer, step) key rather than read from the keys. */
  drawn: boolean;
  /**
   * Whether it is read from the previous training step's gradient (key_grad) rather than from this
   * pass: one row [1, G] per layer, written after the backward, kept across steps and in checkpoints.
   * Its reference then takes that gradient: keys[0][g] = group g's key columns of the qkv weight's
   * gradient, [dim, head_dim] row-major (the graph's [in, out] layout).
   */
  lagged?: boolean;
  /** FLOPs per key element with T tokens (the key_stat op's declared FLOPs, compiler/graph/ops.ts): a multiply-add per element for a norm. */
  flopsPerKey(tokens: number): number;
  /** float64 reference: keys[b][g] holds image b's T * hd key values of group g (token-major); returns [B][G]. */
  reference(score: ScoreIR, keys: readonly (readonly (readonly number[])[])[], draw: ScoreDraw, headDim: number): number[][];
}

/**
 * The `random` statistic of image b (counted from the batch's first, plus firstImage) and group g, a
 * whole number in [0, 4096): the top 12 bits of the counter generator (core/random.ts) at
 *   training:   stream streamId(Purpose.allocationScore, layer, step, microBatch), counter (firstImage + b) * G + g
 *   evaluation: stream streamId(Purpose.allocationScore, layer),                  counter (firstImage + b) * G + g
 * Evaluation draws per image too, so the batch's summed scores (which set the allocation) average out
 * as they do in training; one draw shared by every image would give evaluation an uneven split that
 * training never saw. The evaluation draw depends only on (seed, layer, position in the evaluation
 * batch), not on the step: results are deterministic, and depend on the evaluation batch size only
 * through which images share a batch (and hence a summed score and an allocation).
 * Whole numbers below 2^12 sum exactly in float32 over up to 4096 images, in any order, so the
 * batch's sum, and hence the allocation, is the same bits on every backend (docs/allocation.md).
 */
export function randomScore(draw: ScoreDraw, image: number, group: number, groups: number): number {
  const stream = draw.training ? streamId(Purpose.allocationScore, draw.layer, draw.step, draw.microBatch) : streamId(Purpose.allocationScore, draw.layer);
  const counter = ((draw.firstImage ?? 0) + image) * groups + group;
  return randomBits(seed32(draw.seed), stream, counter >>> 0) >>> 20;
}

/**
 * The `attention_entropy` statistic of one image's K/V group: its keys k_0 .. k_{T-1} (T * hd values,
 * token-major) attend to themselves, p_ij = softmax_j(k_i . k_j / sqrt(hd)), and the statistic is the
 * mean over i of the entropy -sum_j p_ij ln p_ij (nats, in [0, ln T]), computed as
 * ln Z_i - sum_j e_ij (s_ij - m_i) / Z_i with m_i = max_j s_ij, e_ij = exp(s_ij - m_i), Z_i = sum_j e_ij.
 */
export function keySelfAttentionEntropy(k: readonly number[], headDim: number): number {
  const T = k.length / headDim;
  const scale = 1 / Math.sqrt(headDim);
  let total = 0;
  for (let i = 0; i < T; i++) {
    const s = Array.from({ length: T }, (_, j) => {
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += k[i * headDim + d]! * k[j * headDim + d]!;
      return dot * scale;
    });
    const m = Math.max(...s);
    let z = 0;
    let w = 0;
    for (const x of s) {
      const e = Math.exp(x - m);
      z += e;
      w += e * (x - m);
    }
    total += Math.log(z) - w / z;
  }
  return total / T;
}

const sum = (xs: readonly number[], f: (x: number) => number) => xs.reduce((s, x) => s + f(x), 0);

export const SCORES: Readonly<Record<ScoreKind, ScoreEntry>> = {
  key_norm: {
    doc: 'query heads shared out in proportion to the norms of the key heads (KDGQA; DGQA with track)',
    params: { norm: { values: ['l2', 'l1'], default: 'l2', doc: 'norm of a key head over tokens and head_dim (l2: Frobenius)' } },
    drawn: false,
    flopsPerKey: () => 2,
    reference: (score, keys) => keys.map((image) => image.map((k) => ((score as { norm: string }).norm === 'l1' ? sum(k, Math.abs) : Math.sqrt(sum(k, (x) => x * x))))),
  },
  key_variance: {
    doc: 'query heads shared out in proportion to the variance of each key head over tokens and head_dim (population variance)',
    params: {},
    drawn: false,
    flopsPerKey: () => 4, // the sum, then a subtraction and a multiply-add per element
    reference: (_score, keys) =>
      keys.map((image) =>
        image.map((k) => {
          const mean = sum(k, (x) => x) / k.length;
          return sum(k, (x) => (x - mean) * (x - mean)) / k.length;
        }),
      ),
  },
  random: {
    doc: 'query heads shared out in proportion to a seeded random number per K/V group: the control for informed allocation',
    params: {},
    drawn: true,
    flopsPerKey: () => 0,
    reference: (_score, keys, draw) => keys.map((image, b) => image.map((_k, g) => randomScore(draw, b, g, image.length))),
  },
  attention_entropy: {
    doc: "query heads shared out in proportion to the entropy of each key head's self-attention: the mean over its tokens of the entropy of softmax(k_i . k_j / sqrt(head_dim)) over j (nats)",
    params: {},
    drawn: false,
    flopsPerKey: (tokens) => 2 * tokens + 4, // T dot products per key row (a multiply-add per element), then exp, sums and a log per score
    reference: (_score, keys, _draw, headDim) => keys.map((image) => image.map((k) => keySelfAttentionEntropy(k, headDim))),
  },
  key_grad: {
    doc: "query heads shared out in proportion to the gradient norm of each key head's projection weights, from the previous training step's backward (tracked state; uniform before the first)",
    params: {},
    drawn: false,
    lagged: true,
    flopsPerKey: () => 0, // computed after the backward, never at inference
    reference: (_score, grads) => grads.map((step) => step.map((w) => Math.sqrt(sum(w, (x) => x * x)))),
  },
};

export const SCORE_KINDS = Object.keys(SCORES) as ScoreKind[];

/** The statistics a model's layers allocate by, as switches (`key_norm`: true, ...) for the emitters' assets. */
export function scoreSwitches(allocations: readonly { policy: string; score?: ScoreIR }[]): Record<ScoreKind, boolean> {
  const used = new Set(allocations.map((a) => a.score?.kind));
  return Object.fromEntries(SCORE_KINDS.map((k) => [k, used.has(k)])) as Record<ScoreKind, boolean>;
}

/** The IR score of a statistic from its named arguments (absent ones take their defaults). */
export function scoreFromArgs(kind: ScoreKind, args: Readonly<Record<string, unknown>>): ScoreIR {
  const params = Object.fromEntries(Object.entries(SCORES[kind].params).map(([name, p]) => [name, args[name] ?? p.default]));
  return { kind, ...params } as ScoreIR;
}

/** "key_norm l2", "key_variance": a score for reports, its name then its parameters' values. */
export function describeScore(score: ScoreIR): string {
  return [score.kind, ...Object.keys(SCORES[score.kind].params).map((p) => String((score as unknown as Record<string, unknown>)[p]))].join(' ');
}
