// The grouped attention kernels (templates/attention.ts) against float64 loops, kernel by kernel on
// the same inputs: scores, P @ V with the attention-dropout mask, and the four backward products, for
// uniform grouping, a head -> group table with a group that has no head, and one table per image.
// The backward references are checked first against central differences of the whole attention.
import { describe, it } from 'vitest';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { attentionAvKernel, attentionDkvKernel, attentionDpKernel, attentionDqKernel, attentionScoresKernel, type AttentionOptions } from '../../compiler/targets/webgpu/templates/attention.js';
import { dropoutThreshold } from '../../compiler/targets/webgpu/templates/elementwise.js';
import { Purpose, streamId, uniformFloats } from '../../core/random.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, f64, gpuForTests, numericGradient, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

interface Shape { B: number; T: number; H: number; G: number; hd: number }
/** group[b][h]: the K/V group of query head h of image b. */
type Groups = number[][];

const stream = { seed: 77, step: 2, micro: 1, layer: 4 };
const RATE = 0.3;

function mask(s: Shape, dropout: boolean): Float64Array {
  const n = s.B * s.H * s.T * s.T;
  if (!dropout) return new Float64Array(n).fill(1);
  const u = uniformFloats(stream.seed, streamId(Purpose.attentionDropout, stream.layer, stream.step, stream.micro), n);
  return Float64Array.from(u, (v) => (v >= RATE ? Math.fround(1 / (1 - RATE)) : 0));
}

/** Float64 attention of docs/attention.md: returns S, P and O ([B*T, H*hd]) of qkv [B*T, (H+2G)*hd]. */
function forward(qkv: Float64Array, s: Shape, groups: Groups, m: Float64Array) {
  const { B, T, H, G, hd } = s;
  const W = (H + 2 * G) * hd;
  const q = (b: number, t: number, h: number, d: number) => qkv[(b * T + t) * W + h * hd + d]! / Math.sqrt(hd);
  const k = (b: number, t: number, g: number, d: number) => qkv[(b * T + t) * W + (H + g) * hd + d]!;
  const v = (b: number, t: number, g: number, d: number) => qkv[(b * T + t) * W + (H + G + g) * hd + d]!;
  const S = new Float64Array(B * H * T * T);
  const P = new Float64Array(S.length);
  const O = new Float64Array(B * T * H * hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const g = groups[b]![h]!;
    for (let i = 0; i < T; i++) {
      const row = ((b * H + h) * T + i) * T;
      for (let j = 0; j < T; j++) { let acc = 0; for (let d = 0; d < hd; d++) acc += q(b, i, h, d) * k(b, j, g, d); S[row + j] = acc; }
      const top = Math.max(...S.subarray(row, row + T));
      let sum = 0;
      for (let j = 0; j < T; j++) sum += Math.exp(S[row + j]! - top);
      for (let j = 0; j < T; j++) P[row + j] = Math.exp(S[row + j]! - top) / sum;
      for (let d = 0; d < hd; d++) { let acc = 0; for (let j = 0; j < T; j++) acc += P[row + j]! * m[row + j]! * v(b, j, g, d); O[(b * T + i) * H * hd + h * hd + d] = acc; }
    }
  }
  return { S, P, O };
}

/** Float64 backward: dP (masked), dS, and dqkv from dO. */
function backward(qkv: Float64Array, dO: Float64Array, s: Shape, groups: Groups, m: Float64Array) {
  const { B, T, H, G, hd } = s;
  const W = (H + 2 * G) * hd;
  const scale = 1 / Math.sqrt(hd);
  const { P } = forward(qkv, s, groups, m);
  const dP = new Float64Array(P.length);
  const dS = new Float64Array(P.length);
  const dqkv = new Float64Array(qkv.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const g = groups[b]![h]!;
    for (let i = 0; i < T; i++) {
      const row = ((b * H + h) * T + i) * T;
      for (let j = 0; j < T; j++) {
        let acc = 0;
        for (let d = 0; d < hd; d++) acc += dO[(b * T + i) * H * hd + h * hd + d]! * qkv[(b * T + j) * W + (H + G + g) * hd + d]!;
        dP[row + j] = acc * m[row + j]!;
      }
      let dot = 0;
      for (let j = 0; j < T; j++) dot += dP[row + j]! * P[row + j]!;
      for (let j = 0; j < T; j++) dS[row + j] = P[row + j]! * (dP[row + j]! - dot);
      for (let j = 0; j < T; j++) for (let d = 0; d < hd; d++) {
        dqkv[(b * T + i) * W + h * hd + d] += dS[row + j]! * qkv[(b * T + j) * W + (H + g) * hd + d]! * scale;
        dqkv[(b * T + j) * W + (H + g) * hd + d] += dS[row + j]! * qkv[(b * T + i) * W + h * hd + d]! * scale;
        dqkv[(b * T + j) * W + (H + G + g) * hd + d] += P[row + j]! * m[row + j]! * dO[(b * T + i) * H * hd + h * hd + d]!;
      }
    }
  }
  return { dP, dS, dqkv };
}

describe('the float64 attention backward', () => {
  it('matches central differences (a group without heads included)', () => {
    const s = { B: 2, T: 3, H: 3, G: 2, hd: 2 };
    const groups = [[0, 0, 0], [1, 1, 0]];
    const r = rng(1);
    const qkv = f64(randomArray(s.B * s.T * (s.H + 2 * s.G) * s.hd, r));
    const dO = f64(randomArray(s.B * s.T * s.H * s.hd, r));
    const m = mask(s, true);
    expectClose(backward(qkv, dO, s, groups, m).dqkv, numericGradient((x) => forward(x, s, groups, m).O, qkv, dO), 1e-8, 1e-6);
  });
});

describe.skipIf(!gpu)(`attention kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped
  const s: Shape = { B: 2, T: 37, H: 6, G: 3, hd: 5 };
  const cases: { grouping: AttentionOptions['grouping']; groups: Groups; dropout: boolean }[] = [
    { grouping: 'uniform', groups: [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2]], dropout: true },
    // Group 1 has no head: its K and V get zero gradients.
    { grouping: 'table', groups: [[0, 0, 0, 2, 2, 2], [0, 0, 0, 2, 2, 2]], dropout: false },
    { grouping: 'table-per-sample', groups: [[0, 1, 1, 1, 2, 2], [0, 0, 0, 0, 1, 2]], dropout: true },
  ];
  for (const { grouping, groups, dropout } of cases) {
    it(`grouping ${grouping}, dropout ${dropout}: every kernel against float64`, async () => {
      const o: AttentionOptions = { batch: s.B, tokens: s.T, heads: s.H, groups: s.G, headDim: s.hd, grouping, dropout };
      const W = (s.H + 2 * s.G) * s.hd;
      const r = rng(s.T + groups.flat().reduce((a, b) => a + b));
      const qkv = randomArray(s.B * s.T * W, r, -1.5, 1.5);
      const dO = randomArray(s.B * s.T * s.H * s.hd, r);
      const m = mask(s, dropout);
      const ref = forward(f64(qkv), s, groups, m);
      const grads = backward(f64(qkv), f64(dO), s, groups, m);
      const table = grouping === 'uniform' ? {} : { table: Uint32Array.from(grouping === 'table' ? groups[0]! : groups.flat()) };
      const { threshold, keep } = dropoutThreshold(RATE);
      const u = dropout ? { ...stream, threshold, keep } : {};
      const nP = s.B * s.H * s.T * s.T;

      const S = (await runKernel(device, attentionScoresKernel({ ...o, dropout: false }, L), { qkv, ...table, s: nP })).out.s!;
      expectClose(S, ref.S, 1e-5, 1e-5, 'scores');
      const P = Float32Array.from(ref.P);
      const O = (await runKernel(device, attentionAvKernel(o, L), { p: P, qkv, ...table, out: dO.length }, u)).out.out!;
      expectClose(O, ref.O, 1e-5, 1e-5, 'P @ V');
      const dP = (await runKernel(device, attentionDpKernel(o, L), { dout: dO, qkv, ...table, dp: nP }, u)).out.dp!;
      expectClose(dP, grads.dP, 1e-5, 1e-5, 'dP');
      const dS = Float32Array.from(grads.dS);
      const qCols = (a: ArrayLike<number>, part: 'q' | 'k' | 'v') => {
        const [from, to] = part === 'q' ? [0, s.H * s.hd] : part === 'k' ? [s.H * s.hd, (s.H + s.G) * s.hd] : [(s.H + s.G) * s.hd, W];
        return Array.from(a).filter((_, i) => i % W >= from && i % W < to);
      };
      const dq = (await runKernel(device, attentionDqKernel({ ...o, dropout: false }, L), { ds: dS, qkv, ...table, dqkv: qkv.length })).out.dqkv!;
      expectClose(qCols(dq, 'q'), qCols(grads.dqkv, 'q'), 1e-5, 1e-5, 'dQ');
      const dk = (await runKernel(device, attentionDkvKernel({ ...o, dropout: false, which: 'k' }, L), { ds: dS, qkv, ...table, dqkv: qkv.length })).out.dqkv!;
      expectClose(qCols(dk, 'k'), qCols(grads.dqkv, 'k'), 1e-5, 1e-5, 'dK');
      const dv = (await runKernel(device, attentionDkvKernel({ ...o, which: 'v' }, L), { p: P, dout: dO, qkv, ...table, dqkv: qkv.length }, u)).out.dqkv!;
      expectClose(qCols(dv, 'v'), qCols(grads.dqkv, 'v'), 1e-5, 1e-5, 'dV');
    });
  }
});
