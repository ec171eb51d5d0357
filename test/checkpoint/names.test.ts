import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IR_VERSION, type RunIR } from '../../compiler/ir/types.js';
import { attncVersion, checkTensorsFit, decodeCheckpoint, encodeCheckpoint, readCheckpoint, writeCheckpoint, type CheckpointInput } from '../../runtime/checkpoint/names.js';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, fromFloat32, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { f32, keyNormAllocation, paramsFor, span, stateFor, tinyModel } from './fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attnc-ckpt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected a CheckpointError');
}

describe('parameterSpecs', () => {
  it("lists timm's names and PyTorch shapes in state_dict order", () => {
    // D = 8 (4 heads of 2), 3 channels, 4x4 patches, 5 tokens with the class token, MLP 16, 3 classes.
    const m = tinyModel({ depth: 1 });
    expect(parameterSpecs(m)).toEqual([
      { name: 'patch_embed.proj.weight', shape: [8, 3, 4, 4] },
      { name: 'patch_embed.proj.bias', shape: [8] },
      { name: 'cls_token', shape: [1, 1, 8] },
      { name: 'pos_embed', shape: [1, 5, 8] },
      { name: 'blocks.0.norm1.weight', shape: [8] },
      { name: 'blocks.0.norm1.bias', shape: [8] },
      { name: 'blocks.0.attn.qkv.weight', shape: [24, 8] },
      { name: 'blocks.0.attn.qkv.bias', shape: [24] },
      { name: 'blocks.0.attn.proj.weight', shape: [8, 8] },
      { name: 'blocks.0.attn.proj.bias', shape: [8] },
      { name: 'blocks.0.norm2.weight', shape: [8] },
      { name: 'blocks.0.norm2.bias', shape: [8] },
      { name: 'blocks.0.mlp.fc1.weight', shape: [16, 8] },
      { name: 'blocks.0.mlp.fc1.bias', shape: [16] },
      { name: 'blocks.0.mlp.fc2.weight', shape: [8, 16] },
      { name: 'blocks.0.mlp.fc2.bias', shape: [8] },
      { name: 'norm.weight', shape: [8] },
      { name: 'norm.bias', shape: [8] },
      { name: 'head.weight', shape: [3, 8] },
      { name: 'head.bias', shape: [3] },
    ]);
  });

  it('sizes qkv as (heads + 2 kv_heads) * head_dim, and drops cls_token and qkv bias when absent', () => {
    const m = tinyModel({ kvHeads: 1, pool: 'mean', qkvBias: false, depth: 3 });
    const specs = new Map(parameterSpecs(m).map((s) => [s.name, s.shape]));
    expect(specs.get('blocks.2.attn.qkv.weight')).toEqual([(4 + 2 * 1) * 2, 8]);
    expect(specs.get('pos_embed')).toEqual([1, 4, 8]);
    expect(specs.has('cls_token')).toBe(false);
    expect([...specs.keys()].some((n) => n.endsWith('qkv.bias'))).toBe(false);
    // patch_embed (2) + pos_embed, 11 per block, norm (2) + head (2).
    expect(specs.size).toBe(3 + 3 * 11 + 4);
  });

  it('uses each layer its own heads and MLP width', () => {
    const m = tinyModel({ depth: 2 });
    m.layers[1].attention = { ...m.layers[1].attention, kvHeads: 3, allocation: keyNormAllocation };
    m.layers[1].mlp = { hidden: 5, activation: 'gelu' };
    const specs = new Map(parameterSpecs(m).map((s) => [s.name, s.shape]));
    expect(specs.get('blocks.0.attn.qkv.weight')).toEqual([24, 8]);
    expect(specs.get('blocks.1.attn.qkv.weight')).toEqual([20, 8]);
    expect(specs.get('blocks.1.mlp.fc2.weight')).toEqual([8, 5]);
  });
});

describe('stateSpecs', () => {
  it('gives counts, cache and score per K/V group for key_norm layers only', () => {
    const m = tinyModel({ depth: 3, kvHeads: 2, allocation: { 2: keyNormAllocation } });
    expect(stateSpecs(m)).toEqual([
      { name: 'blocks.2.attn.alloc.counts', shape: [2], dtype: 'I32' },
      { name: 'blocks.2.attn.alloc.cache', shape: [2], dtype: 'F32' },
      { name: 'blocks.2.attn.alloc.score', shape: [2], dtype: 'F32' },
    ]);
    expect(stateSpecs(tinyModel())).toEqual([]);
  });
});

const run: RunIR = {
  name: 'train_tiny',
  span,
  model: 'tiny',
  data: { kind: 'synthetic', train: 32, test: 8 },
  augment: [{ kind: 'flip', p: 0.5 }],
  normalize: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  epochs: 2,
  steps: null,
  batch: 8,
  microBatch: 4,
  seed: 7,
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  schedule: { kind: 'cosine', warmupSteps: 2, minLr: 0 },
  labelSmoothing: 0.1,
  clipGrad: 1,
  eval: { everyEpochs: 1, batch: 8 },
};

function fullCheckpoint(): CheckpointInput {
  const model = tinyModel({ kvHeads: 2, allocation: { 1: keyNormAllocation } });
  const params = paramsFor(model);
  return {
    model,
    run,
    params,
    state: stateFor(model),
    optimizer: { m: paramsFor(model, 50), v: paramsFor(model, 80) },
    trainState: { step: 12, epoch: 1, rngState: [1, 2, 3, 4], bestMetric: 0.75 },
    extraMetadata: { note: 'hello' },
  };
}

describe('writeCheckpoint / readCheckpoint', () => {
  it('round-trips parameters, allocation state, optimizer slots and metadata', async () => {
    const path = join(dir, 'ckpt.safetensors');
    const input = fullCheckpoint();
    await writeCheckpoint(path, input);
    const c = await readCheckpoint(path);
    expect(c.meta).toEqual({
      format: 'attnc-checkpoint',
      version: attncVersion(),
      model: input.model,
      run,
      trainState: input.trainState,
      extra: { note: 'hello' },
    });
    expect(c.params).toEqual(input.params);
    expect(c.state).toEqual(input.state);
    expect(c.optimizer).toEqual(input.optimizer);
    expect(await readdir(dir)).toEqual(['ckpt.safetensors']);
  });

  it('stores plain safetensors with string metadata and optimizer.<slot>.<param> names', async () => {
    const path = join(dir, 'ckpt.safetensors');
    await writeCheckpoint(path, fullCheckpoint());
    const { tensors, metadata } = decodeSafetensors(await readFile(path), path);
    expect(metadata.format).toBe('attnc-checkpoint');
    expect(metadata['attnc.ir_version']).toBe(String(IR_VERSION));
    expect(metadata['attnc.version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(JSON.parse(metadata['attnc.model']).layers[1].attention.allocation.policy).toBe('scored');
    expect(JSON.parse(metadata['attnc.run']).name).toBe('train_tiny');
    expect(JSON.parse(metadata['attnc.train_state'])).toMatchObject({ step: 12, epoch: 1 });
    expect(tensors['optimizer.v.blocks.0.attn.qkv.weight'].shape).toEqual([16, 8]);
    expect(tensors['blocks.1.attn.alloc.counts'].dtype).toBe('I32');
    expect(Object.keys(tensors)).toHaveLength(3 * parameterSpecs(fullCheckpoint().model).length + 3);
  });

  it('omits run and train state when not given, and reads lower-precision floats and I64 counts back as F32/I32', () => {
    const model = tinyModel({ allocation: { 0: keyNormAllocation } });
    const params = Object.fromEntries(Object.entries(paramsFor(model)).map(([n, t]) => [n, fromFloat32(t.data as Float32Array, t.shape, 'F16')]));
    const state = stateFor(model);
    state['blocks.0.attn.alloc.counts'] = { dtype: 'I64', shape: [4], data: new BigInt64Array([1n, 1n, 1n, 1n]) };
    const c = decodeCheckpoint(encodeCheckpoint({ model, params, state }), 'half.safetensors');
    expect(c.meta.run).toBeNull();
    expect(c.meta.trainState).toBeNull();
    expect(c.params['head.bias'].dtype).toBe('F32');
    expect((c.params['head.bias'].data as Float32Array)[0]).toBeCloseTo((paramsFor(model)['head.bias'].data as Float32Array)[0], 2);
    expect(c.state['blocks.0.attn.alloc.counts']).toEqual({ dtype: 'I32', shape: [4], data: new Int32Array([1, 1, 1, 1]) });
  });

  it('refuses to write tensors that do not fit the model, leaving no file', async () => {
    const path = join(dir, 'ckpt.safetensors');
    const input = fullCheckpoint();
    delete input.params['head.bias'];
    await expect(writeCheckpoint(path, input)).rejects.toThrow(`${path}: missing parameters (1): head.bias`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a missing file with its name', async () => {
    const path = join(dir, 'nope.safetensors');
    await expect(readCheckpoint(path)).rejects.toThrow(`${path}: cannot read the file: no such file`);
  });
});

describe('validation against the model', () => {
  it("names the tensor, the shapes, the kv_heads the file implies and the conversion", () => {
    // An MHA checkpoint (6 heads of 64) loaded into a model with kv_heads 3.
    const mha = tinyModel({ heads: 6, headDim: 64, depth: 4 });
    const gqa = tinyModel({ heads: 6, headDim: 64, depth: 4, kvHeads: 3 });
    gqa.name = 'vit_s';
    const params = paramsFor(mha);
    delete params['blocks.0.attn.qkv.bias'];
    delete params['blocks.1.attn.qkv.bias'];
    delete params['blocks.2.attn.qkv.bias'];
    delete params['blocks.3.attn.qkv.bias'];
    for (const i of [0, 1, 2]) params[`blocks.${i}.attn.qkv.weight`] = f32([768, 384]);
    const message = thrown(() => checkTensorsFit('ckpt.safetensors', { ...gqa, qkvBias: false }, { params }));
    expect(message).toBe(
      'ckpt.safetensors: tensor blocks.3.attn.qkv.weight has shape [1152,384], the model \'vit_s\' needs [768,384] ' +
        '(kv_heads 6 in the file vs 3 in the model?) — convert it with `attnc convert --kv-heads 3`',
    );
  });

  it('does not suggest conversion when the file is already grouped', () => {
    const model = tinyModel({ kvHeads: 4 });
    const params = paramsFor(model);
    params['blocks.1.attn.qkv.weight'] = f32([(4 + 2 * 2) * 2, 8]);
    params['blocks.1.attn.qkv.bias'] = f32([16]);
    const message = thrown(() => checkTensorsFit('g.safetensors', model, { params }));
    expect(message).toContain("tensor blocks.1.attn.qkv.weight has shape [16,8], the model 'tiny' needs [24,8] (kv_heads 2 in the file vs 4 in the model?)\n");
    expect(message).not.toContain('attnc convert');
  });

  it('lists missing and unexpected tensors, wrong dtypes and incomplete optimizer slots together', () => {
    const model = tinyModel({ allocation: { 1: keyNormAllocation } });
    const params = paramsFor(model);
    delete params['norm.weight'];
    delete params['cls_token'];
    params['fc_norm.weight'] = f32([8]);
    params['head.bias'] = { dtype: 'I32', shape: [3], data: new Int32Array(3) };
    const optimizer = { m: paramsFor(model) };
    delete optimizer.m['pos_embed'];
    const message = thrown(() => checkTensorsFit('x.safetensors', model, { params, optimizer }));
    expect(message.split('\n')).toEqual([
      "x.safetensors: 5 problems with model 'tiny':",
      '  tensor head.bias has dtype I32, expected a float (F32, F16, BF16 or F64)',
      '  missing parameters (2): cls_token, norm.weight',
      "  parameters the model 'tiny' does not have (1): fc_norm.weight",
      '  missing allocation state tensors (3): blocks.1.attn.alloc.counts, blocks.1.attn.alloc.cache, blocks.1.attn.alloc.score',
      '  missing optimizer.m tensors (1): pos_embed',
    ]);
  });

  it('shortens long lists', () => {
    const model = tinyModel({ depth: 4 });
    const message = thrown(() => checkTensorsFit('e.safetensors', model, { params: {} }));
    expect(message).toMatch(/^e\.safetensors: missing parameters \(56\): patch_embed\.proj\.weight, .* and 44 more$/);
  });

  it('refuses files that are not attnc checkpoints, or carry a foreign IR version or broken metadata', () => {
    const model = tinyModel();
    const tensors: Record<string, Tensor> = paramsFor(model);
    const good = decodeSafetensors(encodeCheckpoint({ model, params: tensors }), 'g').metadata;
    const withMeta = (m: Record<string, string>) => encodeSafetensors(tensors, m);

    expect(thrown(() => decodeCheckpoint(withMeta({}), 'timm.safetensors'))).toBe(
      'timm.safetensors: not an attnc checkpoint (metadata \'format\' is null, not "attnc-checkpoint"); for timm weights use `attnc convert`',
    );
    expect(thrown(() => decodeCheckpoint(withMeta({ ...good, 'attnc.ir_version': '0' }), 'old.safetensors'))).toBe(
      `old.safetensors: the checkpoint's model is IR version 0, this attnc reads version ${IR_VERSION}`,
    );
    expect(thrown(() => decodeCheckpoint(withMeta({ ...good, 'attnc.model': '{"name":' }), 'm.safetensors'))).toMatch(
      /^m\.safetensors: metadata 'attnc\.model' is not valid JSON/,
    );
    const noLayers = JSON.stringify({ ...model, layers: [] });
    expect(thrown(() => decodeCheckpoint(withMeta({ ...good, 'attnc.model': noLayers }), 'm.safetensors'))).toBe(
      "m.safetensors: metadata 'attnc.model' is not a model: 'layers' does not list 2 layers",
    );
    expect(thrown(() => decodeCheckpoint(withMeta({ ...good, 'attnc.train_state': '{"epoch":1}' }), 's.safetensors'))).toBe(
      "s.safetensors: metadata 'attnc.train_state' needs whole-number 'step' and 'epoch' of at least 0 (it has step null, epoch 1); the file is damaged or hand-made: use a checkpoint written by attnc train",
    );
  });

  it('checks a read checkpoint against the model stored in it', async () => {
    const model = tinyModel();
    const params = paramsFor(model);
    const bytes = encodeCheckpoint({ model, params });
    const { tensors, metadata } = decodeSafetensors(bytes, 'x');
    tensors['blocks.0.mlp.fc1.weight'] = f32([15, 8]);
    // Written by another tool that keeps attnc's metadata but not its checksums.
    delete metadata['attnc.checksums'];
    const path = join(dir, 'edited.safetensors');
    await writeFile(path, encodeSafetensors(tensors, metadata));
    await expect(readCheckpoint(path)).rejects.toThrow(
      `${path}: tensor blocks.0.mlp.fc1.weight has shape [15,8], the model 'tiny' needs [16,8]`,
    );
  });
});
