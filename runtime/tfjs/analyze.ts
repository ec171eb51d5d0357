// The PGQA analysis on TensorFlow.js: the first images of a data set through the model's eval phase
// with its attention taps (VitModel.inspect, the graph executor), once with the noise the analysis
// applies and, where a layer is perturbed, once without; what each pass tapped is read back per batch
// and handed to runtime/eval/similarity.ts.
import type { Tensor4D } from '@tensorflow/tfjs';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { analysisNoise, firstImages, type AnalysisOptions } from '../eval/analysis.js';
import { checkEvalData } from '../eval/evaluate.js';
import { SimilarityAccumulator, type AnalysisReport, type TappedLayer } from '../eval/similarity.js';
import type { LoadedModel } from './load-model.js';
import type { InspectedLayer } from './vit.js';

export async function analyzeAttention({ model }: LoadedModel, data: Dataset, o: AnalysisOptions): Promise<AnalysisReport> {
  const m = model.model;
  const tf = model.tf;
  checkEvalData(m, data);
  const subset = firstImages(data, o.images);
  const perturbed = analysisNoise(m) !== 'none';
  const acc = new SimilarityAccumulator(m, o.pictures);
  for (const batch of BatchIterator.eval(subset, { batchSize: o.batch, normalize: o.normalize, prefetch: 0 })) {
    const x = tf.tensor4d(batch.x, [batch.size, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
    try {
      const ctx = { step: o.step, seed: o.seed };
      const noisy = await readBack(model.inspect(x, ctx, 'training'));
      const clean = perturbed ? await readBack(model.inspect(x, ctx, 'off')) : null;
      acc.add(noisy, clean, batch.size);
    } finally {
      x.dispose();
    }
  }
  return acc.result();
}

async function readBack(layers: InspectedLayer[]): Promise<TappedLayer[]> {
  try {
    return await Promise.all(layers.map(async (l) => ({
      layer: l.layer, noise: l.noise,
      probs: (await l.probs.data()) as Float32Array,
      out: (await l.out.data()) as Float32Array,
      groupOf: l.groupOf ? Int32Array.from(await l.groupOf.data()) : null,
    })));
  } finally {
    for (const l of layers) {
      l.probs.dispose();
      l.out.dispose();
      l.groupOf?.dispose();
    }
  }
}
