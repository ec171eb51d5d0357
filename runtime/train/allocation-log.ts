// The allocation records of metrics.jsonl: the query heads per K/V group of every key_norm layer,
// logged at the start and whenever they change.
//
// The counts live on the device (the tfjs attention core and the WebGPU state buffers keep them there
// so that no step waits on the host). Reading them costs a download; here they ride along with the
// one download per step that the engine makes anyway (loss, hits, gradient norm: the NaN check needs
// them), G values per layer (engine.ts StepResult.counts). So every step is checked at no extra
// synchronisation, and only changes are written.
import type { TrainingEngine } from './engine.js';
import type { MetricsLog } from './metrics.js';

export class AllocationLog {
  /** Positions in model.layers of the layers with allocation state. */
  readonly layers: readonly number[];
  private readonly logged = new Map<number, number[]>();

  constructor(
    private readonly engine: TrainingEngine,
    private readonly metrics: MetricsLog,
  ) {
    this.layers = engine.allocationLayers;
  }

  /** Logs the layers whose counts changed; `counts[i]` belongs to layers[i]. */
  record(counts: readonly number[][], step: number, epoch: number): void {
    this.layers.forEach((layer, i) => {
      const now = counts[i]!;
      const last = this.logged.get(layer);
      if (last && last.every((c, j) => c === now[j])) return;
      this.logged.set(layer, now);
      this.metrics.append({ kind: 'allocation', step, epoch, layer, counts: now });
    });
  }

  /** Reads the state now (one small download): logs it at a fresh start, or only remembers it. */
  async readState(step: number, epoch: number, log: boolean): Promise<void> {
    const counts = await this.engine.allocationCounts();
    if (log) this.record(counts, step, epoch);
    // A resumed run: what a run that never stopped logged last is exactly what the state holds now.
    else this.layers.forEach((layer, i) => this.logged.set(layer, counts[i]!));
  }
}
