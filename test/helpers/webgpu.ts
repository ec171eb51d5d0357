// The WebGPU device for the kernel tests: acquired once per test file. When the `webgpu` package or
// an adapter (Mesa's EGL/GLES libraries on a machine without a GPU) is missing, the tests skip with
// the reason; with the environment variable CI set they fail instead, so CI cannot pass by skipping.
import { acquireDevice, WebGpuUnavailableError, type WebGpu } from '../../runtime/webgpu/device.js';

export interface GpuForTests {
  gpu: WebGpu | null;
  /** Why there is no device (null when there is one). */
  skipReason: string | null;
}

let cached: Promise<GpuForTests> | null = null;

export function gpuForTests(): Promise<GpuForTests> {
  cached ??= (async () => {
    try {
      const gpu = await acquireDevice();
      return { gpu, skipReason: null };
    } catch (e) {
      const absent = e instanceof WebGpuUnavailableError && e.reason !== 'error';
      if (!absent || process.env.CI) throw e;
      const reason = `WebGPU kernel tests skipped: ${(e as Error).message}`;
      console.warn(reason);
      return { gpu: null, skipReason: reason };
    }
  })();
  return cached;
}

/** Reproducible random numbers for test inputs (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [lo, hi) as f32. */
export function randomArray(n: number, random: () => number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}

/** max |a - b| / (atol + rtol * |b|) <= 1 elementwise, with the worst index in the message. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = 'values'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const diff = Math.abs(a - b);
    const ratio = diff === 0 ? 0 : diff / (atol + rtol * Math.abs(b));
    if (!(ratio <= worstRatio) || Number.isNaN(a) !== Number.isNaN(b)) {
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    throw new Error(`${what}: index ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/**
 * The gradient of sum(dy * f(x)) with respect to x by central differences in float64: checks a
 * test's analytic float64 backward reference against its own forward reference.
 */
export function numericGradient(f: (x: Float64Array) => Float64Array, x: Float64Array, dy: Float64Array, eps = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  const xp = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    xp[i] = x[i]! + eps;
    const up = f(xp);
    xp[i] = x[i]! - eps;
    const down = f(xp);
    xp[i] = x[i]!;
    let s = 0;
    for (let j = 0; j < up.length; j++) s += dy[j]! * (up[j]! - down[j]!);
    grad[i] = s / (2 * eps);
  }
  return grad;
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);
