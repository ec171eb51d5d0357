// Classification metrics of an evaluation, accumulated on the host from each batch's logits: top-1 and
// top-k accuracy, the mean cross-entropy (no label smoothing, as timm's validate), the confusion
// matrix and per-class accuracy. Logits are a few floats per image, so reading them back costs little
// next to the forward pass, and float64 arithmetic here keeps the sums exact over large test sets.

export interface ClassificationMetrics {
  /** Fraction of images whose highest logit is their label's. */
  top1: number;
  /** Fraction of images whose label is among the `topK` highest logits. */
  top5: number;
  /** k of `top5`: 5, or the number of classes when there are fewer. */
  topK: number;
  /** Mean cross-entropy of the softmax of the logits against the labels, in nats. */
  loss: number;
  count: number;
  /** Accuracy of each class (index = label); null for a class with no image in the data. */
  perClass: (number | null)[];
  /** confusion[label][predicted]: number of images. */
  confusion: number[][];
}

export interface ConfusedPair {
  label: number;
  predicted: number;
  count: number;
  /** Share of the label's images predicted as `predicted`. */
  fraction: number;
}

export class MetricsAccumulator {
  readonly topK: number;
  private readonly confusion: number[][];
  private top1Hits = 0;
  private topKHits = 0;
  private lossSum = 0;
  private count = 0;

  constructor(readonly classes: number) {
    if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`metrics: classes must be a whole number >= 1, got ${classes}`);
    this.topK = Math.min(5, classes);
    this.confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  }

  /** Adds a batch: `logits` holds `labels.length` rows of `classes` values. */
  add(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    const C = this.classes;
    const n = labels.length;
    if (logits.length !== n * C) throw new Error(`metrics: ${logits.length} logits for ${n} images of ${C} classes`);
    for (let i = 0; i < n; i++) {
      const label = labels[i]!;
      if (!Number.isInteger(label) || label < 0 || label >= C) throw new Error(`metrics: label ${label} is outside 0..${C - 1}`);
      const base = i * C;
      const own = logits[base + label]!;
      // The prediction is the first index of the largest logit (tf.argMax's choice on ties). The
      // label's rank counts the classes ranked before it in a stable descending sort: larger
      // logits, and equal ones at smaller indices (a NaN logit of the label ranks last).
      const predicted = argmaxFirst(logits, base, C);
      const max = logits[base + predicted]!;
      let ahead = Number.isNaN(own) ? C : 0;
      let sumExp = 0;
      for (let c = 0; c < C; c++) {
        const v = logits[base + c]!;
        if (v > own || (v === own && c < label)) ahead++;
        sumExp += Math.exp(v - max);
      }
      this.lossSum += max + Math.log(sumExp) - own;
      this.confusion[label]![predicted]! += 1;
      if (predicted === label) this.top1Hits++;
      if (ahead < this.topK) this.topKHits++;
      this.count++;
    }
  }

  result(): ClassificationMetrics {
    const n = this.count;
    const perClass = this.confusion.map((row, label) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total === 0 ? null : row[label]! / total;
    });
    return {
      top1: n ? this.top1Hits / n : 0,
      top5: n ? this.topKHits / n : 0,
      topK: this.topK,
      loss: n ? this.lossSum / n : 0,
      count: n,
      perClass,
      confusion: this.confusion.map((row) => [...row]),
    };
  }
}

/** The first index of the largest value of row [base, base + C); NaN counts as smaller than anything. */
function argmaxFirst(values: ArrayLike<number>, base: number, C: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let c = 0; c < C; c++) {
    const v = values[base + c]!;
    if (v > bestValue) {
      bestValue = v;
      best = c;
    }
  }
  return best;
}

/** The largest off-diagonal cells of a confusion matrix, most images first (ties: by label, then prediction). */
export function mostConfusedPairs(confusion: number[][], limit: number): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  confusion.forEach((row, label) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, predicted) => {
      if (predicted !== label && count > 0) pairs.push({ label, predicted, count, fraction: count / total });
    });
  });
  pairs.sort((a, b) => b.count - a.count || a.label - b.label || a.predicted - b.predicted);
  return pairs.slice(0, limit);
}
