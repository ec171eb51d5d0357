// key_grad end to end (docs/allocation.md "key_grad"): the graph writes the statistic after the
// backward and the next step's allocations read it; on the TensorFlow.js and native engines the state
// after a step is the float64 reference of that step's qkv weight gradient, step 0 shares heads
// equally, step 1 allocates from step 0's statistic, evaluation allocates from the stored row, and
// checkpoints carry it (a checkpoint without it is refused, naming the tensor).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { allocateFromScores, equalShareCounts } from '../compiler/alloc.js';
import { lowerGraph, selectModelAndRun } from '../compiler/graph/lower.js';
import { SCORES } from '../compiler/ir/scores.js';
import type { ModelIR, ScoredAllocationIR } from '../compiler/ir/types.js';
import { stateSpecs } from '../compiler/ir/params.js';
import { nativeUnavailableReason } from '../runtime/native/addon.js';
import { NativeEngine } from '../runtime/native/engine.js';
import { TfjsEngine } from '../runtime/tfjs/engine.js';
import { compileText, PARITY_SPEC, randomBatch } from './webgpu-runtime/helpers.js';

const nativeSkip = nativeUnavailableReason();
const ir = compileText(PARITY_SPEC);
const { model, run } = selectModelAndRun(ir, { run: 'keygrad_run' });
const m = model as ModelIR;
const perImage = m.image.height * m.image.width * m.image.channels;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The float64 key_grad of every key_grad layer from checkpoint-layout gradients (qkv.weight [(H + 2G) hd, dim]). */
function referenceRows(grads: Record<string, ArrayLike<number>>): number[][] {
  return m.layers.map((l) => {
    const { heads: H, kvHeads: G, headDim: hd } = l.attention;
    const w = grads[`blocks.${l.index}.attn.qkv.weight`]!;
    // Graph layout [dim, (H + 2G) hd]: group g's key columns, row by row.
    const cols = Array.from({ length: G }, (_, g) => Array.from({ length: m.dim * hd }, (_, e) => w[((H + g) * hd + (e % hd)) * m.dim + Math.floor(e / hd)]!));
    return SCORES.key_grad.reference({ kind: 'key_grad' }, [cols], { seed: 0, layer: l.index, training: true, step: 0, microBatch: 0 }, hd)[0]!;
  });
}

const countsOf = (l: number, row: number[]) => {
  const al = m.layers[l]!.attention.allocation as ScoredAllocationIR;
  return allocateFromScores(row, { heads: m.layers[l]!.attention.heads, scale: al.scale, rounding: al.rounding, minPerGroup: al.min }).counts;
};

describe('the graph of a key_grad model', () => {
  const graph = lowerGraph(ir, { run: 'keygrad_run' });
  it('computes the statistic in the optimizer phase, before the gradient norm, from the qkv weight gradient into a state row', () => {
    const stats = graph.phases.optimizer.filter((n) => n.op === 'key_stat');
    expect(stats.map((n) => [n.inputs.qkv, n.outputs.stats])).toEqual([0, 1].map((l) => [`grad:blocks.${l}.attn.qkv.weight`, `state:blocks.${l}.attn.key_grad`]));
    expect(stats.every((n) => (n.attrs as { tokens: number; batch: number }).tokens === m.dim && (n.attrs as { batch: number }).batch === 1)).toBe(true);
    const firstNorm = graph.phases.optimizer.findIndex((n) => n.op === 'grad_sumsq');
    expect(graph.phases.optimizer.indexOf(stats[1]!)).toBeLessThan(firstNorm);
    expect(graph.allocationState.map((s) => s.gradStat)).toEqual(['state:blocks.0.attn.key_grad', 'state:blocks.1.attn.key_grad']);
  });
  it('has the forward and eval allocations read that row, with no key statistic of their own', () => {
    for (const phase of ['forward', 'eval'] as const) {
      expect(graph.phases[phase].filter((n) => n.op === 'key_stat')).toEqual([]);
      const allocs = graph.phases[phase].filter((n) => n.op === 'allocate' && n.inputs.stats);
      expect(allocs.map((n) => n.inputs.stats)).toEqual(['state:blocks.0.attn.key_grad', 'state:blocks.1.attn.key_grad']);
    }
    expect(stateSpecs(m).filter((s) => s.name.endsWith('key_grad')).map((s) => [s.name, s.shape])).toEqual([['blocks.0.attn.alloc.key_grad', [3]], ['blocks.1.attn.alloc.key_grad', [3]]]);
  });
});

const ENGINES = [
  { name: 'tfjs', skip: null as string | null, create: async () => new TfjsEngine(tf, 'cpu', { model: m, run: run!, seed: run!.seed, microBatch: run!.microBatch }) },
  { name: 'native', skip: nativeSkip, create: () => NativeEngine.create({ model: m, run: run!, seed: run!.seed, microBatch: run!.microBatch }) },
];

for (const e of ENGINES) {
  describe.skipIf(e.skip !== null)(`${e.name}: a step allocates from the previous step's key projection gradient`, () => {
    it('step 0 shares equally, its state is the reference of its gradient, step 1 and evaluation allocate from it, checkpoints carry it', async () => {
      const batch = (s: number) => randomBatch(run!.batch, perImage, m.classes, 200 + s);
      // The gradient of step 0, from an engine at the same seed (the same weights and batch give the
      // same gradient; the engine under test zeroes its gradients in the update).
      const twin = await e.create();
      const want = referenceRows(await gradientsOf(twin, batch(0)));
      twin.dispose();
      const engine = await e.create();
      let open = true;
      onTestFinished(() => void (open && engine.dispose()));
      // Step 0: no backward yet, zeros: equal claims.
      const first = await engine.step(batch(0), { step: 0, epochStep: 0, lr: run!.optimizer.lr });
      expect(first.counts).toEqual([equalShareCounts(6, 3), equalShareCounts(6, 3)]);
      const state0 = (await engine.checkpoint({ optimizer: false })).state;
      for (const l of [0, 1]) {
        const got = state0[`blocks.${l}.attn.alloc.key_grad`]!.data as Float32Array;
        want[l]!.forEach((w, g) => expect(Math.abs(got[g]! - w) / w, `layer ${l} group ${g}`).toBeLessThan(1e-4));
      }
      expect(new Set(want[0]!.map((x) => x.toPrecision(3))).size, 'the groups differ').toBe(3);
      // Step 1: layer 0 (untracked, minmax, min 0) allocates from step 0's row.
      const second = await engine.step(batch(1), { step: 1, epochStep: 1, lr: run!.optimizer.lr });
      const row0 = Array.from(state0['blocks.0.attn.alloc.key_grad']!.data as Float32Array);
      expect(second.counts[0]).toEqual(countsOf(0, row0));
      expect(second.counts[0]).not.toEqual(equalShareCounts(6, 3));
      // Evaluation of layer 1 (tracked, eval recompute, rule attnc): the tracker's score from the cache and the stored row.
      const saved = await engine.checkpoint({ optimizer: false });
      const ev = await engine.evaluate(batch(2), { step: 2, logits: true });
      const cache = saved.state['blocks.1.attn.alloc.cache']!.data as Float32Array;
      const row1 = saved.state['blocks.1.attn.alloc.key_grad']!.data as Float32Array;
      const score = Array.from(cache, (c, g) => Math.fround(Math.fround(c * Math.fround(0.5)) + Math.fround(row1[g]! * Math.fround(0.5))));
      expect((ev.counts![1] as number[]).slice(0, 3)).toEqual(countsOf(1, score));
      engine.dispose();
      open = false;
      // A checkpoint round trip keeps the row; one without it is refused by name.
      const other = await e.create();
      onTestFinished(() => other.dispose());
      await other.load({ params: saved.params, state: saved.state });
      expect(Array.from((await other.checkpoint({ optimizer: false })).state['blocks.1.attn.alloc.key_grad']!.data as Float32Array)).toEqual(Array.from(row1));
      const { ['blocks.0.attn.alloc.key_grad']: _gone, ...without } = saved.state;
      await expect(other.load({ params: saved.params, state: without })).rejects.toThrow(/key_grad/);
    });
  });
}

/** A step's accumulated gradients in checkpoint layout, without updating (native: before the optimizer phase; tfjs: batchGradients). */
async function gradientsOf(engine: TfjsEngine | NativeEngine, b: ReturnType<typeof randomBatch>): Promise<Record<string, ArrayLike<number>>> {
  if (engine instanceof NativeEngine) {
    engine.accumulate(b, { step: 0, epochStep: 0, lr: run!.optimizer.lr });
    return engine.gradients();
  }
  const { batchGradients } = await import('../runtime/tfjs/step.js');
  const { toCheckpointData } = await import('../runtime/tfjs/params.js');
  const g = batchGradients(engine.vit, b, { run: run!, microBatch: run!.microBatch, step: 0, epochStep: 0, seed: run!.seed });
  const out = Object.fromEntries(engine.vit.params.list.map((p, i) => [p.name, toCheckpointData(p, g.grads[i]!.dataSync() as Float32Array)]));
  tf.dispose([...g.grads, g.loss, g.correct]);
  return out;
}
