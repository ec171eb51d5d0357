// `attnc convert`: MHA checkpoints (attnc's and timm-named) to GQA, checked against the original
// weights and logits, and the converted files evaluated with `attnc eval`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, type Checkpoint } from '../../runtime/checkpoint/names.js';
import { encodeSafetensors } from '../../runtime/checkpoint/safetensors.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { loadCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { runCli } from '../helpers/cli.js';
import { distinctiveParams, mhaModel, tempDir, writeTinyCheckpoint, type WrittenCheckpoint } from './fixtures.js';

/** Logits of a checkpoint for a fixed batch of 6 images. */
function logitsOf(tf: Tf, c: Checkpoint, scope: string): Float32Array {
  const m = c.meta.model;
  const model = new VitModel(tf, m, { seed: 0, scope });
  try {
    loadCheckpointTensors(tf, model.params, c.params);
    return tf.tidy(() => {
      const n = 6 * m.image.height * m.image.width * m.image.channels;
      const x = tf.tensor4d(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * 1.5), [6, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
      return (model.forward(x, { training: false, step: 0, seed: 0 }) as Tensor2D).dataSync() as Float32Array;
    });
  } finally {
    model.dispose();
  }
}

describe('attnc convert', () => {
  const { dir, cleanup } = tempDir();
  let tf: Tf;
  let mha: WrittenCheckpoint;
  beforeAll(async () => {
    tf = (await selectBackend('wasm')).tf;
    mha = await writeTinyCheckpoint(dir, mhaModel(), { name: 'mha.safetensors', optimizer: true });
  });
  afterAll(cleanup);

  it('with G = H keeps the model: the logits equal the original ones', async () => {
    const r = await runCli(['convert', 'mha.safetensors', '--kv-heads', '4', '-o', 'same.safetensors'], dir);
    expect(r.code, r.stderr).toBe(0);
    const original = await readCheckpoint(mha.file);
    const converted = await readCheckpoint(path.join(dir, 'same.safetensors'));
    expect(converted.meta.model.layers.every((l) => l.attention.kvHeads === 4 && l.attention.variant === 'mha')).toBe(true);
    const a = logitsOf(tf, original, 'a/');
    const b = logitsOf(tf, converted, 'b/');
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('with G < H mean-pools the keys and values of each group, keeps the queries, and reports what it did', async () => {
    const r = await runCli(['convert', 'mha.safetensors', '--kv-heads', '2'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pooled: the keys and values of 4 tensors (qkv.weight and qkv.bias of 2 blocks) from 4 heads to 2 K/V heads, 2 heads per group');
    expect(r.stdout).toMatch(/ignored \(\d+\):/);
    expect(r.stdout).toContain('optimizer state of the MHA weights does not carry over');
    expect(r.stdout).toContain("wrote mha-gqa2.safetensors: model 'tiny' with kv_heads 2 in every layer (gqa, uniform allocation), run 'smoke' kept");

    const c = await readCheckpoint(path.join(dir, 'mha-gqa2.safetensors'));
    for (const l of c.meta.model.layers) expect(l.attention).toMatchObject({ heads: 4, kvHeads: 2, variant: 'gqa', allocation: { policy: 'uniform' } });
    expect(c.meta.run?.name).toBe('smoke');
    expect(Object.keys(c.optimizer)).toEqual([]);

    const hd = 4;
    const D = 16;
    for (const block of [0, 1]) {
      const before = mha.params[`blocks.${block}.attn.qkv.weight`]!.data as Float32Array;
      const after = c.params[`blocks.${block}.attn.qkv.weight`]!.data as Float32Array;
      const bBefore = mha.params[`blocks.${block}.attn.qkv.bias`]!.data as Float32Array;
      const bAfter = c.params[`blocks.${block}.attn.qkv.bias`]!.data as Float32Array;
      expect(c.params[`blocks.${block}.attn.qkv.weight`]!.shape).toEqual([(4 + 2 * 2) * hd, D]);
      // Queries: the first H*hd rows, unchanged.
      expect(Array.from(after.subarray(0, 4 * hd * D))).toEqual(Array.from(before.subarray(0, 4 * hd * D)));
      // Spot checks: K row r of group g = mean of row r of heads 2g and 2g+1; likewise V and the biases.
      for (const [part, g, row, col] of [[1, 0, 0, 0], [1, 1, 3, 7], [2, 0, 2, 15], [2, 1, 1, 4]] as const) {
        const src = (h: number) => part * 4 * hd + h * hd + row;
        const dst = 4 * hd + (part - 1) * 2 * hd + g * hd + row;
        expect(after[dst * D + col]).toBeCloseTo((before[src(2 * g) * D + col]! + before[src(2 * g + 1) * D + col]!) / 2, 6);
        expect(bAfter[dst]).toBeCloseTo((bBefore[src(2 * g)]! + bBefore[src(2 * g + 1)]!) / 2, 6);
      }
    }
  });

  it('writes checkpoints that attnc eval evaluates', async () => {
    const r = await runCli(['eval', 'mha-gqa2.safetensors', '--json', '--backend', 'wasm'], dir);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { count: number; top1: number; allocation: { meanCounts: number[] }[] };
    expect(got.count).toBe(40);
    expect(got.top1).toBeGreaterThanOrEqual(0);
    expect(got.allocation.map((a) => a.meanCounts)).toEqual([[2, 2], [2, 2]]);
  });

  it('converts timm-named weights, which need --heads', async () => {
    const model = mhaModel({ depth: 1 });
    fs.writeFileSync(path.join(dir, 'vit_tiny.safetensors'), encodeSafetensors(distinctiveParams(model), { format: 'pt' }));
    const missing = await runCli(['convert', 'vit_tiny.safetensors', '--kv-heads', '1'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('vit_tiny.safetensors: has no attnc metadata');
    expect(missing.stderr).toContain('--heads');

    const r = await runCli(['convert', 'vit_tiny.safetensors', '--heads', '4', '--kv-heads', '1'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("read vit_tiny.safetensors: timm ViT weights, model 'vit_tiny' (1 blocks, dim 16, 4 heads of 4, 8x8x1, 8 classes)");
    expect(r.stdout).toContain('ignored: nothing');
    const c = await readCheckpoint(path.join(dir, 'vit_tiny-gqa1.safetensors'));
    expect(c.meta.model.layers[0]!.attention).toMatchObject({ kvHeads: 1, variant: 'mqa' });
    expect(c.meta.run).toBeNull();

    const noData = await runCli(['eval', 'vit_tiny-gqa1.safetensors', '--backend', 'wasm'], dir);
    expect(noData.code).toBe(1);
    expect(noData.stderr).toContain('records no run');
    expect(noData.stderr).toContain('give --data');
    const ok = await runCli(['eval', 'vit_tiny-gqa1.safetensors', '--data', 'synthetic(test: 24)', '--json', '--backend', 'wasm'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { count: number }).count).toBe(24);
  });

  it('refuses what cannot be converted', async () => {
    const notDivisor = await runCli(['convert', 'mha.safetensors', '--kv-heads', '3'], dir);
    expect(notDivisor.code).toBe(1);
    expect(notDivisor.stderr).toContain('kv_heads 3 must divide the 4 heads of layer 0; choose from 1, 2, 4');
    const grouped = await runCli(['convert', 'mha-gqa2.safetensors', '--kv-heads', '1'], dir);
    expect(grouped.code).toBe(1);
    expect(grouped.stderr).toContain('already grouped');
    const noG = await runCli(['convert', 'mha.safetensors'], dir);
    expect(noG.code).toBe(1);
    expect(noG.stderr).toContain('--kv-heads G');
    const overwrite = await runCli(['convert', 'mha.safetensors', '--kv-heads', '2', '-o', 'mha.safetensors'], dir);
    expect(overwrite.code).toBe(1);
    expect(overwrite.stderr).toContain('would replace the input');
    const wrongHeads = await runCli(['convert', 'mha.safetensors', '--kv-heads', '2', '--heads', '8'], dir);
    expect(wrongHeads.code).toBe(1);
    expect(wrongHeads.stderr).toContain('--heads 8 disagrees');
  });
});
