// Fitting passes to an adapter's limits (runtime/webgpu/plans.ts): no device needed, the generator
// refuses a plan whose buffer exceeds maxStorageBufferBindingSize, and the fit lowers the batch.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../compiler/targets/webgpu/kernel.js';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { fitEvalBatch, fitMicroBatch, planFor, WebGpuFitError } from '../../runtime/webgpu/plans.js';
import { compileText } from './helpers.js';

const { model, run } = selectModelAndRun(compileText(`
model m {
  image   32 x 32 x 3
  patch   4
  dim     32
  depth   1
  mlp     2x
  classes 10
  attention { heads 4 kv_heads 2 }
}
train r { model m data synthetic(train: 64, test: 64) batch 24 seed 1 eval { batch 100 } }
`), {});

/** The largest buffer of the plan at `batch` images per pass, in bytes. */
function largest(batch: number, evalOnly: boolean): number {
  return Math.max(...planFor(model, evalOnly ? null : run, batch, DEFAULT_LIMITS).plan.buffers.map((b) => b.bytes));
}

describe('fitting a plan to the limits', () => {
  it('keeps the run\'s micro-batch when it fits', () => {
    expect(fitMicroBatch(model, run!, DEFAULT_LIMITS)).toEqual({ batch: 24, note: null });
  });

  it('lowers the micro-batch to the largest divisor of the batch whose buffers fit, and says so', () => {
    // A limit between the largest buffer at 8 and at 12 images per pass.
    const limit = Math.floor((largest(8, false) + largest(12, false)) / 2 / 16) * 16;
    const fitted = fitMicroBatch(model, run!, { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: limit });
    expect(fitted.batch).toBe(8);
    expect(fitted.note).toMatch(/micro-batches of 24 exceed the adapter's limits .*; training with micro-batches of 8 \(3 passes per step; set micro_batch 8/);
  });

  it('lowers the eval batch the same way', () => {
    const limit = largest(50, true);
    const fitted = fitEvalBatch(model, 100, { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: limit });
    expect(fitted.batch).toBe(50);
    expect(fitted.note).toMatch(/evaluating in batches of 50 images rather than 100/);
  });

  it('refuses a model that does not fit one image at a time, saying which buffer and what to do', () => {
    const tiny = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 256 };
    expect(() => fitMicroBatch(model, run!, tiny)).toThrow(WebGpuFitError);
    expect(() => fitMicroBatch(model, run!, tiny)).toThrow(/model 'm' does not fit this WebGPU adapter even one image per pass: .*buffer .* needs .*use a smaller model, or a device with larger limits/);
    expect(() => fitEvalBatch(model, 100, tiny)).toThrow(WebGpuFitError);
  });
});
