import { describe, expect, it } from 'vitest';
import { learningRate } from '../../runtime/train/schedule.js';

describe('learningRate', () => {
  const cosine = { kind: 'cosine' as const, warmupSteps: 10, minLr: 0.1 };

  it('warms up linearly from base/W at step 0 to base at step W-1', () => {
    expect(learningRate(cosine, 1, 0, 110)).toBeCloseTo(0.1, 12);
    expect(learningRate(cosine, 1, 4, 110)).toBeCloseTo(0.5, 12);
    expect(learningRate(cosine, 1, 9, 110)).toBeCloseTo(1, 12);
  });

  it('decays by a half cosine from base to min_lr over the steps after warmup', () => {
    expect(learningRate(cosine, 1, 10, 110)).toBeCloseTo(1, 12); // p = 0
    expect(learningRate(cosine, 1, 60, 110)).toBeCloseTo(0.55, 12); // p = 1/2: the midpoint of 1 and 0.1
    expect(learningRate(cosine, 1, 85, 110)).toBeCloseTo(0.1 + 0.9 * (1 + Math.cos(0.75 * Math.PI)) / 2, 12);
    expect(learningRate(cosine, 1, 109, 110)).toBeGreaterThan(0.1);
    expect(learningRate(cosine, 1, 500, 110)).toBeCloseTo(0.1, 12); // past the end: min_lr
  });

  it('decays linearly, or stays constant', () => {
    const linear = { kind: 'linear' as const, warmupSteps: 0, minLr: 0 };
    expect(learningRate(linear, 2, 0, 100)).toBe(2);
    expect(learningRate(linear, 2, 25, 100)).toBeCloseTo(1.5, 12);
    expect(learningRate(linear, 2, 99, 100)).toBeCloseTo(0.02, 12);
    const constant = { kind: 'constant' as const, warmupSteps: 4, minLr: 0.5 };
    expect(learningRate(constant, 2, 1, 100)).toBeCloseTo(1, 12);
    expect(learningRate(constant, 2, 4, 100)).toBe(2);
    expect(learningRate(constant, 2, 99, 100)).toBe(2);
  });

  it('rejects a negative or fractional step', () => {
    expect(() => learningRate(cosine, 1, -1, 10)).toThrow(RangeError);
    expect(() => learningRate(cosine, 1, 1.5, 10)).toThrow(RangeError);
  });
});
