// `attnc compile --target onnx` (issue 13): the ONNX graph of a model with its weights, run in
// onnxruntime-node and compared with the TensorFlow.js backend's logits on the same images and weights.
// Grouped attention is ops (a Gather of each query head's K/V head); a frozen key_norm allocation is the
// table of the counts the checkpoint stores; KDGQA's per-batch allocation is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelIR } from '../../compiler/ir/types.js';
import { emitOnnx } from '../../compiler/targets/onnx/emit.js';
import { openBackend, type Backend } from '../../runtime/backends.js';
import { readCheckpoint, type Checkpoint } from '../../runtime/checkpoint/names.js';
import type { Tensor } from '../../runtime/checkpoint/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, keyNormModel, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

type Ort = typeof import('onnxruntime-node');
const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort;

const { dir, cleanup } = tempDir('attnc-onnx-');
let backend: Backend;
beforeAll(async () => {
  backend = await openBackend('wasm');
});
afterAll(() => {
  backend?.close();
  cleanup();
});

/** Deterministic images, NHWC for tfjs and NCHW for ONNX. */
function images(m: ModelIR, n: number): { nhwc: Float32Array; nchw: Float32Array } {
  const { height: H, width: W, channels: C } = m.image;
  const nhwc = Float32Array.from({ length: n * H * W * C }, (_, i) => Math.sin(i * 0.37) * 1.5);
  const nchw = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) nchw[((b * C + c) * H + y) * W + x] = nhwc[((b * H + y) * W + x) * C + c]!;
  return { nhwc, nchw };
}

async function tfjsLogits(c: Checkpoint, state: Record<string, Tensor>, x: Float32Array, n: number): Promise<Float32Array> {
  const engine = await backend.engine({ model: c.meta.model, run: null, seed: 0, microBatch: n });
  try {
    await engine.load({ params: c.params, state });
    const r = await engine.evaluate({ x, y: new Int32Array(n), size: n }, { step: 0, logits: true });
    return r.logits!;
  } finally {
    engine.dispose();
  }
}

async function onnxLogits(bytes: Uint8Array, x: Float32Array, m: ModelIR, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ images: new ort.Tensor('float32', x, [n, m.image.channels, m.image.height, m.image.width]) });
  expect(out.logits!.dims).toEqual([n, m.classes]);
  return out.logits!.data as Float32Array;
}

function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(...Array.from(want, Math.abs));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst / scale).toBeLessThan(1e-4);
}

async function trained(name: string, model: ModelIR): Promise<Checkpoint> {
  const spec = writeSpec(dir, irDocument([model], [tinyRun({ model: model.name, epochs: 2 })]), name);
  const r = await runCli(['train', spec, '--out', name, '--quiet'], dir);
  expect(r.code, r.stderr).toBe(0);
  return readCheckpoint(path.join(dir, name, 'last.safetensors'));
}

describe('attnc compile --target onnx', () => {
  for (const [name, model] of [
    ['gqa', tinyModel({ name: 'tiny_gqa', dim: 24, heads: 6, kvHeads: 2 })],
    ['mha_mean', tinyModel({ name: 'tiny_mha', pool: 'mean', qkvBias: false })],
  ] as const) {
    it(`${name}: onnxruntime-node gives the tfjs backend's logits`, async () => {
      const c = await trained(name, model);
      const r = await runCli(['compile', `${name}.ir.json`, '--target', 'onnx', '--checkpoint', `${name}/last.safetensors`, '-o', 'onnx'], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`wrote onnx/${model.name}.onnx`);
      const n = 5;
      const x = images(model, n);
      const want = await tfjsLogits(c, c.state, x.nhwc, n);
      const got = await onnxLogits(new Uint8Array(fs.readFileSync(path.join(dir, 'onnx', `${model.name}.onnx`))), x.nchw, model, n);
      expectClose(got, want);
    }, 120_000);
  }

  it('a frozen key_norm allocation (DGQA): the stored counts, uneven ones included, as a gather table', async () => {
    const model = keyNormModel();
    const c = await trained('dgqa', model);
    // An uneven allocation, set in both: 8 query heads over 3 K/V heads as 5, 1, 2.
    const state = { ...c.state };
    const counts: Record<string, number[]> = {};
    for (const l of model.layers) {
      const key = `blocks.${l.index}.attn.alloc.counts`;
      state[key] = { ...state[key]!, data: Int32Array.from([5, 1, 2]) };
      counts[key] = [5, 1, 2];
    }
    const n = 4;
    const x = images(model, n);
    const bytes = emitOnnx(model, { params: c.params as never, counts }, 'test');
    expectClose(await onnxLogits(bytes, x.nchw, model, n), await tfjsLogits(c, state, x.nhwc, n));
    // And not the equal share: the table matters.
    const equal = emitOnnx(model, { params: c.params as never, counts: Object.fromEntries(Object.keys(counts).map((k) => [k, [3, 3, 2]])) }, 'test');
    const other = await onnxLogits(equal, x.nchw, model, n);
    const want = await tfjsLogits(c, state, x.nhwc, n);
    expect(Math.max(...Array.from(other, (v, i) => Math.abs(v - want[i]!)))).toBeGreaterThan(1e-4);
  }, 120_000);

  it('refuses KDGQA (allocation from every batch), a frozen allocation without a checkpoint, and --checkpoint elsewhere', async () => {
    const kd = keyNormModel({ track: null });
    writeSpec(dir, irDocument([kd], [tinyRun()]), 'kd');
    const r = await runCli(['compile', 'kd.ir.json', '--target', 'onnx', '-o', 'onnx'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'tiny' cannot be written as ONNX: layer 0: scored allocation (key_norm) recomputed from each evaluation batch (kdgqa, eval: recompute)");
    writeSpec(dir, irDocument([keyNormModel()], [tinyRun()]), 'dg');
    expect((await runCli(['compile', 'dg.ir.json', '--target', 'onnx', '-o', 'onnx'], dir)).stderr).toContain('give --checkpoint');
    expect((await runCli(['compile', 'dg.ir.json', '--checkpoint', 'x', '-o', 'onnx'], dir)).stderr).toContain('--checkpoint goes with --target onnx');
  });
});
