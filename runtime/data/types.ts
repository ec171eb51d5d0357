// Shared types of the data pipeline. Everything here is independent of tfjs: loaders produce uint8
// images, the batcher turns them into Float32Array batches that any backend can upload.

/** A labelled image set held in memory, pixels as uint8 in HWC order (image after image). */
export interface Dataset {
  /** A short name for reports, e.g. "mnist", "cifar10", or the folder's base name. */
  name: string;
  /** count * height * width * channels bytes, HWC per image. */
  images: Uint8Array;
  /** One class index per image, in 0 .. classes-1. */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** Human-readable class names, index = label, when the format provides them. */
  classNames?: string[];
  /** The file or directory the images came from (or "synthetic"). */
  source: string;
}

/** One batch, ready to upload: x is NHWC float32, normalised; y holds class indices. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  /** Images in this batch (the last eval batch may be smaller than the batch size). */
  size: number;
}

/** A single uint8 HWC image (the unit that augmentations work on). */
export interface Image {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * A data error: the message names the file, says what is wrong and how to fix it, so that the CLI
 * can print it as is. `file` repeats the path for callers that want to point at it.
 */
export class DataError extends Error {
  readonly file: string | null;
  constructor(file: string | null, problem: string, fix?: string) {
    super(`${file ? `${file}: ` : ''}${problem}${fix ? ` — ${fix}` : ''}`);
    this.name = 'DataError';
    this.file = file;
  }
}
