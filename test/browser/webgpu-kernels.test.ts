// The generated WGSL in a browser: headless Chromium with --enable-unsafe-webgpu (its adapter is
// SwiftShader, Vulkan on the CPU) runs kernels of compiler/targets/webgpu through the project's own
// runtime code (runtime/webgpu/run-kernel.ts and executor.ts, served to the page transpiled, not
// bundled), on fixed inputs, and the outputs must match a float64 CPU reference and, where Node has
// Dawn (test/helpers/webgpu.ts), the same kernels run there, to 1e-4 relative; then the whole eval
// phase of a tiny plan (KDGQA per-sample head tables, PGQA noise at inference) must give the logits
// of the tfjs runtime. Skips without Chromium or playwright-core, or when the page gets no WebGPU
// adapter; fails instead when CI is set (harness.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type KernelInstance } from '../../compiler/targets/webgpu/kernel.js';
import { planWebGpu } from '../../compiler/targets/webgpu/lower.js';
import { attentionScoresKernel } from '../../compiler/targets/webgpu/templates/attention.js';
import { linearKernel } from '../../compiler/targets/webgpu/templates/matmul.js';
import { layerNormKernel, softmaxKernel } from '../../compiler/targets/webgpu/templates/rows.js';
import { loadCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { PlanExecutor } from '../../runtime/webgpu/executor.js';
import { runKernel, type HostArray } from '../../runtime/webgpu/run-kernel.js';
import { runtimeValues } from '../../runtime/webgpu/runtime-values.js';
import { gpuForTests, randomArray, rng } from '../helpers/webgpu.js';
import { browserForTests, callPage, compileText, indexHtml, launchChromium, openPage, randomImages, randomTensors, relativeError, servePage, SPEC, type PageServer } from './harness.js';

const { playwright, skipReason } = await browserForTests();
const TOLERANCE = 1e-4;

/** The page's entry module: a device from navigator.gpu, and the project's runKernel and PlanExecutor. */
const PAGE_JS = `
import { runKernel } from '/src/runtime/webgpu/run-kernel.js';
import { PlanExecutor } from '/src/runtime/webgpu/executor.js';

let gpu = null;
function acquire() {
  gpu ??= (async () => {
    if (!navigator.gpu) return { why: 'navigator.gpu is undefined (WebGPU is off in this browser)' };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { why: 'navigator.gpu.requestAdapter() gave no adapter' };
    const device = await adapter.requestDevice();
    device.addEventListener('uncapturederror', (e) => console.error('uncaptured WebGPU error: ' + e.error.message));
    return { adapter, device };
  })();
  return gpu;
}

async function device() {
  const g = await acquire();
  if (!g.device) throw new Error(g.why);
  return g.device;
}

/** The adapter (or why there is none). */
export async function adapter() {
  const g = await acquire();
  if (!g.adapter) return { why: g.why };
  const i = g.adapter.info;
  return {
    vendor: i.vendor, architecture: i.architecture, description: i.description, fallback: i.isFallbackAdapter,
    invocations: g.adapter.limits.maxComputeInvocationsPerWorkgroup, storageBuffers: g.adapter.limits.maxStorageBuffersPerShaderStage,
  };
}

const host = (v) => (typeof v === 'number' ? v : 'u32' in v ? Uint32Array.from(v.u32) : Float32Array.from(v.f32));

/** runKernel on each { instance, data, uniforms } in turn: the read_write bindings as arrays. */
export async function runKernels(list) {
  const d = await device();
  const out = [];
  for (const k of list) {
    const data = Object.fromEntries(Object.entries(k.data).map(([n, v]) => [n, host(v)]));
    const r = await runKernel(d, k.instance, data, k.uniforms ?? {});
    out.push(Object.fromEntries(Object.entries(r.out).map(([n, a]) => [n, Array.from(a)])));
  }
  return out;
}

/** The eval phase of a plan on one batch: its logits and eval stats. */
export async function evalPhase({ plan, wgsl, params, images, labels, values }) {
  const d = await device();
  const started = performance.now();
  const x = await PlanExecutor.create(d, plan, wgsl, { phases: ['eval'], initialParam: (name) => Float32Array.from(params[name]) });
  const compiled = performance.now();
  try {
    x.write(plan.inputs.images, Float32Array.from(images));
    x.write(plan.inputs.labels, Uint32Array.from(labels));
    x.submit('eval', values);
    const out = await x.read([plan.outputs.logits, plan.outputs.evalStats]);
    return {
      logits: Array.from(new Float32Array(out.get(plan.outputs.logits))),
      evalStats: Array.from(new Float32Array(out.get(plan.outputs.evalStats))),
      dispatches: plan.phases.eval.length, createMs: compiled - started, runMs: performance.now() - compiled,
    };
  } finally {
    x.destroy();
  }
}
`;

type Wire = number | { f32: number[] } | { u32: number[] };
interface KernelRun {
  instance: KernelInstance;
  data: Record<string, HostArray | number>;
  uniforms?: Record<string, number>;
}

/** Typed arrays as JSON for the page (float32 values survive as float64 numbers exactly). */
function toWire(run: KernelRun): { instance: KernelInstance; data: Record<string, Wire>; uniforms?: Record<string, number> } {
  const data = Object.fromEntries(Object.entries(run.data).map(([n, v]) => [n, typeof v === 'number' ? v : v instanceof Uint32Array ? { u32: Array.from(v) } : { f32: Array.from(v) }]));
  return { ...run, data };
}

// ---------------------------------------------------------------------------------------------
// Float64 references

/** C[M, N] = A[M, K] B[N, K]^T + bias[N]. */
function linearRef(a: Float32Array, b: Float32Array, bias: Float32Array, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias[n]!;
      for (let k = 0; k < K; k++) s += a[m * K + k]! * b[n * K + k]!;
      c[m * N + n] = s;
    }
  }
  return c;
}

/** LayerNorm over rows of x [rows, D] (biased variance), and the [mean, rstd] pairs. */
function layerNormRef(x: Float32Array, gamma: Float32Array, beta: Float32Array, rows: number, D: number, eps: number): { y: Float64Array; stats: Float64Array } {
  const y = new Float64Array(rows * D);
  const stats = new Float64Array(2 * rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i]!;
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = (x[r * D + i]! - mean) * rstd * gamma[i]! + beta[i]!;
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
  return { y, stats };
}

/** softmax_j((Q_h / sqrt(hd)) . K_table[b, h]) over qkv [B*T, (H + 2G) * hd], as [B, H, T, T]. */
function attentionRef(qkv: Float32Array, table: Uint32Array, B: number, T: number, H: number, G: number, hd: number): { s: Float64Array; p: Float64Array } {
  const W = (H + 2 * G) * hd;
  const s = new Float64Array(B * H * T * T);
  const p = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = table[b * H + h]!;
      for (let i = 0; i < T; i++) {
        const row = ((b * H + h) * T + i) * T;
        for (let j = 0; j < T; j++) {
          let acc = 0;
          for (let d = 0; d < hd; d++) acc += (qkv[(b * T + i) * W + h * hd + d]! / Math.sqrt(hd)) * qkv[(b * T + j) * W + (H + g) * hd + d]!;
          s[row + j] = acc;
        }
        const top = Math.max(...s.subarray(row, row + T));
        let sum = 0;
        for (let j = 0; j < T; j++) sum += Math.exp(s[row + j]! - top);
        for (let j = 0; j < T; j++) p[row + j] = Math.exp(s[row + j]! - top) / sum;
      }
    }
  }
  return { s, p };
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!playwright)(`generated WebGPU kernels in headless Chromium ${skipReason ?? ''}`, () => {
  let browser: Browser;
  let server: PageServer;
  let page: Page;
  let log: string[];
  let noAdapter: string | null = null;
  const live: VitModel[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    [browser, server] = await Promise.all([launchChromium(playwright!), servePage()]);
    fs.writeFileSync(path.join(server.dir, 'page.js'), PAGE_JS);
    fs.writeFileSync(path.join(server.dir, 'index.html'), indexHtml('/page.js'));
    ({ page, log } = await openPage(browser, server));
    const info = await callPage<Record<string, unknown>>(page, log, 'adapter', null);
    if (typeof info.why === 'string') {
      if (process.env.CI) throw new Error(`browser WebGPU tests cannot run: ${info.why}; with CI set they must`);
      noAdapter = `browser WebGPU tests skipped: ${info.why}`;
      console.warn(noAdapter);
    } else console.log(`browser WebGPU adapter: ${JSON.stringify(info)}`);
  });
  afterAll(async () => {
    live.forEach((v) => v.dispose());
    await browser?.close();
    await server?.close();
  });

  /** Runs kernels in the page and, where Node has Dawn, there too (null otherwise). */
  async function runBoth(runs: KernelRun[]): Promise<{ page: Record<string, number[]>[]; dawn: Record<string, HostArray>[] | null }> {
    const inPage = await callPage<Record<string, number[]>[]>(page, log, 'runKernels', runs.map(toWire));
    const { gpu } = await gpuForTests();
    const dawn = gpu ? await Promise.all(runs.map(async (r) => (await runKernel(gpu.device, r.instance, r.data, r.uniforms)).out)) : null;
    return { page: inPage, dawn };
  }

  function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>): number {
    expect(got.length, `${what}: length`).toBe(want.length);
    const e = relativeError(got, want);
    expect(e, `${what}: relative error ${e}`).toBeLessThan(TOLERANCE);
    return e;
  }

  it('a matmul, a LayerNorm and the attention scores and softmax match float64 and Dawn in Node', async ({ skip }) => {
    if (noAdapter) skip(noAdapter);
    const random = rng(7);
    // Sizes that are no multiple of the tiles: the edges count.
    const [M, K, N] = [37, 48, 40];
    const a = randomArray(M * K, random);
    const b = randomArray(N * K, random);
    const bias = randomArray(N, random);
    const matmul: KernelRun = { instance: linearKernel({ M, K, N, transA: false, transB: true, bias: true, accumulate: false }, DEFAULT_LIMITS), data: { a, b, bias, c: M * N } };
    const [rows, D, eps] = [10, 48, 1e-5];
    const x = randomArray(rows * D, random, -2, 3);
    const gamma = randomArray(D, random, 0.5, 1.5);
    const beta = randomArray(D, random);
    const layerNorm: KernelRun = { instance: layerNormKernel({ rows, dim: D, eps }, DEFAULT_LIMITS), data: { x, gamma, beta, y: rows * D, stats: 2 * rows } };
    // Attention with a head -> K/V head table per image (KDGQA scope sample), uneven groups.
    const [B, T, H, G, hd] = [2, 5, 6, 3, 8];
    const qkv = randomArray(B * T * (H + 2 * G) * hd, random, -2, 2);
    const table = Uint32Array.from([0, 0, 0, 1, 2, 2, 1, 1, 2, 2, 0, 0]);
    const scores: KernelRun = {
      instance: attentionScoresKernel({ batch: B, tokens: T, heads: H, groups: G, headDim: hd, grouping: 'table-per-sample', dropout: false }, DEFAULT_LIMITS),
      data: { qkv, table, s: B * H * T * T },
    };

    const first = await runBoth([matmul, layerNorm, scores]);
    const s = Float32Array.from(first.page[2]!.s!);
    const softmax: KernelRun = { instance: softmaxKernel({ rows: B * H * T, cols: T }, DEFAULT_LIMITS), data: { x: s } };
    const second = await runBoth([softmax]);

    const lnRef = layerNormRef(x, gamma, beta, rows, D, eps);
    const attRef = attentionRef(qkv, table, B, T, H, G, hd);
    const pageOut = [...first.page, ...second.page];
    const wants: [string, string, Float64Array][] = [
      ['matmul c', 'c', linearRef(a, b, bias, M, K, N)],
      ['layernorm y', 'y', lnRef.y],
      ['layernorm stats', 'stats', lnRef.stats],
      ['attn_scores s', 's', attRef.s],
      ['softmax p', 'x', attRef.p],
    ];
    const kernelOf = [0, 1, 1, 2, 3];
    const errors = wants.map(([what, binding, want], i) => `${what} ${expectClose(`page ${what}`, pageOut[kernelOf[i]!]![binding]!, want).toExponential(1)}`);
    console.log(`page kernels against float64, relative error: ${errors.join(', ')}`);
    if (first.dawn && second.dawn) {
      const dawnOut = [...first.dawn, ...second.dawn];
      const against = wants.map(([what, binding], i) => `${what} ${expectClose(`page against Dawn ${what}`, pageOut[kernelOf[i]!]![binding]!, dawnOut[kernelOf[i]!]![binding]!).toExponential(1)}`);
      console.log(`page kernels against Dawn in Node, relative error: ${against.join(', ')}`);
    } else console.warn('no Dawn in Node: the page kernels are compared with the float64 reference only');
  });

  it('the eval phase of a tiny plan gives the logits of the tfjs runtime', async ({ skip }) => {
    if (noAdapter) skip(noAdapter);
    const ir = compileText(SPEC);
    const m = ir.models[0]!;
    const run = ir.runs[0]!;
    const batch = 3;
    const { plan, wgsl } = planWebGpu(ir, { batch });
    const vit = new VitModel(tf, m, { seed: 1 });
    live.push(vit);
    loadCheckpointTensors(tf, vit.params, randomTensors(m, 5));
    const params = Object.fromEntries(plan.params.map((p) => [p.name, vit.params.byName.get(p.name)!.variable.dataSync() as Float32Array]));
    const x = randomImages(m, batch, 2);
    const random = rng(3);
    const labels = Uint32Array.from({ length: batch }, () => Math.floor(random() * m.classes));
    const step = 2;
    const values = runtimeValues(plan, { step });
    const shape: [number, number, number, number] = [batch, m.image.height, m.image.width, m.image.channels];
    const want = tf.tidy(() => vit.forward(tf.tensor4d(x, shape), { training: false, step, seed: run.seed }).dataSync() as Float32Array);
    const otherNoise = tf.tidy(() => vit.forward(tf.tensor4d(x, shape), { training: false, step: step + 1, seed: run.seed }).dataSync() as Float32Array);
    expect(relativeError(otherNoise, want)).toBeGreaterThan(1e-3);

    const got = await callPage<{ logits: number[]; evalStats: number[]; dispatches: number; createMs: number; runMs: number }>(page, log, 'evalPhase', {
      plan, wgsl, params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v)])), images: Array.from(x), labels: Array.from(labels), values,
    });
    console.log(`browser eval phase: ${got.dispatches} dispatches, executor created (kernels compiled) in ${got.createMs.toFixed(0)} ms, ran in ${got.runMs.toFixed(0)} ms; logits relative error ${relativeError(got.logits, want).toExponential(2)}`);
    expectClose('eval logits', got.logits, want);
    const correct = labels.reduce((n, y, b) => {
      const row = Array.from(want.subarray(b * m.classes, (b + 1) * m.classes));
      return n + (row.indexOf(Math.max(...row)) === y ? 1 : 0);
    }, 0);
    expect(got.evalStats[1]).toBe(correct);

    const { gpu } = await gpuForTests();
    if (gpu) {
      const dawn = await PlanExecutor.create(gpu.device, plan, wgsl, { phases: ['eval'], initialParam: (name) => params[name]! });
      try {
        dawn.write(plan.inputs.images, x);
        dawn.write(plan.inputs.labels, labels);
        dawn.submit('eval', values);
        const out = await dawn.read([plan.outputs.logits]);
        const e = expectClose('page against Dawn eval logits', got.logits, new Float32Array(out.get(plan.outputs.logits)!));
        console.log(`browser eval logits against Dawn in Node: relative error ${e.toExponential(2)}`);
      } finally {
        dawn.destroy();
      }
    }
  });
});
