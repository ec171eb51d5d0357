// OUT/summary.json: every run's figures, read from its metrics.jsonl, and mean and standard deviation
// over seeds per model. Every figure is recomputable from the metrics files (the test does so), except
// the wall time, which experiment.json records.
import type { AttentionVariant, ModelIR } from '../../compiler/ir/types.js';
import { analyzeModel } from '../../compiler/analyze.js';
import type { MetricsRecord } from '../train/index.js';
import { allocationFigures, type AllocationFigures } from './allocation-figures.js';
import { compareModels, type Comparison } from './comparison.js';
import type { GridRun, Length } from './plan.js';
import type { ExperimentAnalysis } from './analysis.js';

/** complete: trained to the grid's length; incomplete: stopped part way or failed; not run: no metrics. */
export type RunStatus = 'complete' | 'incomplete' | 'not run';

export interface RunSummary {
  run: string;
  model: string;
  seed: number;
  /** Folder relative to the experiment's. */
  dir: string;
  status: RunStatus;
  /** The attention variant of every layer. */
  variants: AttentionVariant[];
  /** The last optimizer step in the metrics. */
  steps: number | null;
  /** Test top-1 of the last evaluation, and the best one (with its step). */
  finalTop1: number | null;
  bestTop1: number | null;
  bestStep: number | null;
  /** Test cross-entropy of the last evaluation. */
  finalTestLoss: number | null;
  /** Mean training loss over the steps of the last epoch trained (the epoch record's loss when it ended). */
  finalTrainLoss: number | null;
  /** Training images per second: images of all steps over their summed step times. */
  imagesPerSec: number | null;
  wallSeconds: number | null;
  /**
   * 'measured': the attnc train calls as experiment.json recorded them; 'metrics': not recorded (the
   * run was trained apart, or before attnc recorded it), so the steps' and evaluations' seconds from
   * metrics.jsonl (start-up and checkpoints not counted); null: no figure.
   */
  wallSource: 'measured' | 'metrics' | null;
  params: number;
  /** K and V bytes per token, summed over layers (float32), and the ratio to the same model with MHA. */
  kvBytesPerToken: number;
  kvRatioToMha: number;
  /** What the per-batch allocations did (allocation-figures.ts); null without one. */
  allocation: AllocationFigures | null;
}

/** Mean and sample standard deviation (n - 1); std is null for a single value. */
export interface Stat {
  mean: number;
  std: number | null;
  n: number;
}

export interface ModelStats {
  model: string;
  variants: AttentionVariant[];
  /** 'mha' / 'gqa' when every layer is that variant: the models the others are compared with. */
  baseline: 'mha' | 'gqa' | null;
  params: number;
  kvBytesPerToken: number;
  kvRatioToMha: number;
  /** Seeds of the complete runs, over which the statistics are taken. */
  seeds: number[];
  /** Runs of the grid for this model, complete or not. */
  gridRuns: number;
  top1: Stat | null;
  bestTop1: Stat | null;
  finalTrainLoss: Stat | null;
  finalTestLoss: Stat | null;
  imagesPerSec: Stat | null;
  wallSeconds: Stat | null;
  /** Share of training steps the per-batch allocations held the even split (RunSummary.allocation); null without one. */
  evenShare: Stat | null;
  /** Allocation changes per run (RunSummary.allocation.changes); null without a per-batch allocation. */
  allocationChanges: Stat | null;
  /** Mean top-1 minus the reference model's (summary.reference), in fractions (0.012 = 1.2 points). */
  deltaTop1: number | null;
  /** Bootstrap 95% interval of the mean top-1 over the seeds (comparison.ts); null below two seeds. */
  top1CI: [number, number] | null;
  /** Against the reference, paired by seed, with the tests and the verdict; null for the reference itself. */
  comparison: Comparison | null;
}

export interface ExperimentSummary {
  format: 'attnc-experiment-summary';
  experiment: string;
  base: string;
  spec: string;
  length: Length;
  attnc: string;
  /** The baseline the deltas are taken against: the first GQA model with results, else the first MHA one. */
  reference: string | null;
  runs: RunSummary[];
  /** Best mean top-1 first; models without a complete run last. */
  models: ModelStats[];
  /** What weakens the statistics (too few seeds). */
  warnings: string[];
  /** attnc experiment --analyze: the PGQA analysis of the complete runs (analysis.ts); absent when none was made. */
  analysis?: ExperimentAnalysis;
}

const isStep = (r: MetricsRecord): r is Extract<MetricsRecord, { kind: 'step' }> => r.kind === 'step';
const isEval = (r: MetricsRecord): r is Extract<MetricsRecord, { kind: 'eval' }> => r.kind === 'eval';

export function stat(values: number[]): Stat | null {
  if (values.length === 0) return null;
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, std, n };
}

export function summarizeRun(grid: GridRun, model: ModelIR, records: MetricsRecord[] | null, complete: boolean, wallSeconds: number | null): RunSummary {
  const analysis = analyzeModel(model);
  const steps = (records ?? []).filter(isStep);
  const evals = (records ?? []).filter(isEval);
  const last = evals.at(-1);
  let best: (typeof evals)[number] | undefined;
  for (const e of evals) if (!best || e.acc > best.acc) best = e;
  const lastEpoch = steps.at(-1)?.epoch;
  const lastEpochLosses = steps.filter((s) => s.epoch === lastEpoch).map((s) => s.loss);
  return {
    run: grid.name,
    model: grid.model,
    seed: grid.seed,
    dir: grid.dir,
    status: complete ? 'complete' : records && records.length ? 'incomplete' : 'not run',
    variants: model.layers.map((l) => l.attention.variant),
    steps: steps.at(-1)?.step ?? null,
    finalTop1: last?.acc ?? null,
    bestTop1: best?.acc ?? null,
    bestStep: best?.step ?? null,
    finalTestLoss: last?.loss ?? null,
    finalTrainLoss: lastEpochLosses.length ? lastEpochLosses.reduce((a, b) => a + b, 0) / lastEpochLosses.length : null,
    // Every step trains a full batch, so images over seconds is steps over the sum of 1 / (images/s).
    imagesPerSec: steps.length ? steps.length / steps.reduce((a, s) => a + 1 / s.imagesPerSec, 0) : null,
    ...wall(wallSeconds, records ?? [], steps),
    params: analysis.params.total,
    kvBytesPerToken: analysis.kvCache.bytesPerToken,
    kvRatioToMha: analysis.kvCache.ratioToMha,
    allocation: records ? allocationFigures(model, records) : null,
  };
}

/** The recorded wall time, else one summed from metrics.jsonl: epochs' training seconds, steps after the last epoch, evaluations. */
function wall(recorded: number | null, records: MetricsRecord[], steps: { step: number; imagesPerSec: number }[]): Pick<RunSummary, 'wallSeconds' | 'wallSource'> {
  if (recorded !== null) return { wallSeconds: recorded, wallSource: 'measured' };
  if (!steps.length) return { wallSeconds: null, wallSource: null };
  let epochSeconds = 0;
  let evalSeconds = 0;
  let lastEpochStep = 0;
  for (const r of records) {
    if (r.kind === 'epoch' && typeof r.elapsedSec === 'number') {
      epochSeconds += r.elapsedSec;
      lastEpochStep = r.step;
    }
    if (r.kind === 'eval' && r.imagesPerSec > 0) evalSeconds += r.images / r.imagesPerSec;
  }
  // Steps after the last epoch record (a run of --steps): at the epochs' seconds per step (none when
  // no epoch ended: the step records do not hold the batch their rate is of).
  const tail = steps.filter((s) => s.step > lastEpochStep).length;
  const tailSeconds = tail && lastEpochStep ? (tail * epochSeconds) / lastEpochStep : 0;
  const seconds = epochSeconds + evalSeconds + tailSeconds;
  return seconds > 0 ? { wallSeconds: seconds, wallSource: 'metrics' } : { wallSeconds: null, wallSource: null };
}

function baselineOf(variants: AttentionVariant[]): ModelStats['baseline'] {
  if (variants.every((v) => v === 'mha')) return 'mha';
  if (variants.every((v) => v === 'gqa')) return 'gqa';
  return null;
}

/** Per-model statistics over the complete runs, sorted; models in `order` (the experiment's) break ties. */
export function summarizeModels(runs: RunSummary[], order: string[]): { models: ModelStats[]; reference: string | null; warnings: string[] } {
  const models = order.map((name): ModelStats => {
    const mine = runs.filter((r) => r.model === name);
    const done = mine.filter((r) => r.status === 'complete');
    const of = (f: (r: RunSummary) => number | null) => stat(done.map(f).filter((v): v is number => v !== null));
    const first = mine[0]!;
    return {
      model: name, variants: first.variants, baseline: baselineOf(first.variants),
      params: first.params, kvBytesPerToken: first.kvBytesPerToken, kvRatioToMha: first.kvRatioToMha,
      seeds: done.map((r) => r.seed), gridRuns: mine.length,
      top1: of((r) => r.finalTop1), bestTop1: of((r) => r.bestTop1), finalTrainLoss: of((r) => r.finalTrainLoss),
      finalTestLoss: of((r) => r.finalTestLoss), imagesPerSec: of((r) => r.imagesPerSec), wallSeconds: of((r) => r.wallSeconds),
      evenShare: of((r) => r.allocation?.evenShare ?? null), allocationChanges: of((r) => r.allocation?.changes ?? null),
      deltaTop1: null, top1CI: null, comparison: null,
    };
  });
  // Grouped variants are compared with GQA at the same K/V budget, as in the paper; MHA when there is no GQA.
  const ref = models.find((m) => m.baseline === 'gqa' && m.top1) ?? models.find((m) => m.baseline === 'mha' && m.top1) ?? null;
  if (ref) for (const m of models) m.deltaTop1 = m.top1 ? m.top1.mean - ref.top1!.mean : null;
  const warnings = compareModels(models, runs, ref?.model ?? null);
  const rank = (m: ModelStats) => (m.top1 ? m.top1.mean : -Infinity);
  const sorted = [...models].sort((a, b) => rank(b) - rank(a) || order.indexOf(a.model) - order.indexOf(b.model));
  return { models: sorted, reference: ref?.model ?? null, warnings };
}

/** 'gqa' when every layer agrees, else runs of layers: 'mha 0-5, dgqa 6-11'. */
export function describeVariants(variants: AttentionVariant[]): string {
  if (variants.every((v) => v === variants[0])) return variants[0] ?? '';
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= variants.length; i++) {
    if (i === variants.length || variants[i] !== variants[start]) {
      parts.push(`${variants[start]} ${i - 1 > start ? `${start}-${i - 1}` : start}`);
      start = i;
    }
  }
  return parts.join(', ');
}
