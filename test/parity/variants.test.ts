// Parity of every attention variant: the emitted PyTorch model (run by /usr/bin/python3) against the
// TensorFlow.js backend (runtime/tfjs/vit.ts on wasm), from the same random weights and images.
//
// For each model of specs/variants.attn, both sides load one checkpoint and run the same passes on one
// model: an evaluation pass, a training pass at step 3 with labels (loss with label smoothing 0.1 and
// the gradient of every parameter), another evaluation pass. Compared: logits (relative L2 error of
// the whole [B, classes] tensor < 1e-4), the loss (relative < 1e-4), every parameter's gradient
// (relative L2 error of the tensor, ||g_torch - g_tfjs|| / ||g_tfjs||, < 1e-3), the counts every
// key_norm layer used in every pass (equal), and the allocation state after the training pass
// (counts equal, cache and score relative L2 < 1e-4).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import type { IRDocument, ModelIR } from '../../compiler/ir/types.js';
import { encodeCheckpoint } from '../../runtime/checkpoint/names.js';
import { decodeSafetensors } from '../../runtime/checkpoint/safetensors.js';
import { AllocationTap } from '../../runtime/tfjs/allocation-tap.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { crossEntropy } from '../../runtime/tfjs/ops.js';
import { loadCheckpointTensors, toCheckpointData } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { compileSpec, ErrorLog, freshState, hasTorch, randomImages, randomTensors, relError, runDriver, tempDir, torchGate, writeF32, writePackage } from './helpers.js';

const MODELS = ['mha', 'mqa', 'gqa', 'kdgqa_batch', 'kdgqa_sample', 'kdgqa_starve', 'pgqa_output', 'pgqa_scores', 'pgqa_paper', 'dropout', 'key_variance', 'random_control', 'attention_entropy'];
const SEED = 11;
const BATCH = 4;
const TRAIN_STEP = 3;
const SMOOTHING = 0.1;

interface Pass {
  logits: number[];
  loss?: number;
  grads?: string;
  allocations: Record<string, number[] | number[][]>;
  state: Record<string, number[]>;
}

/** What one side computed for a model: per pass logits, counts of key_norm layers, state; grads of the training pass. */
interface Side {
  passes: { logits: ArrayLike<number>; counts: Record<number, unknown>; state: Record<string, number[]> }[];
  loss: number;
  grads: Record<string, Float32Array>;
}

const PASSES = [
  { training: false, step: 0 },
  { training: true, step: TRAIN_STEP },
  { training: false, step: 0 },
];

let tf: Tf;
let ir: IRDocument;
let dir: string;
const python = new Map<string, Side>();

/** PyTorch 2's fused attention (a stand-in here: torch 1.13 has none): max |logits difference| and calls per mode. */
type SdpaResult = Record<'eval' | 'train', { max_abs_diff: number; calls: number }>;
const SDPA_MODELS = ['mha', 'dropout', 'pgqa_output', 'kdgqa_sample'];
const sdpa = new Map<string, SdpaResult>();
const errors = new ErrorLog();
const labels = Int32Array.from([0, 3, 1, 4]);

function model(name: string): ModelIR {
  return ir.models.find((m) => m.name === name)!;
}

function keyNormLayers(m: ModelIR): number[] {
  return m.layers.filter((l) => l.attention.allocation.policy === 'scored').map((l) => l.index);
}

beforeAll(async () => {
  if (!hasTorch) return;
  tf = (await selectBackend('wasm')).tf;
  dir = tempDir('parity-variants');
  ir = compileSpec('variants.attn');
  const jobs = MODELS.map((name, i) => {
    const m = model(name);
    const checkpoint = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(checkpoint, encodeCheckpoint({ model: m, params: randomTensors(m, 100 + i), state: freshState(m) }));
    const images = writeF32(path.join(dir, `${name}.f32`), randomImages(m, BATCH, 10 + i));
    return {
      kind: 'forward', package: writePackage(ir, dir, { model: name }), out: path.join(dir, `out-${name}`), checkpoint, seed: SEED,
      images, shape: [BATCH, m.image.height, m.image.width, m.image.channels],
      passes: PASSES.map((p) => ({ training: p.training, step: p.step, ...(p.training ? { labels: [...labels], label_smoothing: SMOOTHING } : {}) })),
    };
  });
  const sdpaJobs = SDPA_MODELS.map((name) => ({ ...jobs[MODELS.indexOf(name)]!, kind: 'sdpa', out: path.join(dir, `sdpa-${name}`) }));
  const results = runDriver<{ passes: Pass[] }>([...jobs, ...sdpaJobs], dir);
  SDPA_MODELS.forEach((name, i) => sdpa.set(name, results[jobs.length + i] as unknown as SdpaResult));
  MODELS.forEach((name, i) => {
    const passes = results[i]!.passes;
    const train = passes[1]!;
    const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(train.grads!)), train.grads!);
    python.set(name, {
      passes: passes.map((p) => ({ logits: p.logits, counts: countsOf(model(name), p.allocations), state: p.state })),
      loss: train.loss!,
      grads: Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.data as Float32Array])),
    });
  });
}, 120_000);

afterAll(() => {
  if (hasTorch) errors.print('parity: variants');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** key_norm layer index -> counts of one pass (Python's allocations by layer). */
function countsOf(m: ModelIR, allocations: Record<string, unknown>): Record<number, unknown> {
  return Object.fromEntries(keyNormLayers(m).map((l) => [l, allocations[String(l)]]));
}

/** The same passes in TensorFlow.js. */
function runTfjs(name: string, index: number): Side {
  const m = model(name);
  const tap = new AllocationTap();
  const vit = new VitModel(tf, m, { seed: SEED });
  try {
    const ckpt = randomTensors(m, 100 + index);
    loadCheckpointTensors(tf, vit.params, ckpt);
    vit.loadStateTensors(freshState(m));
    const x = tf.tensor4d(randomImages(m, BATCH, 10 + index), [BATCH, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
    const side: Side = { passes: [], loss: NaN, grads: {} };
    const layers = keyNormLayers(m);
    for (const p of PASSES) {
      let logits: Float32Array;
      if (p.training) {
        const kept: { logits?: Tensor } = {};
        const { value, grads } = tf.variableGrads(() => {
          const out = tf.keep(vit.forward(x, { training: true, step: p.step, seed: SEED, onCounts: tap.onCounts }));
          kept.logits = out;
          return crossEntropy(tf, out, labels, SMOOTHING);
        }, vit.variables);
        logits = kept.logits!.dataSync() as Float32Array;
        side.loss = value.dataSync()[0]!;
        for (const param of vit.params.list) side.grads[param.name] = toCheckpointData(param, grads[param.name]!.dataSync() as Float32Array);
        tf.dispose([value, kept.logits!, ...Object.values(grads)]);
      } else {
        const out = vit.forward(x, { training: false, step: p.step, seed: SEED, onCounts: tap.onCounts });
        logits = out.dataSync() as Float32Array;
        out.dispose();
      }
      const captured = tap.take();
      const counts: Record<number, unknown> = {};
      layers.forEach((l, i) => {
        const t = captured[i]!;
        const rows = (t.arraySync() as number[] | number[][]);
        counts[l] = Array.isArray(rows[0]) ? (rows as number[][]).map((r) => r.map(Math.round)) : (rows as number[]).map(Math.round);
      });
      tf.dispose(captured);
      expect(captured.length, `${name}: key_norm layers that reported counts`).toBe(layers.length);
      const state = Object.fromEntries(Object.entries(vit.stateTensors()).map(([n, t]) => [n, Array.from(t.data as ArrayLike<number>)]));
      side.passes.push({ logits, counts, state });
    }
    x.dispose();
    return side;
  } finally {
    vit.dispose();
  }
}

describe('parity of the attention variants: PyTorch (emitted) vs TensorFlow.js', () => {
  torchGate('parity: variants');

  it.skipIf(!hasTorch)('uses F.scaled_dot_product_attention when torch has it and nothing touches the scores, to the same logits', () => {
    // Calls per forward pass: one per block, none where a mask or noise touches the scores or output.
    const expected: Record<string, { eval: number; train: number }> = {
      mha: { eval: 2, train: 2 },
      dropout: { eval: 2, train: 0 },
      pgqa_output: { eval: 0, train: 0 },
      kdgqa_sample: { eval: 2, train: 2 },
    };
    for (const name of SDPA_MODELS) {
      const r = sdpa.get(name)!;
      for (const mode of ['eval', 'train'] as const) {
        expect(r[mode].calls, `${name} ${mode}: fused calls`).toBe(expected[name]![mode]);
        expect(r[mode].max_abs_diff, `${name} ${mode}: logits, fused vs hand-written`).toBeLessThan(1e-5);
      }
    }
  });

  MODELS.forEach((name, index) => {
    it.skipIf(!hasTorch)(name, () => {
      const py = python.get(name)!;
      const js = runTfjs(name, index);
      PASSES.forEach((p, i) => {
        const where = `${name} pass ${i} (${p.training ? 'training' : 'eval'})`;
        expect(errors.add('logits', relError(py.passes[i]!.logits, js.passes[i]!.logits), where), `${where}: logits`).toBeLessThan(1e-4);
        expect(py.passes[i]!.counts, `${where}: counts of the key_norm layers`).toEqual(js.passes[i]!.counts);
        const state = js.passes[i]!.state;
        for (const [n, want] of Object.entries(state)) {
          const got = py.passes[i]!.state[n]!;
          if (n.endsWith('.counts')) expect(got, `${where}: ${n}`).toEqual(want);
          else expect(errors.add('state', relError(got, want), `${where} ${n}`), `${where}: ${n}`).toBeLessThan(1e-4);
        }
      });
      if (keyNormLayers(model(name)).length) {
        const even = JSON.stringify(py.passes.map(() => ({})));
        const uneven = py.passes.some((p) => JSON.stringify(Object.values(p.counts)).match(/\[(\d+),(?!\1\b)\d+/));
        expect(uneven, `${name}: some key_norm layer allocates unevenly (else the test proves little) ${even}`).toBeTruthy();
      }
      expect(errors.add('loss', Math.abs(py.loss - js.loss) / Math.abs(js.loss), name)).toBeLessThan(1e-4);
      expect(Object.keys(py.grads).sort()).toEqual(Object.keys(js.grads).sort());
      for (const [n, want] of Object.entries(js.grads)) {
        expect(errors.add('gradient', relError(py.grads[n]!, want), `${name} ${n}`), `${name}: gradient of ${n}`).toBeLessThan(1e-3);
      }
    });
  });
});
