// The curves of one run for the report's charts, read from its metrics.jsonl records: thinned so
// that a long run does not make a report of megabytes (a line is a few hundred pixels wide anyway).
import type { MetricsRecord } from '../train/index.js';

export interface RunCurves {
  /** [step, mean training loss of the steps in the bucket]. */
  loss: [number, number][];
  /** [step, test top-1]: every evaluation. */
  top1: [number, number][];
  /** Layer -> allocation changes [step, query heads per group]. */
  allocation: Map<number, { step: number; counts: number[] }[]>;
  /** The last step trained (0 when none). */
  lastStep: number;
}

/** At most this many points per loss line: bucket means beyond it. */
export const MAX_LOSS_POINTS = 300;
/** At most this many changes per allocation chart: sampled at even steps beyond it. */
export const MAX_ALLOCATION_POINTS = 300;

export function runCurves(records: MetricsRecord[]): RunCurves {
  const steps = records.filter((r) => r.kind === 'step');
  const lastStep = steps.at(-1)?.step ?? 0;
  const allocation = new Map<number, { step: number; counts: number[] }[]>();
  for (const r of records) {
    if (r.kind !== 'allocation') continue;
    const list = allocation.get(r.layer) ?? [];
    list.push({ step: r.step, counts: r.counts });
    allocation.set(r.layer, list);
  }
  for (const [layer, changes] of allocation) allocation.set(layer, sampleChanges(changes, lastStep, MAX_ALLOCATION_POINTS));
  return {
    loss: bucketMeans(steps.map((s) => [s.step, s.loss]), MAX_LOSS_POINTS),
    top1: records.flatMap((r): [number, number][] => (r.kind === 'eval' ? [[r.step, r.acc]] : [])),
    allocation,
    lastStep,
  };
}

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not pulled towards
 * zero), its weight chosen from the number of points so that about a thirtieth of the line is averaged.
 * Few points (under 20) come back as they are.
 */
export function smoothed(points: [number, number][], weight = Math.min(0.95, Math.max(0, 1 - 30 / Math.max(1, points.length)))): [number, number][] {
  if (points.length < 20 || weight <= 0) return points;
  let ema = 0;
  return points.map(([x, y], i) => {
    ema = weight * ema + (1 - weight) * y;
    return [x, ema / (1 - weight ** (i + 1))];
  });
}

/** Consecutive points averaged in equal buckets (x: the bucket's last x), or the points when few. */
export function bucketMeans(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const out: [number, number][] = [];
  const size = points.length / max;
  for (let b = 0; b < max; b++) {
    const slice = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (!slice.length) continue;
    out.push([slice.at(-1)![0], slice.reduce((a, p) => a + p[1], 0) / slice.length]);
  }
  return out;
}

/**
 * An allocation that changes at nearly every step (KDGQA allocates from every batch) drawn as a step
 * chart would be a solid block: beyond `max` changes, the allocation in force at `max` even steps.
 */
export function sampleChanges(changes: { step: number; counts: number[] }[], lastStep: number, max: number): { step: number; counts: number[] }[] {
  if (changes.length <= max) return changes;
  const out: { step: number; counts: number[] }[] = [];
  let at = 0;
  for (let k = 0; k < max; k++) {
    const step = Math.round((k / (max - 1)) * lastStep);
    while (at + 1 < changes.length && changes[at + 1]!.step <= step) at++;
    out.push({ step, counts: changes[at]!.counts });
  }
  return out;
}
