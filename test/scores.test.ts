// The score registry (compiler/ir/scores.ts): every statistic of every backend against its float64
// reference (TensorFlow.js, the native addon, the WebGPU kernels; the emitted PyTorch and tfjs module
// are held to the TensorFlow.js backend by test/parity/variants.test.ts and test/targets-tfjs-e2e.test.ts),
// the `random` statistic bit for bit, the IR schema in step with the registry, and IR version 1 read
// back as version 2.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { Tensor4D } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { keySelfAttentionEntropy, randomScore, SCORES, SCORE_KINDS, type ScoreDraw, type ScoreIR } from '../compiler/ir/scores.js';
import { IR_SCHEMA, loadIrDocument } from '../compiler/ir/validate.js';
import { migrateModel } from '../compiler/ir/migrate.js';
import { DEFAULT_LIMITS as L } from '../compiler/targets/webgpu/kernel.js';
import { keyEntropyKernel, keyNormKernel, keyRandomKernel, keyVarianceKernel } from '../compiler/targets/webgpu/templates/allocation.js';
import { Purpose, randomBits, seed32, streamId } from '../core/random.js';
import { allocateFromScores } from '../compiler/alloc.js';
import { keyStatistic } from '../runtime/tfjs/attention.js';
import { loadNativeAddon, nativeUnavailableReason } from '../runtime/native/addon.js';
import { runKernel } from '../runtime/webgpu/run-kernel.js';
import { gpuForTests, rng } from './helpers/webgpu.js';

const { gpu, skipReason: gpuSkip } = await gpuForTests();
const nativeSkip = nativeUnavailableReason();

const S = { B: 3, T: 5, H: 4, G: 3, hd: 4 };
const W = (S.H + 2 * S.G) * S.hd;
const SCORES_UNDER_TEST: ScoreIR[] = [{ kind: 'key_norm', norm: 'l2' }, { kind: 'key_norm', norm: 'l1' }, { kind: 'key_variance' }, { kind: 'random' }, { kind: 'attention_entropy' }];
const DRAWS: ScoreDraw[] = [
  { seed: 7, layer: 2, training: true, step: 5, microBatch: 1 },
  { seed: 2 ** 40 + 3, layer: 0, training: false, step: 9, microBatch: 0 },
];

/** qkv rows [B * T, W], the keys of group g offset by g and scaled by g + 1 (distinct statistics). */
function makeQkv(seed: number): Float32Array {
  const r = rng(seed);
  const x = Float32Array.from({ length: S.B * S.T * W }, () => 2 * r() - 1);
  for (let row = 0; row < S.B * S.T; row++) for (let g = 0; g < S.G; g++) for (let d = 0; d < S.hd; d++) {
    const i = row * W + (S.H + g) * S.hd + d;
    x[i] = Math.fround(x[i]! * (g + 1) + g);
  }
  return x;
}

/** keys[b][g]: image b's T * hd key values of group g, token-major (the reference's input). */
const keysOf = (qkv: Float32Array) =>
  Array.from({ length: S.B }, (_, b) => Array.from({ length: S.G }, (_, g) =>
    Array.from({ length: S.T * S.hd }, (_, e) => qkv[(b * S.T + Math.floor(e / S.hd)) * W + (S.H + g) * S.hd + (e % S.hd)]!)));

/** key_grad's input: qkv rows [B * T, W] read as the gradient of a qkv weight [dim = B * T, W] (graph layout); grads[0][g] = group g's key columns. */
const gradOf = (qkv: Float32Array) =>
  [Array.from({ length: S.G }, (_, g) => Array.from({ length: S.B * S.T * S.hd }, (_, e) => qkv[Math.floor(e / S.hd) * W + (S.H + g) * S.hd + (e % S.hd)]!))];

function expectNear(got: ArrayLike<number>, want: number[][], what: string, exact: boolean): number {
  const flat = want.flat();
  let worst = 0;
  flat.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w) / Math.max(1, Math.abs(w)))));
  if (exact) expect(Array.from(got), what).toEqual(flat);
  else expect(worst, what).toBeLessThan(1e-5);
  return worst;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('the score registry', () => {
  it('is what the IR schema and the language accept', () => {
    const defs = (IR_SCHEMA as unknown as { $defs: Record<string, { oneOf: { properties: { kind: { const: string } } }[] }> }).$defs;
    expect(defs.score!.oneOf.map((s) => s.properties.kind.const)).toEqual(SCORE_KINDS);
    for (const kind of SCORE_KINDS) {
      const props = Object.keys((defs.score!.oneOf.find((s) => s.properties.kind.const === kind)! as unknown as { properties: object }).properties);
      expect(props, kind).toEqual(['kind', ...Object.keys(SCORES[kind].params)]);
    }
  });

  it('draws `random` from the counter generator, keyed as docs/allocation.md says', () => {
    const train = DRAWS[0]!;
    const values = [0, 1, 2].map((g) => randomScore(train, 1, g, 3));
    for (const v of values) expect(Number.isInteger(v) && v >= 0 && v < 4096).toBe(true);
    // Image 1 of micro-batch 1 is image 0 of the same micro-batch one image later.
    expect(randomScore({ ...train, firstImage: 1 }, 0, 2, 3)).toBe(values[2]);
    expect(randomScore({ ...train, microBatch: 0 }, 1, 2, 3)).not.toBe(values[2]);
    // Evaluation: one key per layer, whatever the step and micro-batch; the counter is the image's
    // position in its batch, b * G + g (plus firstImage), as in training.
    const ev = DRAWS[1]!;
    expect(randomScore(ev, 5, 1, 3)).toBe(randomScore({ ...ev, step: 0, microBatch: 3 }, 5, 1, 3));
    expect(randomScore({ ...ev, seed: seed32(ev.seed) }, 0, 1, 3)).toBe(randomScore(ev, 0, 1, 3));
    expect(randomScore({ ...ev, firstImage: 1 }, 0, 2, 3)).toBe(randomScore(ev, 1, 2, 3));
    expect(randomScore(ev, 0, 1, 3)).toBe(randomBits(seed32(ev.seed), streamId(Purpose.allocationScore, ev.layer), 1) >>> 20);
    expect(randomScore(ev, 4, 1, 3)).toBe(randomBits(seed32(ev.seed), streamId(Purpose.allocationScore, ev.layer), 4 * 3 + 1) >>> 20);
  });

  it('draws `random` per image at evaluation too, so a batch of 128 allocates the even split it trained at', () => {
    // One draw shared by every image would make the batch's sum proportional to that one row, and
    // evaluation would allocate an uneven split (e.g. [3, 1, 2, 2]) that training never saw.
    const B = 128;
    const G = 4;
    const opts = { heads: 8, scale: 'none' as const, rounding: 'largest_remainder' as const, minPerGroup: 0 };
    for (const seed of [0, 1, 7, 42, 2 ** 40 + 3]) {
      for (const layer of [0, 1, 5]) {
        for (const training of [false, true]) {
          const draw: ScoreDraw = { seed, layer, training, step: 3, microBatch: 1 };
          const rows = Array.from({ length: B }, (_, b) => Array.from({ length: G }, (_, g) => randomScore(draw, b, g, G)));
          const sums = Array.from({ length: G }, (_, g) => rows.reduce((s, r) => s + r[g]!, 0));
          expect(allocateFromScores(sums, opts).counts, `seed ${seed} layer ${layer} training ${training}`).toEqual([2, 2, 2, 2]);
          // The per-image values differ between images (not one row repeated).
          expect(new Set(rows.map((r) => r.join(','))).size).toBe(B);
          expect(new Set(rows.map((r) => r[0])).size).toBeGreaterThan(B / 2);
        }
      }
    }
  });
});

describe('the attention_entropy reference', () => {
  it('is ln T for keys that cannot tell tokens apart, and near 0 for far-apart orthogonal keys', () => {
    // Equal keys: every row is uniform over the T = 3 tokens.
    expect(keySelfAttentionEntropy([1, 2, 1, 2, 1, 2], 2)).toBeCloseTo(Math.log(3), 12);
    // Orthogonal keys of length 40: a token scores 1600 / sqrt(3) against itself, 0 against the others (entropy ~ 0).
    expect(keySelfAttentionEntropy([40, 0, 0, 0, 40, 0, 0, 0, 40], 3)).toBeLessThan(1e-12);
    // Two tokens, scores [[1, 0], [0, 1]] (hd 1, keys 1 and 0 -> s = [[1, 0], [0, 0]]): by hand.
    const p = 1 / (1 + Math.exp(-1));
    expect(keySelfAttentionEntropy([1, 0], 1)).toBeCloseTo((-(p * Math.log(p) + (1 - p) * Math.log(1 - p)) + Math.log(2)) / 2, 12);
  });
});

describe('TensorFlow.js statistics against the float64 reference', () => {
  for (const score of SCORES_UNDER_TEST) {
    for (const draw of score.kind === 'random' ? DRAWS : DRAWS.slice(0, 1)) {
      it(`${JSON.stringify(score)}${score.kind === 'random' ? (draw.training ? ' (training)' : ' (evaluation)') : ''}`, () => {
        const qkv = makeQkv(1);
        const want = SCORES[score.kind].reference(score, keysOf(qkv), draw, S.hd);
        const k4 = tf.tidy(() => tf.tensor3d(qkv, [S.B, S.T, W]).slice([0, 0, S.H * S.hd], [S.B, S.T, S.G * S.hd]).reshape([S.B, S.T, S.G, S.hd])) as Tensor4D;
        const got = keyStatistic(tf, k4, score, draw);
        expectNear(got.dataSync(), want, 'tfjs', score.kind === 'random');
        tf.dispose([k4, got]);
      });
    }
  }
});

describe('key_grad (the gradient of the qkv weight as one image of dim rows) against the float64 reference', () => {
  const grad = makeQkv(4);
  const want = SCORES.key_grad.reference({ kind: 'key_grad' }, gradOf(grad), DRAWS[0]!, S.hd);
  it('is the Frobenius norm of each group\'s key columns', () => {
    let sq = 0;
    for (let r = 0; r < S.B * S.T; r++) for (let d = 0; d < S.hd; d++) sq += grad[r * W + (S.H + 1) * S.hd + d]! ** 2;
    expect(want[0]![1]).toBeCloseTo(Math.sqrt(sq), 10);
  });
  it('TensorFlow.js', () => {
    const k4 = tf.tidy(() => tf.tensor2d(grad, [S.B * S.T, W]).slice([0, S.H * S.hd], [S.B * S.T, S.G * S.hd]).reshape([1, S.B * S.T, S.G, S.hd])) as Tensor4D;
    const got = keyStatistic(tf, k4, { kind: 'key_grad' }, DRAWS[0]!);
    expectNear(got.dataSync(), want, 'tfjs key_grad', false);
    tf.dispose([k4, got]);
  });
  it.skipIf(nativeSkip !== null)('native', () => {
    const stats = new Float32Array(S.G);
    loadNativeAddon().keyStat(grad, stats, 1, S.B * S.T, S.H, S.G, S.hd, 0);
    expectNear(stats, want, 'native key_grad', false);
  });
  it.skipIf(!gpu)('WebGPU', async () => {
    const inst = keyNormKernel({ batch: 1, tokens: S.B * S.T, heads: S.H, groups: S.G, headDim: S.hd, norm: 'l2' }, L);
    const { out } = await runKernel(gpu!.device, inst, { qkv: grad, norms: S.G });
    expectNear(out.norms as Float32Array, want, 'webgpu key_grad', false);
  });
});

describe.skipIf(nativeSkip !== null)(`native keyStat against the float64 reference ${nativeSkip ?? ''}`, () => {
  const kinds: [ScoreIR, number][] = [[{ kind: 'key_norm', norm: 'l2' }, 0], [{ kind: 'key_norm', norm: 'l1' }, 1], [{ kind: 'key_variance' }, 2], [{ kind: 'attention_entropy' }, 3]];
  for (const [score, kind] of kinds) {
    it(JSON.stringify(score), () => {
      const qkv = makeQkv(2);
      const stats = new Float32Array(S.B * S.G);
      loadNativeAddon().keyStat(qkv, stats, S.B, S.T, S.H, S.G, S.hd, kind);
      expectNear(stats, SCORES[score.kind].reference(score, keysOf(qkv), DRAWS[0]!, S.hd), 'native', false);
    });
  }
});

describe.skipIf(!gpu)(`WebGPU key statistics against the float64 reference ${gpuSkip ?? ''}`, () => {
  const shape = { batch: S.B, tokens: S.T, heads: S.H, groups: S.G, headDim: S.hd };
  it('key_norm, key_variance and attention_entropy', async () => {
    const qkv = makeQkv(3);
    const keys = keysOf(qkv);
    for (const [score, inst] of [
      [{ kind: 'key_norm', norm: 'l1' }, keyNormKernel({ ...shape, norm: 'l1' }, L)],
      [{ kind: 'key_variance' }, keyVarianceKernel(shape, L)],
      [{ kind: 'attention_entropy' }, keyEntropyKernel(shape, L)],
    ] as const) {
      const { out } = await runKernel(gpu!.device, inst, { qkv, norms: S.B * S.G });
      expectNear(out.norms as Float32Array, SCORES[score.kind].reference(score as ScoreIR, keys, DRAWS[0]!, S.hd), `webgpu ${score.kind}`, false);
    }
  });
  it('random, bit for bit, in training and at evaluation', async () => {
    for (const draw of DRAWS) {
      const inst = keyRandomKernel({ batch: S.B, groups: S.G, mode: draw.training ? 'train' : 'eval' }, L);
      const uniforms = { seed: seed32(draw.seed), step: draw.step, micro: draw.microBatch, layer: draw.layer };
      const { out } = await runKernel(gpu!.device, inst, { norms: S.B * S.G }, uniforms);
      expectNear(out.norms as Float32Array, SCORES.random.reference({ kind: 'random' }, keysOf(makeQkv(3)), draw, S.hd), 'webgpu random', true);
    }
  });
});

describe('IR version 1 read back as version 2', () => {
  it('moves key_norm allocations to scored ones, field for field', () => {
    const v1 = JSON.parse(fs.readFileSync(new URL('./golden/ir-documents/valid.input.json', import.meta.url), 'utf8'));
    expect(v1.irVersion).toBe(1);
    const { ir, diagnostics } = loadIrDocument(JSON.stringify(v1), 'valid.input.json');
    expect(diagnostics).toEqual([]);
    expect(ir!.irVersion).toBe(2);
    const before = v1.models.flatMap((m: { layers: { attention: { allocation: Record<string, unknown> } }[] }) => m.layers.map((l) => l.attention.allocation));
    const after = ir!.models.flatMap((m) => m.layers.map((l) => l.attention.allocation));
    expect(before.some((a: { policy: string }) => a.policy === 'key_norm')).toBe(true);
    after.forEach((a, i) => {
      const old = before[i] as Record<string, unknown>;
      if (old.policy === 'uniform') return expect(a).toEqual(old);
      const { policy: _p, norm, minPerGroup, ...rest } = old;
      expect(a).toEqual({ policy: 'scored', score: { kind: 'key_norm', norm }, min: minPerGroup, ...rest });
      expect(Object.keys(a)).toEqual(['policy', 'score', 'scale', 'rounding', 'min', 'scope', 'eval', 'track', 'window', 'init']);
    });
    // A model already at version 2 is left as it is.
    expect(migrateModel(ir!.models[0], 2)).toBe(ir!.models[0]);
  });
});
