// runs/NAME/metrics.jsonl: one JSON object per line, appended as training goes (docs/training.md).
// Every number except the timing fields (imagesPerSec, elapsedSec) is a pure function of the spec,
// the seed and the backend, so two runs can be compared line by line.
import * as fs from 'node:fs';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { FileReadError, readRegularTextSync } from '../../core/files.js';
import { TrainError } from './errors.js';

export interface StepRecord {
  kind: 'step';
  /** Optimizer steps done, this one included (1-based). */
  step: number;
  /** The epoch this step belongs to (1-based). */
  epoch: number;
  /** Mean training loss of the batch (with label smoothing), and its top-1 accuracy in training mode. */
  loss: number;
  acc: number;
  lr: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  imagesPerSec: number;
}

export interface EpochRecord {
  kind: 'epoch';
  step: number;
  /** The epoch that ended (1-based). */
  epoch: number;
  /** Means over the epoch's steps. */
  loss: number;
  acc: number;
  lr: number;
  imagesPerSec: number;
  /** Seconds of training in this epoch (steps only; evaluation and checkpoints not counted; after a resume, this process's part). */
  elapsedSec: number;
}

export interface EvalRecord {
  kind: 'eval';
  step: number;
  epoch: number;
  /** Mean cross-entropy (no label smoothing) and top-1 accuracy on the test split. */
  loss: number;
  acc: number;
  images: number;
  imagesPerSec: number;
}

export interface AllocationRecord {
  kind: 'allocation';
  /** Optimizer steps done when the allocation was read (0: before the first step). */
  step: number;
  epoch: number;
  layer: number;
  /** Query heads per K/V group. */
  counts: number[];
}

export type MetricsRecord = StepRecord | EpochRecord | EvalRecord | AllocationRecord;

/** Fields that measure time and so differ between otherwise identical runs. */
export const TIMING_FIELDS = ['imagesPerSec', 'elapsedSec'] as const;

export class MetricsLog {
  constructor(readonly path: string) {}

  /** Starts a fresh log (a new run). */
  reset(): void {
    fs.writeFileSync(this.path, '');
  }

  append(record: MetricsRecord): void {
    fs.appendFileSync(this.path, JSON.stringify(record) + '\n');
  }

  /**
   * Keeps only the records up to optimizer step `step`: what a resumed run continues from. Lines
   * that a killed run wrote after its last checkpoint are dropped, since the resumed run writes them
   * again, so the file ends up as if training had never stopped. A torn last line is dropped too.
   */
  async truncateAfter(step: number): Promise<void> {
    if (!fs.existsSync(this.path)) return;
    const kept: string[] = [];
    let text: string;
    try {
      text = readRegularTextSync(this.path, MAX_METRICS_BYTES, 'metrics.jsonl');
    } catch (e) {
      if (e instanceof FileReadError) throw new TrainError(`${e.message}; move it away to start the metrics afresh`);
      throw e;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let record: { step?: unknown };
      try {
        record = JSON.parse(line) as { step?: unknown };
      } catch {
        continue;
      }
      if (typeof record.step === 'number' && record.step <= step) kept.push(line);
    }
    await writeFileAtomic(this.path, new TextEncoder().encode(kept.map((l) => l + '\n').join('')));
  }
}

/** The largest metrics.jsonl read (about 150 bytes a step: millions of steps). */
export const MAX_METRICS_BYTES = 2 ** 30;

/** The records of a metrics.jsonl file (a regular file: a FIFO would block). */
export function readMetrics(path: string): MetricsRecord[] {
  return readRegularTextSync(path, MAX_METRICS_BYTES, 'metrics.jsonl')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricsRecord);
}
