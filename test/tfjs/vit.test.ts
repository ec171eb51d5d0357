// The tfjs ViT against the float64 reference (test/helpers/reference-vit.ts): logits, gradients by
// finite differences, parameter names and layouts, initialisation, determinism, checkpoints.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { ModelIR } from '../../compiler/ir/types.js';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import type { Tensor as CkptTensor } from '../../runtime/checkpoint/safetensors.js';
import { uniformFloats } from '../../core/random.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { crossEntropy } from '../../runtime/tfjs/ops.js';
import { loadCheckpointTensors, toCheckpointData, toCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { vitModel } from '../helpers/model-ir.js';
import { finiteDifference, referenceLogits, type RefTensors } from '../helpers/reference-vit.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
});

const live: VitModel[] = [];
afterEach(() => {
  while (live.length) live.pop()!.dispose();
});
function build(m: ModelIR, seed = 1, scope?: string): VitModel {
  const v = new VitModel(tf, m, { seed, scope });
  live.push(v);
  return v;
}

/** 16x16x3 images, patch 4 (16 patches), dim 32, depth 2, 5 classes. */
const tiny = (o: Partial<Parameters<typeof vitModel>[0]> = {}) =>
  vitModel({ name: 'tiny', image: 16, patch: 4, dim: 32, depth: 2, heads: 4, classes: 5, mlpRatio: 2, ...o });

/** Random tensors in checkpoint layout, large enough that every part of the model matters. */
function randomTensors(m: ModelIR, seed: number): Record<string, CkptTensor> {
  const out: Record<string, CkptTensor> = {};
  parameterSpecs(m).forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const u = uniformFloats(seed, 1000 + i, n).map((v) => 2 * v - 1);
    const fanIn = spec.shape.length > 1 ? n / spec.shape[0] : 1;
    const isNormWeight = /norm\d?\.weight$/.test(spec.name);
    const data = isNormWeight ? u.map((v) => 1 + 0.3 * v) : spec.shape.length > 1 ? u.map((v) => (1.5 * v) / Math.sqrt(fanIn)) : u.map((v) => 0.2 * v);
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  });
  return out;
}

function images(m: ModelIR, batch: number, stream = 1): Float32Array {
  return uniformFloats(3, stream, batch * m.image.height * m.image.width * m.image.channels).map((v) => 2 * v - 1);
}

function asTensor4D(m: ModelIR, data: Float32Array, batch: number): Tensor4D {
  return tf.tensor4d(data, [batch, m.image.height, m.image.width, m.image.channels]);
}

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

const evalCtx = { training: false, step: 0, seed: 0 };

describe('parameters', () => {
  it("are parameterSpecs' names and shapes, with linear weights held [in, out]", () => {
    for (const m of [tiny(), tiny({ pool: 'mean', kvHeads: 2, qkvBias: false })]) {
      const v = build(m);
      const specs = parameterSpecs(m);
      expect(v.params.list.map((p) => p.name)).toEqual(specs.map((s) => s.name));
      expect(v.variables.map((x) => x.name)).toEqual(specs.map((s) => s.name));
      expect(v.params.list.map((p) => p.checkpointShape)).toEqual(specs.map((s) => s.shape));
      const shape = (n: string) => v.params.byName.get(n)!.variable.shape;
      expect(shape('blocks.0.attn.qkv.weight')).toEqual([32, (4 + 2 * (m.layers[0].attention.kvHeads)) * 8]);
      expect(shape('patch_embed.proj.weight')).toEqual([3 * 4 * 4, 32]);
      expect(shape('head.weight')).toEqual([32, 5]);
      expect(shape('pos_embed')).toEqual([1, m.tokens, 32]);
      expect(v.params.list.filter((p) => p.weightDecay).map((p) => p.name)).toEqual(
        specs.filter((s) => s.shape.length >= 2 && s.name !== 'pos_embed' && s.name !== 'cls_token').map((s) => s.name),
      );
      v.dispose();
      live.pop();
    }
  });

  it('refuses a second live model in the same scope, and allows another scope', () => {
    build(tiny());
    expect(() => build(tiny())).toThrow(/already exist/);
    expect(build(tiny(), 1, 'ema/').variables[0].name).toBe('ema/patch_embed.proj.weight');
  });

  it("start as timm's do, identically for a seed", () => {
    const a = toCheckpointTensors(build(tiny(), 42).params);
    live.pop()!.dispose();
    const b = toCheckpointTensors(build(tiny(), 42).params);
    const c = toCheckpointTensors(build(tiny(), 43, 'c/').params);
    for (const name of Object.keys(a)) expect(Array.from(b[name].data)).toEqual(Array.from(a[name].data));
    expect(Array.from(c['blocks.0.attn.qkv.weight'].data)).not.toEqual(Array.from(a['blocks.0.attn.qkv.weight'].data));

    const stats = (d: Float32Array) => {
      const mean = d.reduce((s, x) => s + x, 0) / d.length;
      return { mean, std: Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / d.length), max: Math.max(...d.map(Math.abs)) };
    };
    const fc1 = stats(a['blocks.1.mlp.fc1.weight'].data);
    // N(0, 0.02) cut at +/-2 std: std 0.02 * 0.8796, nothing beyond 0.04.
    expect(fc1.std).toBeGreaterThan(0.0165);
    expect(fc1.std).toBeLessThan(0.0187);
    expect(fc1.max).toBeLessThanOrEqual(0.04);
    expect(Math.abs(fc1.mean)).toBeLessThan(0.002);
    expect(stats(a['pos_embed'].data).max).toBeLessThanOrEqual(0.04);
    expect(stats(a['cls_token'].data).max).toBeLessThan(1e-5);
    expect(stats(a['cls_token'].data).max).toBeGreaterThan(0);
    const conv = stats(a['patch_embed.proj.weight'].data);
    expect(conv.max).toBeLessThanOrEqual(1 / Math.sqrt(48));
    expect(conv.std).toBeCloseTo(1 / Math.sqrt(48) / Math.sqrt(3), 2);
    expect(Array.from(new Set(a['blocks.0.norm1.weight'].data))).toEqual([1]);
    expect(Array.from(new Set(a['blocks.0.attn.qkv.bias'].data))).toEqual([0]);
    expect(Array.from(new Set(a['head.bias'].data))).toEqual([0]);
  });

  it('round-trip through checkpoint tensors and refuse tensors that do not fit', () => {
    const m = tiny({ kvHeads: 2 });
    const src = build(m, 5);
    const dst = build(m, 6, 'dst/');
    const x = asTensor4D(m, images(m, 2), 2);
    const tensors = toCheckpointTensors(src.params);
    loadCheckpointTensors(tf, dst.params, tensors);
    const back = toCheckpointTensors(dst.params);
    for (const name of Object.keys(tensors)) expect(Array.from(back[name].data)).toEqual(Array.from(tensors[name].data));
    expect(Array.from(dst.forward(x, evalCtx).dataSync())).toEqual(Array.from(src.forward(x, evalCtx).dataSync()));

    const wrong: Record<string, CkptTensor> = { ...tensors, 'blocks.1.attn.qkv.weight': { dtype: 'F32', shape: [96, 32], data: new Float32Array(96 * 32) } };
    delete wrong['head.bias'];
    expect(() => loadCheckpointTensors(tf, dst.params, wrong)).toThrow(/blocks\.1\.attn\.qkv\.weight has shape \[96,32\], the model needs \[64,32\]; missing head\.bias/);
    expect(() => loadCheckpointTensors(tf, dst.params, { ...tensors, extra: tensors['head.bias'] })).toThrow(/unexpected extra/);
  });
});

describe('forward', () => {
  const cases: [string, ModelIR][] = [
    ['MHA, class token', tiny()],
    ['uniform GQA (4 heads, 2 K/V), mean pooling, no qkv bias', tiny({ kvHeads: 2, pool: 'mean', qkvBias: false })],
    ['MQA, class token, 8x8 images, patch 2', tiny({ image: 8, patch: 2, kvHeads: 1 })],
  ];
  for (const [label, m] of cases) {
    it(`matches the float64 reference: ${label}`, () => {
      const v = build(m);
      const t = randomTensors(m, 9);
      loadCheckpointTensors(tf, v.params, t);
      const x = images(m, 3);
      const got = v.forward(asTensor4D(m, x, 3), evalCtx).dataSync();
      const want = referenceLogits(m, t as RefTensors, x, 3);
      expect(got.length).toBe(3 * m.classes);
      expect(relError(got, want)).toBeLessThan(1e-4);
      // The logits depend on the input: not a constant the test could match by accident.
      expect(relError(want.subarray(0, 5), want.subarray(5, 10))).toBeGreaterThan(0.01);
    });
  }

  const gradCases: [string, ModelIR][] = [
    ['GQA, class token', tiny({ kvHeads: 2 })],
    ['GQA, mean pooling, no qkv bias', tiny({ kvHeads: 2, pool: 'mean', qkvBias: false })],
  ];
  for (const [label, m] of gradCases) {
    it(`gives loss gradients that match finite differences of the reference: ${label}`, () => {
      const v = build(m);
      const t = randomTensors(m, 4);
      loadCheckpointTensors(tf, v.params, t);
      const x = images(m, 2, 7);
      const labels = new Int32Array([1, 3]);
      const smoothing = 0.1;
      const xt = asTensor4D(m, x, 2);
      const { grads } = tf.variableGrads(() => crossEntropy(tf, v.forward(xt, evalCtx), labels, smoothing));
      const D = m.dim;
      const checks: [string, number][] = [
        ['patch_embed.proj.weight', 17],
        ['cls_token', 3],
        ['pos_embed', 5 * D + 2],
        ['blocks.0.norm1.weight', 6],
        ['blocks.0.attn.qkv.weight', 1 * D + 4], // a query row
        ['blocks.0.attn.qkv.weight', (32 + 9) * D + 1], // a key row (K/V head 1)
        ['blocks.1.attn.qkv.weight', (32 + 16 + 3) * D + 7], // a value row
        ['blocks.1.attn.qkv.bias', 32 + 16 + 5],
        ['blocks.1.attn.proj.weight', 2 * 32 + 30],
        ['blocks.1.mlp.fc1.weight', 11 * D + 8],
        ['blocks.1.mlp.fc2.bias', 4],
        ['norm.bias', 9],
        ['head.weight', 1 * D + 3],
      ];
      let checked = 0;
      for (const [name, index] of checks) {
        const p = v.params.byName.get(name);
        if (!p) continue; // cls_token and qkv.bias exist in one of the two models only
        const g = toCheckpointData(p, grads[name].dataSync() as Float32Array)[index];
        const fd = finiteDifference(m, t as RefTensors, x, labels, smoothing, name, index);
        expect(Math.abs(fd), `${name}[${index}] has a gradient worth checking`).toBeGreaterThan(1e-4);
        expect(Math.abs(g - fd), `${name}[${index}]: tfjs ${g}, finite differences ${fd}`).toBeLessThan(2e-3 * Math.abs(fd) + 2e-5);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(11);
    });
  }
});

describe('training mode', () => {
  const m = tiny({ dropout: 0.2, attnDropout: 0, dropPath: 0.3 });
  const x = () => asTensor4D(m, images(m, 4), 4);

  it('equals eval when every rate is zero', () => {
    const plain = tiny();
    const v = build(plain, 2);
    const xt = asTensor4D(plain, images(plain, 2), 2);
    const a = v.forward(xt, { training: true, step: 3, seed: 1 }).dataSync();
    expect(Array.from(a)).toEqual(Array.from(v.forward(xt, evalCtx).dataSync()));
  });

  it('replays a step exactly and draws new masks per step, seed and micro-batch', () => {
    const v = build(m, 2);
    const xt = x();
    const run = (ctx: { step: number; seed: number; microBatch?: number }) => Array.from(v.forward(xt, { training: true, ...ctx }).dataSync());
    const base = run({ step: 10, seed: 1 });
    expect(run({ step: 10, seed: 1 })).toEqual(base);
    expect(run({ step: 10, seed: 1, microBatch: 0 })).toEqual(base);
    expect(run({ step: 11, seed: 1 })).not.toEqual(base);
    expect(run({ step: 10, seed: 2 })).not.toEqual(base);
    expect(run({ step: 10, seed: 1, microBatch: 1 })).not.toEqual(base);
    expect(base).not.toEqual(Array.from(v.forward(xt, evalCtx).dataSync()));
  });

  it('draws stochastic depth per sample', () => {
    const dp = tiny({ dropPath: 0.5 });
    const v = build(dp, 2);
    const one = images(dp, 1);
    const batch = 8;
    const same = new Float32Array(one.length * batch);
    for (let i = 0; i < batch; i++) same.set(one, i * one.length);
    const x8 = asTensor4D(dp, same, batch);
    const rows = (ctx: typeof evalCtx) => (v.forward(x8, ctx).arraySync() as number[][]).map((r) => r.join());
    expect(new Set(rows(evalCtx)).size).toBe(1);
    // Layer 1 drops each branch with p = 0.5 per sample: 4 possible outcomes, 8 draws.
    const train = new Set(rows({ training: true, step: 1, seed: 1 }));
    expect(train.size).toBeGreaterThan(1);
    expect(train.size).toBeLessThanOrEqual(4);
  });

  it('is the same model twice from the same seed, logits and all', () => {
    const a = build(m, 8);
    const la = Array.from(a.forward(x(), { training: true, step: 4, seed: 8 }).dataSync());
    live.pop()!.dispose();
    const b = build(m, 8);
    expect(Array.from(b.forward(x(), { training: true, step: 4, seed: 8 }).dataSync())).toEqual(la);
  });

  it('leaks no tensors in a forward/backward step', () => {
    const v = build(m, 2);
    const xt = x();
    const labels = new Int32Array([0, 1, 2, 3]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(tf, v.forward(xt, { training: true, step: 1, seed: 1 }), labels, 0));
      value.dispose();
      tf.dispose(grads);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('attention state', () => {
  /** DGQA on both layers: 4 query heads over 2 K/V groups, allocation frozen at eval. */
  function dgqa(): ModelIR {
    const m = tiny({ kvHeads: 2 });
    for (const l of m.layers) {
      l.attention = {
        ...l.attention,
        variant: 'dgqa',
        allocation: {
          policy: 'scored', score: { kind: 'key_norm', norm: 'l2' }, scale: 'minmax', rounding: 'largest_remainder', min: 1, scope: 'batch',
          eval: 'frozen', track: { kind: 'ema', decay: 0.9, rule: 'attnc' }, window: 2, init: 'first_batch',
        },
      };
    }
    return m;
  }

  it('round-trips through checkpoint tensors named as stateSpecs says', () => {
    const m = dgqa();
    const src = build(m, 3);
    loadCheckpointTensors(tf, src.params, randomTensors(m, 5));
    const x = asTensor4D(m, images(m, 4), 4);
    for (let step = 0; step < 3; step++) src.forward(x, { training: true, step, seed: 1 });
    const state = src.stateTensors();
    expect(Object.keys(state)).toEqual(stateSpecs(m).map((s) => s.name));
    expect(stateSpecs(m).map((s) => state[s.name].dtype)).toEqual(stateSpecs(m).map((s) => s.dtype));
    const counts = Array.from(state['blocks.0.attn.alloc.counts'].data as Int32Array);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(Array.from(state['blocks.1.attn.alloc.cache'].data).some((v) => v !== 0)).toBe(true);

    const dst = build(m, 4, 'dst/');
    loadCheckpointTensors(tf, dst.params, toCheckpointTensors(src.params));
    dst.loadStateTensors(state);
    expect(dst.stateTensors()).toEqual(state);
    expect(Array.from(dst.forward(x, evalCtx).dataSync())).toEqual(Array.from(src.forward(x, evalCtx).dataSync()));
    expect(() => dst.loadStateTensors({})).toThrow(/no blocks\.0\.attn\.alloc\.counts/);
  });

  it('gives uniform models no state', () => {
    const v = build(tiny());
    expect(v.state).toEqual([null, null]);
    expect(v.stateTensors()).toEqual({});
  });

  it('passes the micro-batch to the attention core', () => {
    const m = tiny({ attnDropout: 0.3 });
    const v = build(m, 2);
    const xt = asTensor4D(m, images(m, 2), 2);
    const run = (microBatch: number) => Array.from(v.forward(xt, { training: true, step: 1, seed: 1, microBatch }).dataSync());
    expect(run(0)).toEqual(run(0));
    expect(run(1)).not.toEqual(run(0));
  });
});

describe('input checks', () => {
  it('refuses images of the wrong size', () => {
    const v = build(tiny());
    expect(() => v.forward(tf.zeros([1, 8, 8, 3]) as Tensor4D, evalCtx)).toThrow(/takes 16x16x3 images, got 8x8x3/);
  });
});

// A type-level reminder that forward returns 2-D logits.
export type _Logits = ReturnType<VitModel['forward']> extends Tensor2D ? true : never;
