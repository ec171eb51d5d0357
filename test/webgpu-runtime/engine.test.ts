// The WebGPU engine's checkpoint tensors: a save-load round trip is exact (parameters, allocation
// state, optimizer slots), and a checkpoint that does not fit is refused with every problem named.
import { describe, expect, it, onTestFinished } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { initialTensors } from '../../compiler/ir/init.js';
import { WebGpuEngine } from '../../runtime/webgpu/engine.js';
import { gpuForTests } from '../helpers/webgpu.js';
import { compileText, randomBatch } from './helpers.js';

const { gpu, skipReason } = await gpuForTests();

const { model, run } = selectModelAndRun(compileText(`
model m {
  image   8 x 8 x 1
  patch   4
  dim     24
  depth   1
  mlp     2x
  classes 3
  attention { heads 6 kv_heads 3 allocate key_norm(track: diff, window: 1 steps, init: first_batch, scale: minmax) }
}
train r { model m data synthetic(train: 8, test: 8) batch 4 seed 3 optimizer adamw(lr: 1e-2) }
`), {});

describe.skipIf(!gpu)(`WebGPU engine checkpoints ${skipReason ?? ''}`, () => {
  it('starts from initialTensors(model, seed), and round-trips every tensor exactly', async () => {
    const a = await WebGpuEngine.create({ model, run, seed: 3, microBatch: 4, gpu: gpu! });
    const b = await WebGpuEngine.create({ model, run, seed: 99, microBatch: 4, gpu: gpu! });
    onTestFinished(() => (a.dispose(), b.dispose()));
    const fresh = await a.checkpoint({ optimizer: true });
    for (const [name, t] of Object.entries(initialTensors(model, 3))) expect(fresh.params[name]!.data, name).toEqual(t.data);
    expect(await a.allocationCounts()).toEqual([[2, 2, 2]]);
    await a.step(randomBatch(4, 64, 3, 1), { step: 0, epochStep: 0, lr: 1e-2 });
    await a.step(randomBatch(4, 64, 3, 2), { step: 1, epochStep: 1, lr: 1e-2 });
    const saved = await a.checkpoint({ optimizer: true });
    expect(Object.keys(saved.optimizer).sort()).toEqual(['m', 'v']);
    expect(Object.keys(saved.state).sort()).toEqual(['blocks.0.attn.alloc.cache', 'blocks.0.attn.alloc.counts', 'blocks.0.attn.alloc.score']);
    await b.load(saved);
    expect(await b.checkpoint({ optimizer: true })).toEqual(saved);
    expect(await b.allocationCounts()).toEqual([Array.from(saved.state['blocks.0.attn.alloc.counts']!.data)]);
    // Both continue identically.
    const batch = randomBatch(4, 64, 3, 3);
    const [ra, rb] = [await a.step(batch, { step: 2, epochStep: 2, lr: 1e-2 }), await b.step(batch, { step: 2, epochStep: 2, lr: 1e-2 })];
    expect(rb).toEqual(ra);
    expect(rb.counts).toEqual(ra.counts);
    expect((await a.checkpoint({ optimizer: false })).optimizer).toEqual({});
  }, 120_000);

  it('refuses a checkpoint that does not fit, naming every problem, and changes nothing', async () => {
    const e = await WebGpuEngine.create({ model, run, seed: 3, microBatch: 4, gpu: gpu! });
    onTestFinished(() => e.dispose());
    const good = await e.checkpoint({ optimizer: true });
    const { ['head.bias']: _dropped, ...params } = good.params;
    params['blocks.0.attn.qkv.weight'] = { dtype: 'F32', shape: [40, 24], data: new Float32Array(40 * 24) };
    params['blocks.0.attn.extra'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    const { ['blocks.0.attn.alloc.score']: _s, ...state } = good.state;
    const attempt = e.load({ params, state, optimizer: { ...good.optimizer, momentum: {} } });
    await expect(attempt).rejects.toThrow(/missing head.bias/);
    await expect(attempt).rejects.toThrow(/blocks.0.attn.qkv.weight has shape \[40,24\], the model needs \[48,24\]/);
    await expect(attempt).rejects.toThrow(/unexpected blocks.0.attn.extra/);
    await expect(attempt).rejects.toThrow(/missing blocks.0.attn.alloc.score/);
    await expect(attempt).rejects.toThrow(/slot 'momentum' is not used by adamw/);
    expect(await e.checkpoint({ optimizer: true })).toEqual(good);
  }, 60_000);
});
