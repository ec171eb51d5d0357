// The number of query heads each K/V group served at evaluation, layer by layer, as the attention core
// actually allocated them.
//
// A key_norm layer under `eval: recompute` allocates from every evaluation batch, on the device, and
// evaluation does not store that allocation (docs/attention.md; DGQA rule 'paper' is the exception,
// as the reference), so the forward pass reports it through ForwardContext.onCounts: a [G] or [B, G]
// tensor per key_norm layer per batch, read back with the logits.
import type { Tensor } from '@tensorflow/tfjs';

/** Collects what ForwardContext.onCounts reports during one forward pass, in layer order. */
export class AllocationTap {
  private captured: Tensor[] = [];

  /** Pass as ForwardContext.onCounts. */
  readonly onCounts = (_layer: number, counts: Tensor): void => {
    this.captured.push(counts);
  };

  /** The counts reported since the last call, in the order the layers ran; the caller disposes them. */
  take(): Tensor[] {
    const out = this.captured;
    this.captured = [];
    return out;
  }
}
