// The host-side metrics of runtime/eval: hand-worked rows, ties, few classes, and the confused pairs.
import { describe, expect, it } from 'vitest';
import { MetricsAccumulator, mostConfusedPairs } from '../../runtime/eval/metrics.js';

describe('MetricsAccumulator', () => {
  it('counts top-1, top-k, the confusion matrix and the cross-entropy of hand-worked rows', () => {
    const m = new MetricsAccumulator(6);
    // Image 0 (label 2): predicted 2. Image 1 (label 0): 5 logits above it, top-5 miss.
    // Image 2 (label 5): predicted 1, label ranked 5th: a top-5 hit.
    m.add([0, 1, 3, 0.5, 0.2, 0.1, /**/ 0, 1, 2, 3, 4, 5, /**/ 0, 9, 5, 4, 3, 2], [2, 0, 5]);
    const r = m.result();
    expect(r.count).toBe(3);
    expect(r.topK).toBe(5);
    expect(r.top1).toBeCloseTo(1 / 3, 15);
    expect(r.top5).toBeCloseTo(2 / 3, 15);
    const ce = (row: number[], label: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[label]!;
    expect(r.loss).toBeCloseTo((ce([0, 1, 3, 0.5, 0.2, 0.1], 2) + ce([0, 1, 2, 3, 4, 5], 0) + ce([0, 9, 5, 4, 3, 2], 5)) / 3, 12);
    expect(r.confusion[2]![2]).toBe(1);
    expect(r.confusion[0]![5]).toBe(1);
    expect(r.confusion[5]![1]).toBe(1);
    expect(r.perClass).toEqual([0, null, 1, null, null, 0]);
  });

  it('breaks ties as a stable descending sort: the first index wins', () => {
    const m = new MetricsAccumulator(6);
    m.add([1, 1, 1, 1, 1, 1], [0]); // predicted 0: hit
    m.add([1, 1, 1, 1, 1, 1], [5]); // five classes ahead: top-5 miss
    m.add([1, 1, 1, 1, 1, 1], [4]); // four ahead: top-5 hit
    const r = m.result();
    expect(r.confusion[5]![0]).toBe(1);
    expect([r.top1, r.top5]).toEqual([1 / 3, 2 / 3]);
  });

  it('uses k = classes when there are fewer than 5, and stays exact over large counts', () => {
    const m = new MetricsAccumulator(3);
    for (let i = 0; i < 1000; i++) m.add([0, 0.5, 1, 2, 1, 0], [2, 1]);
    const r = m.result();
    expect(r.topK).toBe(3);
    expect(r.top5).toBe(1);
    expect(r.top1).toBe(0.5);
    expect(r.confusion).toEqual([[0, 0, 0], [1000, 0, 0], [0, 0, 1000]]);
  });

  it('refuses logits that do not fit the labels and labels out of range', () => {
    const m = new MetricsAccumulator(3);
    expect(() => m.add([0, 1], [0])).toThrow('2 logits for 1 images of 3 classes');
    expect(() => m.add([0, 1, 2], [3])).toThrow('label 3 is outside 0..2');
  });
});

describe('mostConfusedPairs', () => {
  it('lists off-diagonal cells, most images first, with the share of the true class', () => {
    const pairs = mostConfusedPairs([[5, 3, 0], [1, 8, 1], [0, 6, 2]], 3);
    expect(pairs).toEqual([
      { label: 2, predicted: 1, count: 6, fraction: 0.75 },
      { label: 0, predicted: 1, count: 3, fraction: 3 / 8 },
      { label: 1, predicted: 0, count: 1, fraction: 0.1 },
    ]);
  });
});
