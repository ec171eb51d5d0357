// Loads the optional native addon (native/attnc_native.cc, built by `npm run build:native`). Without
// it, `--backend native` says in one line how to build it; the tests that need it skip with why.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type F32 = Float32Array;
type U32 = Uint32Array;
type Opt<T> = T | null;

/** The addon's functions (argument order as in native/attnc_native.cc). */
export interface NativeAddon {
  /** threads > 0 sets OpenMP's and OpenBLAS's thread counts; isa: what oneDNN dispatches to (avx2, avx512_core, ...). */
  configure(threads?: number | null, gemm?: number | null): { threads: number; onednn: string; openblas: string; openblasThreads: number; isa: string };
  matmul(a: F32, b: F32, c: F32, M: number, K: number, N: number, transA: boolean, transB: boolean, accumulate: boolean, bias?: Opt<F32>): void;
  gemmChoices(): { M: number; K: number; N: number; transA: number; transB: number; accumulate: number; bias: number; dnnlMs: number; blasMs: number; chosen: 'onednn' | 'openblas' }[];
  layernorm(x: F32, gamma: F32, beta: F32, y: F32, stats: F32, rows: number, dim: number, eps: number): void;
  layernormBwd(x: F32, gamma: F32, stats: F32, dy: F32, dx: F32, rows: number, dim: number, accumulate: boolean): void;
  layernormBwdParams(x: F32, stats: F32, dy: F32, dgamma: F32, dbeta: F32, rows: number, dim: number): void;
  biasGrad(dy: F32, db: F32, rows: number, cols: number): void;
  softmax(x: F32, rows: number, cols: number): void;
  softmaxBwd(p: F32, d: F32, rows: number, cols: number): void;
  gelu(x: F32, y: F32, count: number, seed: number, step: number, micro: number, layer: number, site: number, rate: number): void;
  geluBwd(x: F32, dy: F32, dx: F32, count: number, seed: number, step: number, micro: number, layer: number, site: number, rate: number): void;
  residual(h: Opt<F32>, y: F32, out: F32, rows: number, dim: number, tokens: number, seed: number, step: number, micro: number, layer: number, dropSite: number, dropout: number, pathSite: number, dropPath: number): void;
  patchify(images: F32, patches: F32, batch: number, height: number, width: number, channels: number, patch: number): void;
  embed(patches: F32, cls: Opt<F32>, pos: F32, h: F32, batch: number, patchCount: number, dim: number): void;
  embedBwd(dh: F32, dpatches: F32, dpos: F32, dcls: Opt<F32>, batch: number, patchCount: number, dim: number): void;
  pool(x: F32, pooled: F32, batch: number, tokens: number, dim: number, mean: boolean): void;
  poolBwd(dpooled: F32, dx: F32, batch: number, tokens: number, dim: number, mean: boolean): void;
  attnScores(qkv: F32, table: Opt<U32>, s: F32, B: number, T: number, H: number, G: number, hd: number, perSample: boolean): void;
  attnAv(p: F32, qkv: F32, table: Opt<U32>, out: F32, B: number, T: number, H: number, G: number, hd: number, perSample: boolean, seed: number, step: number, micro: number, layer: number, rate: number): void;
  attnDp(dout: F32, qkv: F32, table: Opt<U32>, dp: F32, B: number, T: number, H: number, G: number, hd: number, perSample: boolean, seed: number, step: number, micro: number, layer: number, rate: number): void;
  attnDqkv(ds: F32, p: F32, dout: F32, qkv: F32, table: Opt<U32>, dqkv: F32, B: number, T: number, H: number, G: number, hd: number, perSample: boolean, seed: number, step: number, micro: number, layer: number, rate: number): void;
  /** kind 0: l2 norm, 1: l1 norm, 2: population variance, 3: key self-attention entropy (compiler/ir/scores.ts). */
  keyStat(qkv: F32, stats: F32, B: number, T: number, H: number, G: number, hd: number, kind: number): void;
  noise(z: F32, B: number, T: number, H: number, G: number, hd: number, atOutput: boolean, paper: boolean, gaussian: boolean, seed: number, step: number, micro: number, layer: number): void;
  perturb(x: F32, z: F32, out: F32, B: number, T: number, H: number, G: number, hd: number, atOutput: boolean, paper: boolean, scale: number): void;
  perturbBwd(x: F32, z: F32, dy: F32, dx: F32, B: number, T: number, H: number, G: number, hd: number, atOutput: boolean, paper: boolean, scale: number): void;
  crossEntropy(logits: F32, labels: U32, stats: F32, dlogits: Opt<F32>, batch: number, classes: number, smoothing: number, gradScale: number, micro: number): void;
  gradSumsq(grad: F32, partial: F32, count: number, index: number): void;
  gradNorm(partial: F32, stats: F32, params: number, clip: number): void;
  adamw(p: F32, grad: F32, m: F32, v: F32, stats: F32, count: number, beta1: number, beta2: number, eps: number, stepSize: number, bias2Sqrt: number, decay: number): void;
  sgd(p: F32, grad: F32, buf: Opt<F32>, stats: F32, count: number, lr: number, weightDecay: number, momentum: number): void;
}

/** `--backend native` without the addon: the message says how to build it. */
export class NativeUnavailableError extends Error {}

export const BUILD_HINT = 'build it with `npm run build:native` (needs g++, libdnnl-dev and libopenblas-dev: apt-get install -y libdnnl-dev libopenblas-dev)';

/** The package root: the nearest folder above this file with attnc's package.json and native/ (dist/ has a copy of the first only). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && existsSync(join(dir, 'native', 'binding.gyp'))) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'attnc') return dir;
      } catch { /* keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) throw new NativeUnavailableError('the native backend could not find attnc\'s package folder');
    dir = up;
  }
}

/** Where the addon is looked for: ATTNC_NATIVE_ADDON, else native/build/Release/attnc_native.node. */
export function addonPath(): string {
  return process.env.ATTNC_NATIVE_ADDON ?? join(packageRoot(), 'native', 'build', 'Release', 'attnc_native.node');
}

let loaded: NativeAddon | null = null;
let failure: string | null = null;

/** The addon, or NativeUnavailableError with one line saying why and how to build it. */
export function loadNativeAddon(): NativeAddon {
  if (loaded) return loaded;
  if (failure) throw new NativeUnavailableError(failure);
  let path = '';
  try {
    path = addonPath();
    if (!existsSync(path)) throw new Error(`${path} does not exist`);
    // Idle OpenMP threads sleep instead of spinning: on 2 cores shared with OpenBLAS's threads (and other
    // processes) spinning made a training step 10-20x slower. libgomp reads this when it loads.
    process.env.OMP_WAIT_POLICY ??= 'passive';
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
    return loaded;
  } catch (e) {
    const why = e instanceof NativeUnavailableError ? e.message : (e as Error).message.split('\n')[0];
    failure = `the native backend's addon is not available (${why}): ${BUILD_HINT}`;
    throw new NativeUnavailableError(failure);
  }
}

/** Null when the addon loads, else the reason (for tests that skip without it). */
export function nativeUnavailableReason(): string | null {
  try {
    loadNativeAddon();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
