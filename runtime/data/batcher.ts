// Batches for one epoch over a Dataset: Float32Array NHWC images, normalised, with Int32Array labels.
// Training batches come in a shuffled order (a permutation drawn from seed and epoch), are augmented,
// and the last partial batch is dropped; evaluation batches come in data set order, unaugmented, and
// keep the partial batch. Each batch is a pure function of (data, options, batch index): the shuffle
// and each image's augmentation use their own Rng derived from (seed, epoch, position), so prefetching
// ahead, or asking for batches in any order, gives the same batches.
import type { AugmentIR } from '../../compiler/ir/types.js';
import { makeAugmenter, type Augmenter } from './augment.js';
import { normalizationTable, normalizeInto, type Normalization } from './normalize.js';
import { Rng, Stream } from './rng.js';
import { DataError, type Batch, type Dataset } from './types.js';

export interface BatchOptions {
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  /** The run's seed (shuffles and augmentations derive from it). */
  seed: number;
  /** 0-based epoch: each epoch gets its own shuffle and augmentations. */
  epoch: number;
  /** Applied to every image, in order; empty for none. */
  augment: AugmentIR[];
  normalize: Normalization;
  /** Batches prepared ahead of the consumer (default 2; 0 computes each batch when asked). */
  prefetch?: number;
}

/** Batches in an epoch of `count` images. */
export function stepsPerEpoch(count: number, batchSize: number, dropLast: boolean): number {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batch size must be a positive whole number, got ${batchSize}`);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

export class BatchIterator implements AsyncIterableIterator<Batch>, Iterable<Batch> {
  /** Batches in this epoch. */
  readonly steps: number;
  private readonly order: Int32Array | null;
  private readonly augmenter: Augmenter | null;
  private readonly lut: Float32Array;
  private readonly imageSize: number;
  private readonly prefetch: number;
  /** The next batch next() hands out. */
  private cursor = 0;
  private readonly pending = new Map<number, { promise: Promise<Batch>; handle: unknown }>();

  /** A training epoch: shuffled, augmented, the last partial batch dropped. */
  static train(ds: Dataset, o: { batchSize: number; seed: number; epoch: number; augment: AugmentIR[]; normalize: Normalization; prefetch?: number }): BatchIterator {
    return new BatchIterator(ds, { ...o, shuffle: true, dropLast: true });
  }

  /** An evaluation pass: data set order, no augmentation, every image (the last batch may be short). */
  static eval(ds: Dataset, o: { batchSize: number; normalize: Normalization; prefetch?: number }): BatchIterator {
    return new BatchIterator(ds, { ...o, shuffle: false, dropLast: false, seed: 0, epoch: 0, augment: [] });
  }

  constructor(
    readonly dataset: Dataset,
    readonly options: BatchOptions,
  ) {
    const { batchSize, dropLast, epoch, seed } = options;
    this.steps = stepsPerEpoch(dataset.count, batchSize, dropLast);
    if (this.steps === 0) {
      throw new DataError(dataset.source, `${dataset.name} has ${dataset.count} images, fewer than one batch of ${batchSize}`, 'lower the batch size or use more data');
    }
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a whole number >= 0, got ${epoch}`);
    this.order = options.shuffle ? Rng.derive(seed, Stream.shuffle, epoch).permutation(dataset.count) : null;
    this.augmenter = makeAugmenter(options.augment);
    this.lut = normalizationTable(options.normalize, dataset.channels);
    this.imageSize = dataset.height * dataset.width * dataset.channels;
    this.prefetch = options.prefetch ?? 2;
  }

  /** The data set index of each image of batch k, in batch order. */
  indicesOf(k: number): Int32Array {
    const start = k * this.options.batchSize;
    const size = Math.min(this.options.batchSize, this.dataset.count - start);
    const out = new Int32Array(size);
    for (let j = 0; j < size; j++) out[j] = this.order ? this.order[start + j]! : start + j;
    return out;
  }

  /** Build batch k (0 <= k < steps) synchronously. */
  batchAt(k: number): Batch {
    if (!Number.isInteger(k) || k < 0 || k >= this.steps) throw new RangeError(`batch ${k} is outside 0..${this.steps - 1}`);
    const { dataset: ds, imageSize: per, augmenter } = this;
    const { batchSize, seed, epoch } = this.options;
    const indices = this.indicesOf(k);
    const size = indices.length;
    const x = new Float32Array(size * per);
    const y = new Int32Array(size);
    const pixels = ds.height * ds.width;
    for (let j = 0; j < size; j++) {
      const i = indices[j]!;
      y[j] = ds.labels[i]!;
      if (augmenter) {
        const rng = Rng.derive(seed, Stream.augment, epoch, k * batchSize + j);
        const img = augmenter({ data: ds.images.subarray(i * per, (i + 1) * per), height: ds.height, width: ds.width, channels: ds.channels }, rng);
        normalizeInto(img.data, 0, pixels, ds.channels, this.lut, x, j * per);
      } else {
        normalizeInto(ds.images, i * per, pixels, ds.channels, this.lut, x, j * per);
      }
    }
    return { x, y, size };
  }

  /** Every batch in order, built when asked (no prefetch). */
  *[Symbol.iterator](): Iterator<Batch> {
    for (let k = 0; k < this.steps; k++) yield this.batchAt(k);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    return this;
  }

  /**
   * The next batch. Up to `prefetch` later batches are queued (setImmediate; setTimeout in a browser), so they are built
   * while the consumer awaits something else (e.g. reading a loss back); it is cooperative, on the
   * same thread, which suffices because building a batch costs far less than a training step.
   */
  next(): Promise<IteratorResult<Batch>> {
    if (this.cursor >= this.steps) return Promise.resolve({ done: true, value: undefined });
    const k = this.cursor++;
    for (let ahead = k + 1; ahead <= k + this.prefetch && ahead < this.steps; ahead++) this.schedule(ahead);
    const queued = this.pending.get(k);
    this.pending.delete(k);
    if (queued) return queued.promise.then((value) => ({ done: false, value }));
    try {
      return Promise.resolve({ done: false, value: this.batchAt(k) });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stop early: cancels the batches queued ahead. */
  return(): Promise<IteratorResult<Batch>> {
    for (const { handle } of this.pending.values()) later.cancel(handle);
    this.pending.clear();
    this.cursor = this.steps;
    return Promise.resolve({ done: true, value: undefined });
  }

  private schedule(k: number): void {
    if (this.pending.has(k)) return;
    let handle: unknown;
    const promise = new Promise<Batch>((resolve, reject) => {
      handle = later.run(() => {
        try {
          resolve(this.batchAt(k));
        } catch (e) {
          reject(e);
        }
      });
    });
    // A failure is reported when its batch is asked for; never as an unhandled rejection before that.
    promise.catch(() => {});
    this.pending.set(k, { promise, handle });
  }
}

/** Runs a function after the current task: setImmediate in Node, setTimeout(0) in a browser (the playground). */
const later: { run(f: () => void): unknown; cancel(handle: unknown): void } =
  typeof setImmediate === 'function'
    ? { run: (f) => setImmediate(f), cancel: (h) => clearImmediate(h as NodeJS.Immediate) }
    : { run: (f) => setTimeout(f, 0), cancel: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
