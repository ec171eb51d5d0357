// What a run's allocation did, from its metrics.jsonl allocation records (logged at the start and at
// every change, runtime/train/allocation-log.ts): the share of training steps at which the allocating
// layers held the even split, and how often they changed. A scored model whose allocation never left
// the even split computes exactly what GQA computes, and a report should say so next to its accuracy.
import type { ModelIR } from '../../compiler/ir/types.js';
import type { MetricsRecord } from '../train/index.js';

export interface AllocationFigures {
  /** Fraction of (layer, training step) pairs at which the layer's counts were the even split, in [0, 1]. */
  evenShare: number;
  /** Allocation changes after the first record, summed over layers. */
  changes: number;
}

/**
 * The figures over the layers that share one allocation per batch; null when the model has none (GQA,
 * MHA, per-image allocations, whose per-image counts are not logged) or no step was trained.
 */
export function allocationFigures(model: ModelIR, records: readonly MetricsRecord[]): AllocationFigures | null {
  const layers = model.layers
    .map((layer, position) => ({ attention: layer.attention, position }))
    .filter((l) => l.attention.allocation.policy === 'scored' && l.attention.allocation.scope === 'batch');
  let lastStep = 0;
  for (const r of records) if (r.kind === 'step') lastStep = Math.max(lastStep, r.step);
  if (layers.length === 0 || lastStep === 0) return null;
  let even = 0;
  let changes = 0;
  for (const layer of layers) {
    const G = layer.attention.kvHeads;
    const evenCount = layer.attention.heads / G;
    const timeline = records.filter((r): r is Extract<MetricsRecord, { kind: 'allocation' }> => r.kind === 'allocation' && r.layer === layer.position);
    changes += Math.max(0, timeline.length - 1);
    // Step s (1-based) ran with the counts of the last record at or before s - 1; before any record: even.
    timeline.forEach((rec, i) => {
      const from = rec.step;
      const to = Math.min(i + 1 < timeline.length ? timeline[i + 1]!.step : lastStep, lastStep);
      if (to > from && rec.counts.every((c) => c === evenCount)) even += to - from;
    });
    if (timeline.length === 0 || timeline[0]!.step > 0) even += Math.min(timeline[0]?.step ?? lastStep, lastStep);
  }
  return { evenShare: even / (layers.length * lastStep), changes };
}
