// The number of query heads each K/V group served at evaluation, layer by layer, averaged over the
// evaluated images, from the counts a backend reports per batch (TrainingEngine.evaluate's `counts`,
// or the TensorFlow.js forward pass's onCounts, runtime/tfjs/allocation-tap.ts).
import type { LayerIR, ModelIR } from '../../compiler/ir/types.js';
import type { ScoreKind } from '../../compiler/ir/scores.js';
import { equalShareCounts } from '../../compiler/alloc.js';
import { allocates, scoredOf } from '../../compiler/graph/policy.js';

export interface LayerAllocation {
  layer: number;
  /** 'uniform', or the statistic a scored layer allocates by. */
  policy: 'uniform' | ScoreKind;
  /** Query heads per K/V group, averaged over the evaluated images. */
  meanCounts: number[];
}

/**
 * Sums the counts every image was served with. A batch-wide allocation counts once per image of its
 * batch, so the mean is over images: with equal batches it is the mean over batches, and a short
 * last batch weighs what it holds. Uniform layers always use the equal share.
 */
export class AllocationMeans {
  private readonly keyNormLayers: LayerIR[];
  private readonly sums: Map<number, Float64Array>;
  private images = 0;

  constructor(readonly model: ModelIR) {
    this.keyNormLayers = model.layers.filter(allocates);
    this.sums = new Map(this.keyNormLayers.map((l) => [l.index, new Float64Array(l.attention.kvHeads)]));
  }

  /** How many tensors one forward pass must capture. */
  get expected(): number {
    return this.keyNormLayers.length;
  }

  /** Adds one batch of `size` images: `counts[i]` is the i-th key_norm layer's [G] or [B*G] values. */
  add(counts: ArrayLike<number>[], size: number): void {
    if (counts.length !== this.keyNormLayers.length) {
      throw new Error(
        `allocation tap: the forward pass reported ${counts.length} allocations for ${this.keyNormLayers.length} key_norm layers; ` +
          'runtime/tfjs/attention.ts must report every key_norm layer through onCounts',
      );
    }
    this.keyNormLayers.forEach((layer, i) => {
      const { heads, kvHeads: G } = layer.attention;
      const values = counts[i]!;
      const perImage = values.length === G * size;
      if (values.length !== G && !perImage) throw new Error(`allocation tap: layer ${layer.index} reported ${values.length} counts, expected ${G} or ${G * size}`);
      const sum = this.sums.get(layer.index)!;
      const rows = values.length / G;
      for (let r = 0; r < rows; r++) {
        let total = 0;
        for (let g = 0; g < G; g++) {
          const c = values[r * G + g]!;
          total += c;
          sum[g] += perImage ? c : c * size;
        }
        if (Math.round(total) !== heads) throw new Error(`allocation tap: layer ${layer.index} allocated ${total} query heads, it has ${heads}`);
      }
    });
    this.images += size;
  }

  result(): LayerAllocation[] {
    return this.model.layers.map((layer) => {
      const { heads, kvHeads } = layer.attention;
      const al = scoredOf(layer);
      if (!al) return { layer: layer.index, policy: 'uniform', meanCounts: equalShareCounts(heads, kvHeads) };
      const sum = this.sums.get(layer.index)!;
      return { layer: layer.index, policy: al.score.kind, meanCounts: Array.from(sum, (s) => (this.images ? s / this.images : 0)) };
    });
  }
}
