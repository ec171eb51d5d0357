import { describe, expect, it } from 'vitest';
import { analyzeModel } from '../../compiler/analyze.js';
import { estimateMemory, HEAP_BUDGET_FRACTION, planMemory, TRAIN_FACTOR, WASM_HEAP_BYTES } from '../../runtime/tfjs/memory.js';
import { TrainError } from '../../runtime/train/errors.js';
import { vitModel } from '../helpers/model-ir.js';
import { tinyModel, tinyRun } from './fixtures.js';

/** ViT-Ti on 32 px images: FACTS.md measured about 77-97 MB per image for a training step on wasm. */
const vitTi32 = vitModel({ name: 'ti32', image: 32, patch: 4, dim: 192, depth: 12, heads: 3, classes: 10 });

describe('planMemory', () => {
  it('estimates a ViT-Ti step at 32 px near the ~100 MB per image measured on wasm', () => {
    const est = estimateMemory(vitTi32, tinyRun({ model: 'ti32' }));
    expect(est.trainPerImage / 1e6).toBeGreaterThan(90);
    expect(est.trainPerImage / 1e6).toBeLessThan(130);
    expect(est.trainPerImage).toBeGreaterThan(analyzeModel(vitTi32).memory.activationsBytes * (TRAIN_FACTOR - 0.5));
  });

  it('keeps a micro-batch that fits and lowers one that does not to a divisor of the batch, saying so', () => {
    const small = planMemory(tinyModel(), tinyRun(), 'wasm');
    expect(small.microBatch).toBe(16);
    expect(small.notes).toEqual([]);

    const run = tinyRun({ model: 'ti32', batch: 64, microBatch: 64, eval: { everyEpochs: 1, batch: 256 } });
    const plan = planMemory(vitTi32, run, 'wasm');
    expect(64 % plan.microBatch).toBe(0);
    expect(plan.microBatch).toBeLessThan(64);
    expect(plan.stepBytes).toBeLessThanOrEqual(WASM_HEAP_BYTES * HEAP_BUDGET_FRACTION);
    // Measured: micro-batch 48 ran, 56 and 64 crashed; the plan must stay below.
    expect(plan.microBatch).toBeLessThanOrEqual(32);
    expect(plan.notes[0]).toMatch(new RegExp(`micro-batches of ${plan.microBatch} \\(${64 / plan.microBatch} passes per step`));
    expect(plan.notes[0]).toContain(`micro_batch ${plan.microBatch}`);
    // An evaluation batch of 256 ViT-Ti images (about 25 MB each in a forward pass) does not fit either.
    expect(plan.evalChunk).toBeLessThan(256);
    expect(plan.notes[1]).toMatch(/evaluating in passes of \d+ images/);
  });

  it('refuses a model of which not even one image fits, naming what to change', () => {
    const huge = vitModel({ name: 'huge', image: 448, patch: 8, dim: 1024, depth: 24, heads: 16, classes: 10 });
    expect(() => planMemory(huge, tinyRun({ model: 'huge' }), 'wasm')).toThrow(TrainError);
    expect(() => planMemory(huge, tinyRun({ model: 'huge' }), 'wasm')).toThrow(/not even one image per pass fits.*smaller model.*--backend tfjs-node/);
  });

  it('leaves the run as it is on backends without the 4 GiB cap', () => {
    const run = tinyRun({ model: 'ti32', batch: 64, microBatch: 64 });
    const plan = planMemory(vitTi32, run, 'tfjs-node-gpu');
    expect(plan.microBatch).toBe(64);
    expect(plan.budgetBytes).toBeNull();
  });
});
