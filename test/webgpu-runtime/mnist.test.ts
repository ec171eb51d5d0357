// The WebGPU engine learns: a tiny grouped-query ViT trained by the trainer loop (runtime/train) on a
// few hundred real MNIST images, on whatever adapter there is (llvmpipe here: under a minute; tfjs-wasm reaches loss 0.41 and 70% on the same run). The
// loss must fall well below where it started and test accuracy must clear chance by far.
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { loadDataset } from '../../runtime/data/load.js';
import type { Dataset } from '../../runtime/data/types.js';
import { readMetrics } from '../../runtime/train/metrics.js';
import { createProgress } from '../../runtime/train/progress.js';
import { train } from '../../runtime/train/trainer.js';
import { WebGpuEngine } from '../../runtime/webgpu/engine.js';
import { gpuForTests } from '../helpers/webgpu.js';
import { tempDir } from '../train/fixtures.js';
import { compileText } from './helpers.js';

const { gpu, skipReason } = await gpuForTests();
const { dir, cleanup } = tempDir('attnc-webgpu-mnist-');
afterAll(cleanup);

const SPEC = `
model mnist_gqa {
  image   28 x 28 x 1
  patch   14
  dim     32
  depth   2
  mlp     2x
  classes 10
  attention { heads 4 kv_heads 2 }
}
train mnist_small {
  model     mnist_gqa
  data      mnist
  steps     100
  batch     32
  seed      5
  optimizer adamw(lr: 5e-3, weight_decay: 0.05)
  schedule  cosine(warmup: 10 steps)
  eval      { batch 100 }
}
`;

/** The first `count` images of a data set. */
function head(ds: Dataset, count: number): Dataset {
  const size = ds.height * ds.width * ds.channels;
  return { ...ds, count, images: ds.images.subarray(0, count * size), labels: ds.labels.subarray(0, count) };
}

describe.skipIf(!gpu)(`training on WebGPU ${skipReason ?? ''}`, () => {
  it('a tiny GQA ViT learns MNIST digits from 480 images', async () => {
    const { model, run } = selectModelAndRun(compileText(SPEC), {});
    const opts = { baseDir: dir, height: 28, width: 28, channels: 1, classes: 10 };
    const trainSet = head(await loadDataset(run!.data, 'train', opts), 480);
    const testSet = head(await loadDataset(run!.data, 'test', opts), 300);
    const started = performance.now();
    const result = await train({
      backend: 'webgpu', engine: (o) => WebGpuEngine.create({ ...o, gpu: gpu! }),
      model, run: run!, train: trainSet, test: testSet, outDir: dir, microBatch: run!.batch, evalChunk: run!.eval.batch,
      progress: createProgress({ mode: 'quiet', write: () => {}, plainEvery: 1 }), info: () => {},
    });
    const seconds = (performance.now() - started) / 1000;
    expect(result.status).toBe('done');
    const steps = readMetrics(path.join(dir, 'metrics.jsonl')).filter((r) => r.kind === 'step') as { loss: number }[];
    expect(steps).toHaveLength(100);
    const first = steps[0]!.loss;
    const lastTen = steps.slice(-10).reduce((s, r) => s + r.loss, 0) / 10;
    console.log(`MNIST on ${gpu!.description.split(';')[0]}: loss ${first.toFixed(3)} -> ${lastTen.toFixed(3)} (mean of the last 10 steps), ` +
      `test top-1 ${(result.lastEval!.acc * 100).toFixed(1)}% on ${result.lastEval!.images} images, ${seconds.toFixed(1)} s, ${result.imagesPerSec.toFixed(0)} training images/s`);
    // ln 10 = 2.30 at chance.
    expect(first).toBeGreaterThan(2);
    expect(lastTen).toBeLessThan(0.5 * first);
    expect(result.lastEval!.acc).toBeGreaterThan(0.5);
  }, 240_000);
});
