#!/usr/bin/env node
// Benchmark of the WebGPU engine: for each attention variant at ViT-S and ViT-B widths, the forward
// and the backward of the attention kernels (grouped attention, allocation, PGQA noise), and a whole
// training step (every pass, the optimizer, the one read-back), beside the same step on tfjs-wasm as
// the peer. Shapes are picked by adapter: on a software adapter (llvmpipe, SwiftShader) one block at
// 64 px (17 tokens), batch 4; on a GPU the real ViT-S/16 and ViT-B/16 (224 px, 197 tokens, depth 12),
// batch 64 and 32. SHAPES=small|full overrides, REPS=N sets the timed repetitions (default 3),
// VARIANTS=mha,gqa,... picks variants, PEER=0 skips tfjs-wasm. Uses dist/: npm run build first.
//   node bench/webgpu.js
import { compileFile } from '../dist/compiler/compile.js';
import { selectModelAndRun } from '../dist/compiler/graph/lower.js';
import { selectBackend } from '../dist/runtime/tfjs/backend.js';
import { TfjsEngine } from '../dist/runtime/tfjs/engine.js';
import { acquireEngineDevice } from '../dist/runtime/webgpu/device.js';
import { WebGpuEngine } from '../dist/runtime/webgpu/engine.js';

/** The attention block of each variant beside `heads` (as specs/vit_s16.attn), KV: the K/V heads. */
const VARIANTS = {
  mha: '',
  mqa: 'kv_heads 1',
  gqa: 'kv_heads KV',
  kdgqa: 'kv_heads KV allocate key_norm(scope: batch, min: 1)',
  dgqa_ema: 'kv_heads KV allocate key_norm(track: ema(decay: 0.9), window: 300 steps, min: 1)',
  dgqa_diff: 'kv_heads KV allocate key_norm(track: diff, window: 300 steps, min: 1)',
  pgqa: 'kv_heads KV perturb gaussian(scale: 1.0)',
};
const FORWARD = new Set(['attn_scores', 'softmax', 'attn_av', 'noise', 'perturb', 'key_norm', 'key_norm_sum', 'allocate', 'tracker', 'alloc_state', 'table_from_counts']);
const BACKWARD = new Set(['attn_dp', 'softmax_bwd', 'attn_dq', 'attn_dk', 'attn_dv', 'perturb_bwd']);

const gpu = await acquireEngineDevice();
const software = /llvmpipe|swiftshader|software/i.test(gpu.description);
const shapes = (process.env.SHAPES ?? (software ? 'small' : 'full')) === 'small'
  ? [{ name: 'ViT-S', dim: 384, heads: 6, kv: 3, image: 64, depth: 1, batch: 4 }, { name: 'ViT-B', dim: 768, heads: 12, kv: 4, image: 64, depth: 1, batch: 4 }]
  : [{ name: 'ViT-S', dim: 384, heads: 6, kv: 3, image: 224, depth: 12, batch: 64 }, { name: 'ViT-B', dim: 768, heads: 12, kv: 4, image: 224, depth: 12, batch: 32 }];
const reps = Number(process.env.REPS ?? 3);
const variants = (process.env.VARIANTS ?? Object.keys(VARIANTS).join(',')).split(',');
const tf = process.env.PEER === '0' ? null : (await selectBackend('wasm')).tf;

console.log(`attnc WebGPU benchmark, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log(`adapter: ${gpu.description}`);
console.log(`times in ms, the mean of ${reps} after one warm-up; attention = grouped attention, allocation and PGQA kernels of all blocks`);

for (const s of shapes) {
  const tokens = (s.image / 16) ** 2 + 1;
  console.log(`\n${s.name}: dim ${s.dim}, ${s.heads} heads (grouped variants: ${s.kv} K/V heads), depth ${s.depth}, ${s.image} px / patch 16 = ${tokens} tokens, batch ${s.batch}, AdamW`);
  console.log('variant     attn fwd  attn bwd      step   img/s   tfjs-wasm step   webgpu speed-up');
  for (const v of variants) {
    const { model, run } = modelAndRun(s, v);
    const batch = randomBatch(model, s.batch);
    const engine = await WebGpuEngine.create({ model, run, seed: 1, microBatch: s.batch, gpu });
    let at = 0;
    const next = () => ({ step: at, epochStep: at++, lr: 1e-4 });
    await engine.step(batch, next()); // the first use of each pipeline costs the driver extra
    const exec = engine.executor;
    const values = engine.runtimeValues({ ...next(), microBatch: 0 });
    const fwd = await timed(async () => {
      exec.submit('forward', values, (_d, t) => FORWARD.has(t));
      await exec.settle();
    });
    const bwd = await timed(async () => {
      exec.submit('backward', values, (_d, t) => BACKWARD.has(t));
      await exec.settle();
    });
    // The attention backward kernels write activation gradients only: the parameter gradients of the
    // steps timed next are untouched.
    const step = await timed(() => engine.step(batch, next()));
    engine.dispose();
    let peer = '               -               -';
    if (tf) {
      const t = new TfjsEngine(tf, 'wasm', { model, run, seed: 1, microBatch: s.batch });
      let k = 0;
      await t.step(batch, { step: k, epochStep: k++, lr: 1e-4 });
      const wasm = await timed(() => t.step(batch, { step: k, epochStep: k++, lr: 1e-4 }));
      t.dispose();
      peer = `${wasm.toFixed(1).padStart(16)}  ${(wasm / step).toFixed(2).padStart(14)}x`;
    }
    console.log(`${v.padEnd(10)} ${fwd.toFixed(1).padStart(9)} ${bwd.toFixed(1).padStart(9)} ${step.toFixed(1).padStart(9)} ${(s.batch / (step / 1000)).toFixed(1).padStart(7)} ${peer}`);
  }
}
gpu.device.destroy();

function modelAndRun(s, v) {
  const text = `model m {
  image ${s.image} x ${s.image} x 3
  patch 16
  dim ${s.dim}
  depth ${s.depth}
  mlp 4x
  classes 1000
  attention { heads ${s.heads} ${VARIANTS[v].replace('KV', String(s.kv))} }
}
train r { model m data synthetic(train: ${s.batch}, test: ${s.batch}) batch ${s.batch} seed 1 optimizer adamw(lr: 1e-4) }
`;
  const file = '/bench/webgpu.attn';
  const result = compileFile(file, { host: { readFile: () => text, exists: (p) => p === file }, displayBase: '/bench' });
  if (!result.ir) throw new Error(result.diagnostics.map((d) => d.message).join('; '));
  return selectModelAndRun(result.ir, {});
}

function randomBatch(model, size) {
  const perImage = model.image.height * model.image.width * model.image.channels;
  let a = 12345;
  const random = () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return { x: Float32Array.from({ length: size * perImage }, () => 2 * random() - 1), y: Int32Array.from({ length: size }, () => Math.floor(random() * model.classes)), size };
}

async function timed(fn) {
  await fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return (performance.now() - t0) / reps;
}
