// The emitted package's ports of attnc's TypeScript, run by /usr/bin/python3 against the originals:
// the counter-based generator (runtime/random.ts: bit for bit), PGQA noise (runtime/tfjs/perturb.ts),
// the allocation function (compiler/alloc.ts: the same counts for every input, degenerate ones
// included), the initial weights (runtime/tfjs/params.ts) and checkpoints (runtime/checkpoint: the
// same bytes both ways, optimizer slots included).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores, type KeyNormOptions } from '../../compiler/alloc.js';
import type { IRDocument, ModelIR, PerturbIR, RunIR } from '../../compiler/ir/types.js';
import { encodeCheckpoint } from '../../runtime/checkpoint/names.js';
import { parameterSpecs } from '../../compiler/ir/params.js';
import { gaussianFloats, lowbias32, seed32, streamId, uniformFloats } from '../../core/random.js';
import { initialTensors } from '../../compiler/ir/init.js';
import { perturbNoise } from '../../runtime/tfjs/perturb.js';
import { compileSpec, freshState, hasTorch, randomTensors, runDriver, tempDir, torchGate, writePackage } from './helpers.js';

let ir: IRDocument;
let dir: string;
let results: unknown[][] = [];
let checkpointFiles: { python: string; attnc: Uint8Array }[] = [];

/** Calls of the emitted model.py, in order: [function, ...args]; their results come back in `results`. */
const calls: [string, ...unknown[]][] = [];
const call = (fn: string, ...args: unknown[]): number => calls.push(['model', fn, ...args]) - 1;

// runtime/random.ts
const bitsInputs = [0, 1, 2, 0xdeadbeef, 0xffffffff, 0x7fffffff, 0x80000000, 12345];
const bitsAt = bitsInputs.map((x) => call('lowbias32', x));
const streamInputs = [[0], [1], [1, 2], [1, 2, 0], [1, 0, 0, 0], [2, 3, 100, 0], [0x102, 4, 1, 77, 3], [0xffffffff, 0]];
const streamsAt = streamInputs.map((p) => call('stream_id', ...p));
const seedInputs = [0, 42, 2 ** 32 - 1, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];
const seedsAt = seedInputs.map((s) => call('seed32', s));
const uniformCases: [number, number, number, number][] = [[42, 7, 4, 0], [seed32(11), streamId(1, 0, 3, 0), 5000, 0], [9, 1234, 300, 2 ** 32 - 150], [7, 5, 64, 77]];
const uniformsAt = uniformCases.map((c) => call('uniform_floats', ...c));
const gaussianCases: [number, number, number, number][] = [[42, 7, 4, 0], [seed32(3), streamId(2, 1, 9, 0), 5000, 0], [8, 99, 200, 2 ** 31 - 100]];
const gaussiansAt = gaussianCases.map((c) => call('gaussian_floats', ...c));

// runtime/tfjs/perturb.ts
const noiseCases = (['gaussian', 'uniform'] as const).flatMap((distribution) =>
  [false, true].map((paper) => ({ distribution, paper, shape: [3, 4, 2, 6] as [number, number, number, number], seed: 13, layer: 1, step: 5, micro: 2, perGroup: 2 })),
);
const noiseAt = noiseCases.map((c) => call('perturb_noise', c.distribution, c.shape, c.seed, c.layer, c.step, c.micro, 0, c.paper, c.perGroup, null));
// A process's share of a micro-batch draws that part of the whole micro-batch's noise (first_image 1 of 3 images).
const noisePartAt = call('perturb_noise', 'gaussian', [2, 4, 2, 6], 13, 1, 5, 2, 1, false, 2, null);

// compiler/alloc.ts: the worked examples of docs/allocation.md and generated cases.
const SPECIAL = ['NaN', 'Infinity', '-Infinity'];
const encodeScore = (x: number): number | string => (Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : x);
function allocationCases(): { scores: number[]; opts: KeyNormOptions }[] {
  const out: { scores: number[]; opts: KeyNormOptions }[] = [
    { scores: [5, 1, 3, 2], opts: { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [4, 2, 1], opts: { heads: 14, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [4, 2, 1], opts: { heads: 14, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [0, 1, 1, 2], opts: { heads: 10, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [1, NaN, 5], opts: { heads: 7, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    { scores: [-3, 1, 1], opts: { heads: 4, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [5, 1, 3, 2], opts: { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 2 } },
    { scores: [2 ** -1074, 1e300, -0, 3], opts: { heads: 9, scale: 'none', rounding: 'paper', minPerGroup: 1 } },
  ];
  // Small integers make exact ties and halves common; float32 norm-like values, huge and tiny ones the rest.
  const u = uniformFloats(77, 1, 4000);
  let at = 0;
  const next = () => u[at++ % u.length]!;
  for (let i = 0; i < 600; i++) {
    const groups = 1 + Math.floor(next() * 6);
    const min = Math.floor(next() * 3);
    const heads = groups * Math.max(1, min) + Math.floor(next() * 10);
    const kind = i % 4;
    const scores = Array.from({ length: groups }, () => {
      const v = next();
      if (kind === 0) return Math.floor(v * 5);
      if (kind === 1) return Math.fround(v * 40);
      if (kind === 2) return v < 0.1 ? [NaN, Infinity, -Infinity][Math.floor(v * 30)]! : v < 0.3 ? 0 : (v - 0.5) * 1e30;
      return v * 2 ** (Math.floor(v * 200) - 100);
    });
    out.push({ scores, opts: { heads, scale: i % 2 ? 'minmax' : 'none', rounding: i % 3 ? 'largest_remainder' : 'paper', minPerGroup: min } });
  }
  return out;
}
const allocations = allocationCases();
const allocationsAt = allocations.map((c) => call('allocate_from_scores', c.scores.map(encodeScore), c.opts.heads, c.opts.scale, c.opts.rounding, c.opts.minPerGroup));
// The forward pass's version, on float32 tensors (the scores as float32, as a block's key norms are).
const onDeviceAt = allocations.map((c) => calls.push(['device', 'allocate', c.scores.map((x) => encodeScore(Math.fround(x))), c.opts.heads, c.opts.scale, c.opts.rounding, c.opts.minPerGroup]) - 1);

let initModel: ModelIR;
let initAt: number[] = [];

beforeAll(() => {
  if (!hasTorch) return;
  dir = tempDir('parity-ports');
  ir = compileSpec('training.attn');
  const kdgqa = writePackage(ir, dir, { run: 'kdgqa_run' });
  const dgqa = writePackage(ir, dir, { run: 'dgqa_run' });
  initModel = ir.models.find((m) => m.name === 'kdgqa')!;
  initAt = parameterSpecs(initModel).map((s) => call('initial_value', s.name, s.shape, initModel.image.channels * initModel.patch ** 2, 4));
  // Checkpoints: attnc's bytes in, the package's bytes out (read, loaded into the model and optimizer, written).
  const jobs: Record<string, unknown>[] = [{ kind: 'call', package: kdgqa, out: path.join(dir, 'out-calls'), calls }];
  checkpointFiles = [];
  for (const [runName, folder] of [['kdgqa_run', kdgqa], ['dgqa_run', dgqa]] as const) {
    const run = ir.runs.find((r) => r.name === runName)!;
    const m = ir.models.find((x) => x.name === run.model)!;
    const attnc = checkpointBytes(m, run);
    const file = path.join(dir, `${runName}.safetensors`);
    fs.writeFileSync(file, attnc);
    jobs.push({
      kind: 'checkpoint', package: folder, out: path.join(dir, `out-${runName}`), checkpoint: file, seed: run.seed, optimizer: true,
      train_state: trainState(run),
    });
    checkpointFiles.push({ python: path.join(dir, `out-${runName}`, 'python.safetensors'), attnc });
  }
  const r = runDriver<{ results: unknown[] }>(jobs, dir);
  results = [r[0]!.results];
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A training state as attnc's trainer writes it (floats that JSON prints in several styles included). */
function trainState(run: RunIR) {
  return {
    step: 3, epoch: 0, position: 3, rngState: { generator: 'counter', seed: run.seed }, bestMetric: 0.1 + 0.2, microBatch: run.microBatch,
    backend: 'wasm', epochSums: { loss: 1e-7, correct: 12, images: 24, steps: 3, big: 1.5e21, tiny: 2.5e-300, neg: -0.000123 },
  };
}

/** A full training checkpoint (parameters, allocation state, the optimizer's slots) as attnc encodes it. */
function checkpointBytes(m: ModelIR, run: RunIR): Uint8Array {
  const params = randomTensors(m, 31);
  const slots = run.optimizer.kind === 'adamw' ? ['m', 'v'] : ['m'];
  const optimizer = Object.fromEntries(slots.map((slot, i) => [slot, randomTensors(m, 50 + i)]));
  const state = freshState(m);
  // Cache and score away from zero, so that their bytes show.
  for (const t of Object.values(state)) if (t.dtype === 'F32') (t.data as Float32Array).forEach((_, g, a) => (a[g] = 0.5 + g));
  return encodeCheckpoint({ model: m, run, params, state, optimizer, trainState: trainState(run) });
}

const result = (i: number) => results[0]![i];

describe('the emitted ports of attnc TypeScript', () => {
  torchGate('parity: ports');

  it.skipIf(!hasTorch)('the generator draws the same bits (runtime/random.ts)', () => {
    bitsInputs.forEach((x, i) => expect(result(bitsAt[i]!), `lowbias32(${x})`).toBe(lowbias32(x)));
    streamInputs.forEach((p, i) => expect(result(streamsAt[i]!), `streamId(${p})`).toBe(streamId(...p)));
    seedInputs.forEach((s, i) => expect(result(seedsAt[i]!), `seed32(${s})`).toBe(seed32(s)));
    uniformCases.forEach((c, i) => expect(result(uniformsAt[i]!), `uniformFloats(${c})`).toEqual(Array.from(uniformFloats(...c))));
    // The docs' vectors (docs/attention.md).
    expect(result(uniformsAt[0]!)).toEqual([0.7436593174934387, 0.034946560859680176, 0.6124723553657532, 0.7193475365638733]);
  });

  it.skipIf(!hasTorch)('Gaussians agree to the bit up to libm (at most 1 float32 ulp)', () => {
    let exact = 0;
    let total = 0;
    gaussianCases.forEach((c, i) => {
      const want = gaussianFloats(...c);
      const got = result(gaussiansAt[i]!) as number[];
      expect(got.length).toBe(want.length);
      got.forEach((g, j) => {
        total++;
        if (g === want[j]) exact++;
        else expect(Math.abs(g - want[j]!), `value ${j} of case ${i}`).toBeLessThanOrEqual(Math.abs(want[j]!) * 2 ** -23);
      });
    });
    expect(result(gaussiansAt[0]!)).toEqual([1.6103821992874146, -0.26355355978012085, 0.09807759523391724, 0.29222121834754944]);
    expect(exact / total).toBeGreaterThan(0.999);
  });

  it.skipIf(!hasTorch)('PGQA noise is perturb.ts, the paper quirks and a share of a micro-batch included', () => {
    noiseCases.forEach((c, i) => {
      const p: PerturbIR = { distribution: c.distribution, scale: 1, at: 'output', during: 'always' };
      const want = perturbNoise(p, c.shape, { seed: c.seed, layer: c.layer, step: c.step, microBatch: c.micro, paper: c.paper, headsPerGroup: c.perGroup });
      const got = (result(noiseAt[i]!) as unknown[]).flat(3) as number[];
      expect(got.length).toBe(want.length);
      const worst = Math.max(...got.map((g, j) => Math.abs(g - want[j]!)));
      expect(worst, `${c.distribution}${c.paper ? ' paper' : ''}`).toBeLessThan(1e-6);
    });
    const whole = perturbNoise({ distribution: 'gaussian', scale: 1, at: 'output', during: 'always' }, [3, 4, 2, 6], { seed: 13, layer: 1, step: 5, microBatch: 2, paper: false, headsPerGroup: 2 });
    const part = (result(noisePartAt) as unknown[]).flat(3) as number[];
    const wanted = Array.from(whole.subarray(4 * 2 * 6));
    expect(Math.max(...part.map((g, j) => Math.abs(g - wanted[j]!)))).toBeLessThan(1e-6);
  });

  it.skipIf(!hasTorch)(`the allocation function gives compiler/alloc.ts's counts (${allocations.length} cases, degenerate ones included)`, () => {
    expect(SPECIAL.length).toBe(3);
    allocations.forEach((c, i) => {
      expect(result(allocationsAt[i]!), `${JSON.stringify(c.scores.map(encodeScore))} ${JSON.stringify(c.opts)}`).toEqual(allocateFromScores(c.scores, c.opts).counts);
    });
  });

  it.skipIf(!hasTorch)(`the allocation on the device (int64 limbs, no host round trip) gives compiler/alloc.ts's counts of the float32 scores (${allocations.length} cases)`, () => {
    allocations.forEach((c, i) => {
      const f32 = c.scores.map(Math.fround);
      expect(result(onDeviceAt[i]!), `${JSON.stringify(f32.map(encodeScore))} ${JSON.stringify(c.opts)}`).toEqual(allocateFromScores(f32, c.opts).counts);
    });
  });

  it.skipIf(!hasTorch)('the initial weights are runtime/tfjs/params.ts initialTensors (at most 1 float32 ulp, from log in the tails)', () => {
    const want = initialTensors(initModel, 4);
    let exact = 0;
    let total = 0;
    parameterSpecs(initModel).forEach((spec, i) => {
      const got = [result(initAt[i]!)].flat(4) as number[];
      const w = want[spec.name]!.data as Float32Array;
      expect(got.length, spec.name).toBe(w.length);
      got.forEach((g, j) => {
        total++;
        if (g === w[j]) exact++;
        else expect(Math.abs(g - w[j]!), `${spec.name}[${j}]`).toBeLessThanOrEqual(Math.abs(w[j]!) * 2 ** -23);
      });
    });
    expect(exact / total).toBeGreaterThan(0.999);
  });

  it.skipIf(!hasTorch)('checkpoints: attnc bytes in, the same bytes out (AdamW and SGD slots, state, metadata)', () => {
    for (const { python, attnc } of checkpointFiles) {
      const bytes = new Uint8Array(fs.readFileSync(python));
      expect(bytes.length, python).toBe(attnc.length);
      expect(Buffer.from(bytes).equals(Buffer.from(attnc)), `${path.basename(python)} differs from attnc's encoding`).toBe(true);
    }
  });
});
