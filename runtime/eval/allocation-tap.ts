// The number of query heads each K/V group served at evaluation, layer by layer, as the attention core
// actually allocated them.
//
// Why a tap: a key_norm layer under `eval: recompute` allocates from every evaluation batch, on the
// device, inside the core's tf.tidy, and evaluation does not write the layer's state (docs/attention.md;
// DGQA rule 'paper' is the exception, as the reference), so the counts it used exist nowhere after the
// forward pass. The core builds
// the head-to-group selection S ([H, G], or [B, H, G] per image) as the value of a tf.customGrad
// whose single input is the keys k [B, T, G, hd] (runtime/tfjs/attention.ts, headSelection: the
// customGrad hides the allocation from backprop). VitModel runs every op through the `tf` namespace
// it is given, so the model is built on a namespace whose customGrad wraps that call and keeps the
// column sums of S, which are the counts. Nothing else in the model calls customGrad on a rank-4
// input (linear, layerNorm and gelu take [rows, features]), and evaluateModel checks that every
// key_norm layer reported exactly once per forward pass, so a change in the core fails loudly here
// instead of reporting wrong numbers. The copies are a [G] or [B, G] tensor per layer per batch,
// read back with the logits.
import type { Tensor } from '@tensorflow/tfjs';
import type { LayerIR, ModelIR } from '../../compiler/ir/types.js';
import { equalShareCounts } from '../tfjs/allocation.js';
import type { Tf } from '../tfjs/backend.js';

export class AllocationTap {
  /** The namespace to build the VitModel with: `base` with customGrad observed. */
  readonly tf: Tf;
  private captured: Tensor[] = [];

  constructor(base: Tf) {
    const captured = () => this.captured;
    const customGrad = ((f: Parameters<Tf['customGrad']>[0]) => {
      const inner = base.customGrad(f);
      return (...inputs: Tensor[]) => {
        const out = inner(...inputs);
        // Sum over the head axis: [H, G] -> [G], [B, H, G] -> [B, G]. keep() survives the core's tidy.
        if (isSelection(inputs, out)) captured().push(base.keep(out.sum(out.rank - 2)));
        return out;
      };
    }) as Tf['customGrad'];
    // defineProperty, not assignment: the namespace's exports are getters, which an own property may shadow.
    this.tf = Object.defineProperty(Object.create(base) as Tf, 'customGrad', { value: customGrad });
  }

  /** The counts captured since the last call, in the order the layers ran; the caller disposes them. */
  take(): Tensor[] {
    const out = this.captured;
    this.captured = [];
    return out;
  }
}

function isSelection(inputs: Tensor[], out: Tensor): boolean {
  if (inputs.length !== 1 || inputs[0]!.rank !== 4 || (out.rank !== 2 && out.rank !== 3)) return false;
  const [batch, , groups] = inputs[0]!.shape;
  return out.shape[out.rank - 1] === groups && (out.rank === 2 || out.shape[0] === batch);
}

export interface LayerAllocation {
  layer: number;
  policy: 'uniform' | 'key_norm';
  /** Query heads per K/V group, averaged over the evaluated images. */
  meanCounts: number[];
}

function isKeyNorm(layer: LayerIR): boolean {
  return layer.attention.allocation.policy === 'key_norm';
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
    this.keyNormLayers = model.layers.filter(isKeyNorm);
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
          'runtime/tfjs/attention.ts changed how it selects groups, and runtime/eval/allocation-tap.ts must follow',
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
      if (!isKeyNorm(layer)) return { layer: layer.index, policy: 'uniform', meanCounts: equalShareCounts(heads, kvHeads) };
      const sum = this.sums.get(layer.index)!;
      return { layer: layer.index, policy: 'key_norm', meanCounts: Array.from(sum, (s) => (this.images ? s / this.images : 0)) };
    });
  }
}
