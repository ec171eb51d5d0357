// What the per-run page (runs/NAME/report.html) shows, gathered from the run's metrics.jsonl records
// and its checkpoint's metadata. Kept apart from the HTML so the figures can be tested as numbers.
import { allocates } from '../../compiler/graph/policy.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { bucketMeans, MAX_LOSS_POINTS, runCurves } from '../experiment/curves.js';
import type { CheckpointMetaOnly } from '../experiment/checkpoint-meta.js';
import type { EvalRecord, MetricsRecord, StepRecord } from '../train/metrics.js';

export interface RunReportData {
  /** The run's folder as the user gave it (the page's title). */
  name: string;
  /** null when the run has no checkpoint yet (it diverged or stopped before the first save). */
  model: ModelIR | null;
  run: RunIR | null;
  backend: string | null;
  /** Steps and epochs trained, from the records (the checkpoint may lag behind a diverged run). */
  steps: number;
  epochs: number;
  finalEval: EvalRecord | null;
  bestEval: EvalRecord | null;
  /** [step, value] per chart, thinned like the experiment report's loss lines. */
  trainLoss: [number, number][];
  trainAcc: [number, number][];
  lr: [number, number][];
  imagesPerSec: [number, number][];
  /** [step, global gradient norm before clipping]. */
  gradNorm: [number, number][];
  /** Training images over training seconds (what attnc train prints), not the mean of per-step rates; null without steps. */
  imagesPerSecOverall: number | null;
  /** Seconds of training (steps only) when each step ended, [step, seconds]; empty when the batch is unknown. */
  trainTime: [number, number][];
  testLoss: [number, number][];
  testTop1: [number, number][];
  /** Key_norm layers: heads (the top of the stack) and the allocation changes over training. */
  allocation: { layer: number; variant: string; heads: number; changes: { step: number; counts: number[] }[] }[];
}

export function runReportData(name: string, records: MetricsRecord[], meta: CheckpointMetaOnly | null): RunReportData {
  const steps = records.filter((r): r is StepRecord => r.kind === 'step');
  const evals = records.filter((r): r is EvalRecord => r.kind === 'eval');
  const curves = runCurves(records);
  const perStep = (pick: (s: StepRecord) => number) => bucketMeans(steps.map((s) => [s.step, pick(s)]), MAX_LOSS_POINTS);
  // The first best wins a tie, as best.safetensors keeps the first evaluation that reached it.
  const bestEval = evals.reduce<EvalRecord | null>((best, e) => (best === null || e.acc > best.acc ? e : best), null);
  const lastEpoch = records.reduce((n, r) => Math.max(n, r.kind === 'epoch' ? r.epoch : 0), 0);
  return {
    name,
    model: meta?.model ?? null,
    run: meta?.run ?? null,
    backend: typeof meta?.trainState?.backend === 'string' ? meta.trainState.backend : null,
    steps: curves.lastStep,
    epochs: lastEpoch,
    finalEval: evals.at(-1) ?? null,
    bestEval,
    trainLoss: curves.loss,
    trainAcc: perStep((s) => s.acc),
    lr: perStep((s) => s.lr),
    imagesPerSec: perStep((s) => s.imagesPerSec),
    gradNorm: perStep((s) => s.gradNorm),
    // Every step trains a full batch, so images over seconds is steps over the sum of 1 / (images/s).
    imagesPerSecOverall: steps.length ? steps.length / steps.reduce((a, s) => a + 1 / s.imagesPerSec, 0) : null,
    trainTime: trainTime(steps, meta?.run?.batch ?? null),
    testLoss: evals.map((e) => [e.step, e.loss]),
    testTop1: curves.top1,
    allocation: allocationLayers(meta?.model ?? null, curves.allocation),
  };
}

/** Cumulative training seconds at each step (a step's seconds are its batch over its images/s). */
function trainTime(steps: StepRecord[], batch: number | null): [number, number][] {
  if (batch === null) return [];
  let t = 0;
  return steps.map((s) => [s.step, (t += batch / s.imagesPerSec)]);
}

/** The training time at step x (that of the last step at or before it), by binary search; null when unknown. */
export function timeAtStep(time: readonly [number, number][], x: number): number | null {
  if (!time.length || x < time[0]![0]) return x <= 0 && time.length ? 0 : null;
  let lo = 0;
  let hi = time.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (time[mid]![0] <= x) lo = mid;
    else hi = mid - 1;
  }
  return time[lo]![1];
}

/**
 * The key_norm layers of the model with their allocation records. Without a checkpoint the model is
 * unknown: then the layers that have records, the stack's top being the heads their counts sum to.
 */
function allocationLayers(model: ModelIR | null, changes: Map<number, { step: number; counts: number[] }[]>): RunReportData['allocation'] {
  if (model) {
    return model.layers
      .filter(allocates)
      .map((l) => ({ layer: l.index, variant: l.attention.variant, heads: l.attention.heads, changes: changes.get(l.index) ?? [] }));
  }
  return [...changes.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, list]) => ({ layer, variant: 'key_norm', heads: list[0]!.counts.reduce((a, b) => a + b, 0), changes: list }));
}

export { dataSpecText as dataText } from '../../compiler/ir/describe.js';
