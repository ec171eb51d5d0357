// The emitted tfjs modules end to end: for each golden case a runtime VitModel with random weights
// (and allocation state) is saved as a checkpoint, the module is emitted under test/.tmp-emit/ (so
// that it resolves @tensorflow/tfjs from the project's node_modules), imported, and must give the
// logits of the runtime's forward(x, { training: false }) on the same backend to 1e-5.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor2D } from '@tensorflow/tfjs';
import type { IRDocument, ModelIR, RunIR } from '../compiler/ir/types.js';
import { emitTfjs } from '../compiler/targets/tfjs/emit.js';
import { encodeCheckpoint } from '../runtime/checkpoint/names.js';
import { parameterSpecs, stateSpecs } from '../compiler/ir/params.js';
import { encodeSafetensors, fromFloat32, toFloat32Tensor, type Tensor as CkptTensor } from '../runtime/checkpoint/safetensors.js';
import { normalizationTable } from '../runtime/data/normalize.js';
import { uniformFloats } from '../core/random.js';
import { selectBackend, type Tf } from '../runtime/tfjs/backend.js';
import { loadCheckpointTensors, toCheckpointTensors } from '../runtime/tfjs/params.js';
import { VitModel } from '../runtime/tfjs/vit.js';
import { compileCase, TFJS_GOLDEN_ROOT } from './helpers/tfjs-target.js';

interface LoadedModel {
  predict(images: Float32Array, options?: { seed?: number; step?: number }): Tensor2D;
  classify(images: Float32Array, k?: number): Promise<{ index: number; probability: number }[][]>;
  normalize(pixels: Uint8Array): Float32Array;
  run: RunIR | null;
  dispose(): void;
}
interface EmittedModule {
  loadModel(bytes: Uint8Array, options?: { tf?: Tf }): Promise<LoadedModel>;
  MODEL: { name: string };
  INPUT_SHAPE: number[];
  CLASSES: number;
}

let tf: Tf;
const TMP_ROOT = path.join(import.meta.dirname, '.tmp-emit');
let dir: string;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
  fs.mkdirSync(TMP_ROOT, { recursive: true });
  dir = fs.mkdtempSync(path.join(TMP_ROOT, 'e2e-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const live: VitModel[] = [];
afterAll(() => live.forEach((v) => v.dispose()));

/** Random checkpoint-layout weights, large enough that every part of the model matters (as vit.test.ts). */
function randomTensors(m: ModelIR, seed: number): Record<string, CkptTensor> {
  const out: Record<string, CkptTensor> = {};
  parameterSpecs(m).forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const u = uniformFloats(seed, 1000 + i, n).map((v) => 2 * v - 1);
    const fanIn = spec.shape.length > 1 ? n / spec.shape[0]! : 1;
    const data = /norm\d?\.weight$/.test(spec.name) ? u.map((v) => 1 + 0.3 * v) : spec.shape.length > 1 ? u.map((v) => (1.5 * v) / Math.sqrt(fanIn)) : u.map((v) => 0.2 * v);
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  });
  return out;
}

/**
 * Allocation state far from the equal share: counts [H - G + 1, 1, ...], and a tracker cache of
 * [0, 1000, ...], whose distance to any batch's key norms (rule 'paper', diff) is far from even.
 */
function stateTensors(m: ModelIR): Record<string, CkptTensor> {
  const out: Record<string, CkptTensor> = {};
  for (const spec of stateSpecs(m)) {
    const G = spec.shape[0]!;
    const heads = m.layers[Number(/^blocks\.(\d+)/.exec(spec.name)![1])]!.attention.heads;
    if (spec.name.endsWith('.counts')) out[spec.name] = { dtype: 'I32', shape: [G], data: Int32Array.from({ length: G }, (_, g) => (g === 0 ? heads - G + 1 : 1)) };
    else out[spec.name] = { dtype: 'F32', shape: [G], data: Float32Array.from({ length: G }, (_, g) => 1000 * g) };
  }
  return out;
}

function build(m: ModelIR, tensors: Record<string, CkptTensor>, scope: string): VitModel {
  const v = new VitModel(tf, m, { seed: 1, scope });
  live.push(v);
  loadCheckpointTensors(tf, v.params, tensors);
  if (stateSpecs(m).length) v.loadStateTensors(stateTensors(m));
  return v;
}

let imported = 0;
async function emitAndImport(ir: IRDocument): Promise<EmittedModule> {
  const { files } = emitTfjs(ir);
  const sub = path.join(dir, String(imported++)); // a fresh path: no module cache between cases
  fs.mkdirSync(sub);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(sub, name), text);
  return (await import(pathToFileURL(path.join(sub, `${ir.models[0]!.name}.js`)).href)) as EmittedModule;
}

function images(m: ModelIR, batch: number, stream = 1): Float32Array {
  return uniformFloats(3, stream, batch * m.image.height * m.image.width * m.image.channels).map((v) => 2 * v - 1);
}

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / scale;
}

/** The same model with every block grouped uniformly: to show that a case's allocation matters. */
function uniformCopy(m: ModelIR): ModelIR {
  return { ...m, layers: m.layers.map((l) => ({ ...l, attention: { ...l.attention, variant: 'gqa', allocation: { policy: 'uniform' }, perturb: null } })) };
}

const runtimeLogits = (v: VitModel, x: Float32Array, seed: number, step: number): Float32Array =>
  tf.tidy(() => v.forward(tf.tensor4d(x, [x.length / v.model.image.height / v.model.image.width / v.model.image.channels, v.model.image.height, v.model.image.width, v.model.image.channels]), { training: false, step, seed }).dataSync() as Float32Array);

const moduleLogits = (model: LoadedModel, x: Float32Array, options?: { seed?: number; step?: number }): Float32Array => {
  const t = model.predict(x, options);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
};

describe('emitted tfjs modules against the runtime', () => {
  const cases = ['mha', 'gqa_mean', 'kdgqa_recompute', 'dgqa_frozen', 'scored_recompute', 'entropy_grad_recompute', 'pgqa_train', 'pgqa_always'];

  for (const name of cases) {
    it(`${name}: the logits of runtime forward(x, { training: false })`, async () => {
      const ir = compileCase(path.join(TFJS_GOLDEN_ROOT, `${name}.attn`));
      const m = ir.models[0]!;
      // Checkpoints written by a run carry it; where the spec has none, borrow mha's with seed 21.
      const mhaRun = compileCase(path.join(TFJS_GOLDEN_ROOT, 'mha.attn')).runs[0]!;
      const run: RunIR = ir.runs.find((r) => r.model === m.name) ?? { ...mhaRun, model: m.name, seed: 21 };
      const tensors = randomTensors(m, 5);
      const v = build(m, tensors, `${name}/`);
      const bytes = encodeCheckpoint({ model: m, run, params: toCheckpointTensors(v.params), state: v.stateTensors(), trainState: { step: 12, epoch: 1 } });
      const x = images(m, 3);
      // Noise, where a block draws any, is keyed by the checkpoint's run seed and step by default.
      const want = runtimeLogits(v, x, run.seed, 12);
      if (name === 'kdgqa_recompute' || name === 'dgqa_frozen' || name === 'scored_recompute' || name === 'entropy_grad_recompute') {
        // The allocation is not the equal share here, so agreeing below means the module allocated as attnc.
        const uniform = build(uniformCopy(m), tensors, `${name}-uniform/`);
        expect(relError(runtimeLogits(uniform, x, 0, 12), want)).toBeGreaterThan(1e-3);
      }

      const mod = await emitAndImport(ir);
      expect(mod.MODEL.name).toBe(m.name);
      expect(mod.INPUT_SHAPE).toEqual([16, 16, 3]);
      const base = tf.memory().numTensors;
      const model = await mod.loadModel(bytes);
      const loaded = tf.memory().numTensors;
      const got = moduleLogits(model, x);
      expect(tf.getBackend()).toBe('wasm');
      expect(got.length).toBe(3 * m.classes);
      expect(relError(got, want)).toBeLessThan(1e-5);
      expect(tf.memory().numTensors).toBe(loaded); // predict leaks nothing

      if (name === 'pgqa_always') {
        // Other noise; and block 1 (DGQA rule 'paper', diff) has set its cache to the norms of x in
        // both, so its allocation is now the equal share: a module that kept the cache fails here.
        const other = runtimeLogits(v, x, 3, 7);
        expect(relError(moduleLogits(model, x, { seed: 3, step: 7 }), other)).toBeLessThan(1e-5);
        expect(relError(other, want)).toBeGreaterThan(1e-3);
        const y = images(m, 2, 5);
        expect(relError(moduleLogits(model, y), runtimeLogits(v, y, run.seed, 12))).toBeLessThan(1e-5);
      }
      model.dispose();
      expect(tf.memory().numTensors).toBe(base);
    });
  }
});

describe('an emitted module', () => {
  const mhaIr = () => compileCase(path.join(TFJS_GOLDEN_ROOT, 'mha.attn'));

  it('reads F16 and BF16 checkpoints, classifies, and normalises pixels with the run constants', async () => {
    const ir = mhaIr();
    const m = ir.models[0]!;
    const mod = await emitAndImport(ir);
    const x = images(m, 2, 9);
    for (const dtype of ['F16', 'BF16'] as const) {
      const params = Object.fromEntries(Object.entries(randomTensors(m, 8)).map(([k, t]) => [k, fromFloat32(t.data as Float32Array, t.shape, dtype)]));
      const v = build(m, Object.fromEntries(Object.entries(params).map(([k, t]) => [k, toFloat32Tensor(t)])), `mha-${dtype}/`);
      const model = await mod.loadModel(encodeCheckpoint({ model: m, params }), { tf });
      const want = runtimeLogits(v, x, 0, 0);
      expect(relError(moduleLogits(model, x), want)).toBeLessThan(1e-5);
      const top = await model.classify(x, 3);
      expect(top).toHaveLength(2);
      const probs = tf.tidy(() => tf.softmax(tf.tensor2d(want, [2, m.classes])).arraySync() as number[][]);
      top.forEach((row, b) => {
        expect(row.map((r) => r.index)).toEqual(probs[b]!.map((p, i) => [p, i] as const).sort((a, c) => c[0] - a[0]).slice(0, 3).map(([, i]) => i));
        expect(row[0]!.probability).toBeCloseTo(Math.max(...probs[b]!), 5);
      });
      model.dispose();
    }
    const model = await mod.loadModel(encodeCheckpoint({ model: m, params: randomTensors(m, 8) }));
    expect(model.run?.name).toBe('mha_run'); // the checkpoint has no run: the spec's
    const pixels = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 256);
    const lut = normalizationTable({ mean: [0.5], std: [0.25] }, 3);
    const want = Float32Array.from(pixels, (p, i) => lut[(i % 3) * 256 + p]!);
    expect(model.normalize(pixels)).toEqual(want);
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.set([...pixels.subarray(3 * i, 3 * i + 3), 255], 4 * i);
    expect(model.normalize(rgba)).toEqual(want);
    expect(() => model.normalize(new Uint8Array(10))).toThrow(/not one 16x16x3 image/);
    expect(() => model.predict(new Float32Array(7))).toThrow(/not a whole number of 16x16x3 images/);
    model.dispose();
  });

  it('runs in plain Node, as shipped: imported by node itself, on tfjs\'s default backend', async () => {
    const ir = compileCase(path.join(TFJS_GOLDEN_ROOT, 'gqa_mean.attn'));
    const m = ir.models[0]!;
    const tensors = randomTensors(m, 4);
    const v = build(m, tensors, 'node/');
    const sub = path.join(dir, 'node');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'gqa_mean.js'), emitTfjs(ir).files['gqa_mean.js']!);
    fs.writeFileSync(path.join(sub, 'ckpt.safetensors'), encodeCheckpoint({ model: m, params: tensors }));
    const x = images(m, 2, 4);
    fs.writeFileSync(path.join(sub, 'x.bin'), x);
    const script = [
      "import { readFileSync } from 'node:fs';",
      "import { loadModel } from './gqa_mean.js';",
      "const model = await loadModel(readFileSync('ckpt.safetensors'));",
      "const x = new Float32Array(readFileSync('x.bin').buffer.slice(0));",
      'process.stdout.write(JSON.stringify(Array.from(model.predict(x).dataSync())));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: sub, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    // Another backend (the cpu one) than the wasm one here: float32 rounding differs a little more.
    expect(relError(JSON.parse(r.stdout.trim().split('\n').pop()!) as number[], runtimeLogits(v, x, 0, 0))).toBeLessThan(1e-4);
  });

  it('refuses files that are not a checkpoint of its model', async () => {
    const kdgqa = compileCase(path.join(TFJS_GOLDEN_ROOT, 'kdgqa_recompute.attn'));
    const m = kdgqa.models[0]!;
    const mod = await emitAndImport(kdgqa);
    // Same shapes, another grouping: only the model check can tell.
    const uniform = uniformCopy(m);
    await expect(mod.loadModel(encodeCheckpoint({ model: uniform, params: randomTensors(uniform, 1) }))).rejects.toThrow(/block 0 allocation \{"policy":"uniform"\} instead of/);
    const tensors = randomTensors(m, 1);
    await expect(mod.loadModel(encodeSafetensors(tensors, { format: 'pt' }))).rejects.toThrow(/not an attnc checkpoint/);
    const good = encodeCheckpoint({ model: m, params: tensors, state: stateTensors(m) });
    await expect(mod.loadModel(good.subarray(0, good.length - 4))).rejects.toThrow(/data_offsets/);
    await expect(mod.loadModel(new Uint8Array(4))).rejects.toThrow(/too short/);
    // A parameter missing and one of the wrong shape, reported together.
    const { ['head.bias']: _, ...rest } = tensors;
    const broken = { ...rest, 'norm.weight': { dtype: 'F32' as const, shape: [3], data: new Float32Array(3) } };
    const meta = { format: 'attnc-checkpoint', 'attnc.model': JSON.stringify(m), 'attnc.ir_version': '1' };
    await expect(mod.loadModel(encodeSafetensors({ ...broken, ...stateTensors(m) }, meta))).rejects.toThrow(/norm\.weight has shape \[3\], the model needs \[32\]; missing head\.bias/);
  });
});
