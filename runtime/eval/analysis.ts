// `attnc eval --analyze`: what the PGQA analysis measures (runtime/eval/similarity.ts), on which images
// and with which noise, and its text form. A backend runs it (runtime/backends.ts Backend.analyze).
import type { ModelIR } from '../../compiler/ir/types.js';
import type { Normalization } from '../data/normalize.js';
import type { Dataset } from '../data/types.js';
import { EvalError } from './errors.js';
import type { AnalysisReport, Paired } from './similarity.js';

export const DEFAULT_ANALYSIS_IMAGES = 256;

export interface AnalysisOptions {
  /** The first `images` of the split (all of them when it has fewer). */
  images: number;
  /** Pictures of the first images' attention per layer in the report. */
  pictures: number;
  batch: number;
  normalize: Normalization;
  /** The checkpoint's step and the run's seed: they key the noise, as in attnc eval. */
  step: number;
  seed: number;
}

/** EvalError unless `text` is a whole number >= 1 (the --analyze-images value). */
export function parseAnalysisImages(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new EvalError(`--analyze-images needs a whole number of images >= 1, got '${text}' (the analysis uses the first N images of the split; default ${DEFAULT_ANALYSIS_IMAGES})`);
  }
  return n;
}

/** Bytes the taps of one pass may hold on the host and device: the analysis batch is kept under it. */
const TAP_BUDGET_BYTES = 256 * 2 ** 20;

/** The analysis batch: `wanted`, or fewer so that one pass's taps (every layer's maps and outputs) fit TAP_BUDGET_BYTES. */
export function analysisBatch(m: ModelIR, wanted: number): number {
  const T = m.tokens;
  const perImage = m.layers.reduce((s, l) => s + 4 * l.attention.heads * T * (T + l.attention.headDim), 0);
  return Math.max(1, Math.min(wanted, Math.floor(TAP_BUDGET_BYTES / perImage)));
}

/** The first n images of a data set, in data set order (the analysis's fixed subset). */
export function firstImages(data: Dataset, n: number): Dataset {
  if (n >= data.count) return data;
  const size = data.height * data.width * data.channels;
  return { ...data, count: n, images: data.images.subarray(0, n * size), labels: data.labels.subarray(0, n) };
}

/**
 * The noise of the analysis's noisy pass, over the model's layers: 'eval' where every perturbed
 * layer perturbs at evaluation too (`during: always`: the noise attnc eval applies), 'training' where
 * some perturb only in training (the analysis applies that noise, which evaluation leaves out),
 * 'none' for a model without PGQA noise (both passes are one, and self-similarity is 1).
 */
export function analysisNoise(m: ModelIR): 'none' | 'eval' | 'training' {
  const perturbed = m.layers.map((l) => l.attention.perturb).filter((p) => p && p.scale !== 0);
  if (perturbed.length === 0) return 'none';
  return perturbed.every((p) => p!.during === 'always') ? 'eval' : 'training';
}

/** One sentence saying what the noisy pass applied. */
export function describeAnalysisNoise(m: ModelIR, step: number, seed: number): string {
  const kind = analysisNoise(m);
  if (kind === 'none') return 'no PGQA noise in this model: the maps with and without noise are the same pass (self-similarity 1)';
  const keyed = `keyed by the checkpoint's step ${step} and the run's seed ${seed}, one draw per batch of the subset`;
  return kind === 'eval'
    ? `with noise: as attnc eval applies it (during: always), ${keyed}; without noise: the same pass with the noise left out`
    : `with noise: the layers' training noise (during: train, which evaluation itself leaves out) at its distribution and scale, ${keyed}; without noise: the eval pass`;
}

const fmt = (v: number | null) => (v === null ? '   -  ' : v.toFixed(4));
const pair = (p: Paired) => `${fmt(p.withNoise)} / ${fmt(p.withoutNoise)}`;

export function formatAnalysisText(r: AnalysisReport, noise: string): string {
  const lines = [
    `analysis: ${r.images} images (the first of the split)`,
    `  ${noise}`,
    '  intra-group: mean pairwise cosine of query heads sharing a K/V head (with noise / without); self: each head with vs without noise',
    '  layer  noise   maps intra-group   outputs intra-group   self maps  self outputs',
  ];
  for (const l of r.layers) {
    lines.push(`  ${String(l.layer).padStart(5)}  ${l.noise.padEnd(6)}  ${pair(l.maps)}    ${pair(l.outputs)}     ${l.self.meanMaps.toFixed(4)}     ${l.self.meanOutputs.toFixed(4)}`);
    const groups = l.maps.perGroup.map((g, i) => `g${i} ${pair(g)}`).filter((_, i) => l.maps.perGroup[i]!.withNoise !== null);
    if (groups.length > 1) lines.push(`         maps per group: ${groups.join('   ')}`);
    if (l.noise !== 'none') lines.push(`         self per head (maps): ${l.self.maps.map((v) => v.toFixed(4)).join(' ')}   (outputs): ${l.self.outputs.map((v) => v.toFixed(4)).join(' ')}`);
  }
  return lines.join('\n');
}
