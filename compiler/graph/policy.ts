// What a layer's attention does in a mode, decided once for every backend: whether it allocates
// query heads by score, how its heads find their K/V group, and whether (and how) it is perturbed.
import type { LayerIR, ModelIR, ScoredAllocationIR } from '../ir/types.js';

/** The layer's scored allocation (KDGQA, DGQA, or any statistic of the registry), or null for fixed uniform groups. */
export function scoredOf(layer: LayerIR): ScoredAllocationIR | null {
  const al = layer.attention.allocation;
  return al.policy === 'uniform' ? null : al;
}

/** Whether the layer allocates query heads by a score rather than by fixed uniform groups: the one test every module uses. */
export function allocates(layer: LayerIR): boolean {
  return scoredOf(layer) !== null;
}

/** Whether the layer's allocation at evaluation depends on which images share a batch (scope batch, recomputed). */
export function evalDependsOnBatch(layer: LayerIR): boolean {
  const al = scoredOf(layer);
  return al !== null && al.eval === 'recompute' && al.scope === 'batch';
}

/**
 * How the attention finds head h's group: 'uniform' computes h / (H / G); 'table' reads one
 * head -> group table for the batch; 'table-per-sample' one per image (scope 'sample', untracked,
 * unless eval reads the frozen counts).
 */
export function groupingOf(layer: LayerIR, mode: 'train' | 'eval'): 'uniform' | 'table' | 'table-per-sample' {
  const al = scoredOf(layer);
  if (!al) return 'uniform';
  if (al.track || (mode === 'eval' && al.eval === 'frozen')) return 'table';
  return al.scope === 'sample' ? 'table-per-sample' : 'table';
}

/** PGQA as the attention op sees it in a mode: null where nothing is perturbed. */
export interface Perturbation {
  at: 'output' | 'scores';
  distribution: 'gaussian' | 'uniform';
  scale: number;
  /** compat paper at 'output': one noise row per head for the whole batch, entry h mod (H / G) zeroed. */
  paper: boolean;
  tokens: number;
  groups: number;
  headDim: number;
  /** Rows of the perturbed tensor per image and head (1 at 'output', T at 'scores'), and their length. */
  rowsPerHead: number;
  rowLength: number;
  /** Rows of noise: one per perturbed row, or per head and row with `paper`. */
  noiseRows: number;
}

/**
 * Which noise an eval phase applies: 'declared' as the layer says (`during: always` only, what
 * attnc eval measures); 'training' also the noise of `during: train` layers (the analysis's noisy
 * pass); 'off' none (its clean pass).
 */
export type EvalNoise = 'declared' | 'training' | 'off';

export function perturbationOf(m: ModelIR, layer: LayerIR, mode: 'train' | 'eval', batch: number, evalNoise: EvalNoise = 'declared'): Perturbation | null {
  const a = layer.attention;
  const p = a.perturb;
  if (!p || p.scale === 0) return null;
  if (mode === 'eval' && (evalNoise === 'off' || (evalNoise === 'declared' && p.during !== 'always'))) return null;
  const paper = a.compat === 'paper' && p.at === 'output';
  const rowsPerHead = p.at === 'output' ? 1 : m.tokens;
  const rows = batch * a.heads * rowsPerHead;
  return {
    at: p.at, distribution: p.distribution, scale: p.scale, paper, tokens: m.tokens, groups: a.kvHeads, headDim: a.headDim,
    rowsPerHead, rowLength: p.at === 'output' ? m.tokens * a.headDim : m.tokens, noiseRows: paper ? a.heads * rowsPerHead : rows,
  };
}
