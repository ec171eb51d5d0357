// The allocation records of metrics.jsonl: the query heads per K/V group of every key_norm layer,
// logged at the start and whenever they change.
//
// The counts live on the device (attention.ts keeps them there so that no step waits on the host).
// Reading them costs a download; here they ride along with the one download per step that the
// trainer makes anyway (loss, hits, gradient norm: the NaN check needs them), G floats per layer
// appended to it. So every step is checked at no extra synchronisation, and only changes are written.
import type { Tensor } from '@tensorflow/tfjs';
import type { VitModel } from '../tfjs/vit.js';
import type { MetricsLog } from './metrics.js';

export class AllocationLog {
  /** Indices of the layers with allocation state. */
  readonly layers: number[];
  private readonly logged = new Map<number, number[]>();

  constructor(
    private readonly model: VitModel,
    private readonly metrics: MetricsLog,
  ) {
    this.layers = model.state.flatMap((s, i) => (s ? [i] : []));
  }

  /** The counts to download with the step's statistics, layer after layer. */
  countTensors(): Tensor[] {
    return this.layers.map((l) => this.model.state[l]!.counts);
  }

  /** Logs the layers whose counts changed; `values` holds countTensors()'s values from `offset` on. */
  record(values: ArrayLike<number>, offset: number, step: number, epoch: number): void {
    let at = offset;
    for (const layer of this.layers) {
      const size = this.model.state[layer]!.counts.size;
      const counts = Array.from({ length: size }, (_, i) => Math.round(values[at + i]!));
      at += size;
      const last = this.logged.get(layer);
      if (last && last.every((c, i) => c === counts[i])) continue;
      this.logged.set(layer, counts);
      this.metrics.append({ kind: 'allocation', step, epoch, layer, counts });
    }
  }

  /** Reads the state now (one small download): logs it at a fresh start, or only remembers it. */
  readState(step: number, epoch: number, log: boolean): void {
    const values = this.layers.flatMap((l) => Array.from(this.model.state[l]!.counts.dataSync()));
    if (log) this.record(values, 0, step, epoch);
    else {
      // A resumed run: what a run that never stopped logged last is exactly what the state holds now.
      let at = 0;
      for (const layer of this.layers) {
        const size = this.model.state[layer]!.counts.size;
        this.logged.set(layer, values.slice(at, at + size).map(Math.round));
        at += size;
      }
    }
  }
}
