// The WebGPU backend adds up a plan's buffers before allocating anything (issue 12): ViT-L/16 at
// 224 px with batch 256 used to allocate 18 GB of a 24 GB machine for ten minutes without finishing a
// step. Now the micro-batch is lowered to what fits the memory budget, with the figures, and a model
// that does not fit one image per pass is refused. Planning needs no device, so this runs everywhere.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../compiler/targets/webgpu/kernel.js';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { fitEvalBatch, fitMicroBatch, memoryBudget, MEMORY_BUDGET_ENV, planFor, planMemory, WebGpuFitError } from '../../runtime/webgpu/plans.js';
import { compileText } from '../webgpu-runtime/helpers.js';

const GIB = 2 ** 30;
// A huge binding limit, so that memory (not the per-buffer limit) is what decides.
const LIMITS = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 2 ** 52, maxBufferSize: 2 ** 52 };

const { model, run } = selectModelAndRun(compileText(`
model vit_l16 {
  image 224 x 224 x 3
  patch 16
  dim 1024
  depth 24
  mlp 4x
  classes 1000
  attention { heads 16 }
}
train big { model vit_l16 data synthetic(train: 512, test: 256) batch 256 seed 1 }
`), {});

describe('WebGPU memory budget', () => {
  it('counts every buffer of the plan, split into what lives across steps and the rest', () => {
    const p = planFor(model, run!, 1, LIMITS);
    const m = planMemory(p);
    expect(m.total).toBe(p.plan.buffers.reduce((n, b) => n + b.bytes, 0));
    // ViT-L/16: 304 M parameters, each with a gradient and two AdamW moments, 4 bytes each.
    expect(m.persistent / (4 * 4)).toBeGreaterThan(300e6);
    expect(m.persistent / (4 * 4)).toBeLessThan(310e6);
  });

  it('ViT-L/16, 224 px, batch 256 on a 24 GiB machine: trains in smaller micro-batches, saying why with the figures', () => {
    const budget = memoryBudget({}, 24 * GIB);
    expect(budget).toEqual({ bytes: 18 * GIB, why: `75% of this machine's 24.0 GiB of memory; set ${MEMORY_BUDGET_ENV} to the adapter's own` });
    const fitted = fitMicroBatch(model, run!, LIMITS, budget);
    expect(fitted.batch).toBeLessThan(256);
    expect(planMemory(planFor(model, run!, fitted.batch, LIMITS)).total).toBeLessThanOrEqual(budget.bytes);
    expect(fitted.note).toMatch(/^webgpu: micro-batches of 256 exceed the adapter's limits \(256 image\(s\) per pass need about [\d.]+ GiB of WebGPU buffers \(weights, gradients and optimizer state 4\.\d+ GiB, activations and scratch [\d.]+ GiB\), more than the 18\.0 GiB budget \(75% of this machine's 24\.0 GiB of memory/);
  }, 120_000);

  it('refuses a model that does not fit one image per pass, with the figures and the fix', () => {
    const budget = memoryBudget({ [MEMORY_BUDGET_ENV]: '2' });
    expect(() => fitMicroBatch(model, run!, LIMITS, budget)).toThrow(WebGpuFitError);
    expect(() => fitMicroBatch(model, run!, LIMITS, budget)).toThrow(
      /^model 'vit_l16' does not fit this WebGPU adapter even one image per pass: 1 image\(s\) per pass need about [\d.]+ GiB of WebGPU buffers \(weights, gradients and optimizer state 4\.\d+ GiB, activations and scratch [\d.]+ GiB\), more than the 2\.00 GiB budget \(ATTNC_WEBGPU_MEMORY_GIB=2\) — use a smaller model, or a device with larger limits$/,
    );
    expect(() => fitEvalBatch(model, 256, LIMITS, memoryBudget({ [MEMORY_BUDGET_ENV]: '0.5' }))).toThrow(/more than the 0\.50 GiB budget/);
  }, 120_000);

  it('a malformed budget is a clear error', () => {
    expect(() => memoryBudget({ [MEMORY_BUDGET_ENV]: 'lots' })).toThrow(`${MEMORY_BUDGET_ENV}=lots is not a positive number of GiB (the memory WebGPU buffers may take)`);
    expect(() => memoryBudget({ [MEMORY_BUDGET_ENV]: '0' })).toThrow(WebGpuFitError);
  });
});
