import { describe, expect, it } from 'vitest';
import { convertToGqa, inferModelFromTimm, loadForConversion, poolQkv } from '../../runtime/checkpoint/convert.js';
import { checkTensorsFit, decodeCheckpoint, encodeCheckpoint } from '../../runtime/checkpoint/names.js';
import { parameterSpecs } from '../../compiler/ir/params.js';
import { CheckpointError, encodeSafetensors, fromFloat32, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { f32, keyNormAllocation, paramsFor, stateFor, tinyModel } from './fixtures.js';

function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected a CheckpointError');
}

/** qkv weight of 4 heads of 2 (D = 8) with W[row][col] = 10 * row + col, and bias b[row] = row. */
function tinyQkv(): { weight: Tensor; bias: Tensor } {
  const weight = new Float32Array(24 * 8);
  for (let r = 0; r < 24; r++) for (let c = 0; c < 8; c++) weight[r * 8 + c] = 10 * r + c;
  const bias = Float32Array.from({ length: 24 }, (_, r) => r);
  return { weight: { dtype: 'F32', shape: [24, 8], data: weight }, bias: { dtype: 'F32', shape: [24], data: bias } };
}

const rows = (data: Float32Array, cols: number) => Array.from({ length: data.length / cols }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols)));
const plus = (base: number) => Array.from({ length: 8 }, (_, c) => base + c);

describe('mean-pooling keys and values', () => {
  it('H=4 -> G=2: group g averages heads 2g and 2g+1, row by row; queries are kept', () => {
    const { weight, bias } = tinyQkv();
    const w = rows(poolQkv(weight.data as Float32Array, 8, 4, 2, 2), 8);
    expect(w).toHaveLength(16);
    // Queries: rows 0..7 unchanged.
    for (let r = 0; r < 8; r++) expect(w[r]).toEqual(plus(10 * r));
    // Keys are rows 8..15 of the input: head h is rows 8+2h, 9+2h.
    expect(w[8]).toEqual(plus(90)); // (row 8 + row 10) / 2: heads 0 and 1, row 0
    expect(w[9]).toEqual(plus(100)); // (row 9 + row 11) / 2
    expect(w[10]).toEqual(plus(130)); // (row 12 + row 14) / 2: heads 2 and 3
    expect(w[11]).toEqual(plus(140));
    // Values are rows 16..23.
    expect(w[12]).toEqual(plus(170)); // (16 + 18) / 2
    expect(w[13]).toEqual(plus(180));
    expect(w[14]).toEqual(plus(210)); // (20 + 22) / 2
    expect(w[15]).toEqual(plus(220));
    expect(Array.from(poolQkv(bias.data as Float32Array, 1, 4, 2, 2))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 14, 17, 18, 21, 22]);
  });

  it('H=4 -> G=1 averages all heads; G=H is the identity', () => {
    const { bias } = tinyQkv();
    expect(Array.from(poolQkv(bias.data as Float32Array, 1, 4, 1, 2))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 19, 20]);
    expect(poolQkv(bias.data as Float32Array, 1, 4, 4, 2)).toEqual(bias.data);
  });
});

describe('convertToGqa on an attnc checkpoint', () => {
  it('pools every block, updates the model and keeps the other tensors', () => {
    const model = tinyModel();
    const params = paramsFor(model);
    const { weight, bias } = tinyQkv();
    params['blocks.1.attn.qkv.weight'] = weight;
    params['blocks.1.attn.qkv.bias'] = bias;
    const optimizer = { m: paramsFor(model, 3) };
    const tensors: Record<string, Tensor> = { ...params };
    for (const [n, t] of Object.entries(optimizer.m)) tensors[`optimizer.m.${n}`] = t;

    const result = convertToGqa(tensors, model, 2, 'mha.safetensors');
    expect(result.model.layers.map((l) => [l.attention.kvHeads, l.attention.variant, l.attention.allocation])).toEqual([
      [2, 'gqa', { policy: 'uniform' }],
      [2, 'gqa', { policy: 'uniform' }],
    ]);
    expect(model.layers[0].attention.kvHeads).toBe(4); // the input model is not modified
    checkTensorsFit('converted', result.model, { params: result.tensors });
    expect(result.tensors['blocks.1.attn.qkv.weight'].shape).toEqual([16, 8]);
    expect(rows(result.tensors['blocks.1.attn.qkv.weight'].data as Float32Array, 8)[10]).toEqual(plus(130));
    expect(Array.from(result.tensors['blocks.1.attn.qkv.bias'].data as Float32Array).slice(8)).toEqual([9, 10, 13, 14, 17, 18, 21, 22]);
    expect(result.tensors['blocks.0.mlp.fc1.weight']).toBe(params['blocks.0.mlp.fc1.weight']);
    expect(result.ignored).toHaveLength(parameterSpecs(model).length);
    expect(result.ignored[0].reason).toBe('optimizer state of the MHA weights does not carry over');
    // The result writes and reads back as a checkpoint of the converted model.
    const back = decodeCheckpoint(encodeCheckpoint({ model: result.model, params: result.tensors }), 'gqa.safetensors');
    expect(back.meta.model.layers[0].attention.kvHeads).toBe(2);
  });

  it('labels MQA, keeps PGQA, and drops allocation state', () => {
    const model = tinyModel({ allocation: { 0: keyNormAllocation } });
    model.layers[1].attention.perturb = { distribution: 'gaussian', scale: 0.1, at: 'output', during: 'train' };
    const result = convertToGqa({ ...paramsFor(model), ...stateFor(model) }, model, 1);
    expect(result.model.layers.map((l) => l.attention.variant)).toEqual(['mqa', 'pgqa']);
    expect(result.model.layers[1].attention.perturb).toEqual(model.layers[1].attention.perturb);
    expect(result.ignored.map((i) => i.name)).toEqual(['blocks.0.attn.alloc.counts', 'blocks.0.attn.alloc.cache', 'blocks.0.attn.alloc.score']);
    expect(result.ignored[0].reason).toBe('allocation state does not apply to uniform groups');
  });

  it('keeps the precision of F16 weights', () => {
    const model = tinyModel({ depth: 1 });
    const params = paramsFor(model);
    const { weight } = tinyQkv();
    params['blocks.0.attn.qkv.weight'] = fromFloat32(weight.data as Float32Array, weight.shape, 'F16');
    const out = convertToGqa(params, model, 2).tensors['blocks.0.attn.qkv.weight'];
    expect(out.dtype).toBe('F16');
    expect(out.shape).toEqual([16, 8]);
  });

  it('refuses kv_heads that do not divide the heads, already grouped checkpoints, and mislabelled shapes', () => {
    const model = tinyModel();
    expect(thrown(() => convertToGqa(paramsFor(model), model, 3, 'a.safetensors'))).toBe(
      'a.safetensors: kv_heads 3 must divide the 4 heads of layer 0; choose from 1, 2, 4',
    );
    expect(thrown(() => convertToGqa(paramsFor(model), model, 0, 'a.safetensors'))).toBe('a.safetensors: kv_heads must be a whole number >= 1, got 0');
    const grouped = tinyModel({ kvHeads: 2 });
    expect(thrown(() => convertToGqa(paramsFor(grouped), grouped, 1, 'g.safetensors'))).toBe(
      'g.safetensors: the checkpoint is already grouped: layer 0 has kv_heads 2 for 4 heads; conversion starts from MHA',
    );
    // The model says MHA but the tensor is grouped.
    const params = paramsFor(model);
    params['blocks.0.attn.qkv.weight'] = f32([16, 8]);
    expect(thrown(() => convertToGqa(params, model, 2, 'x.safetensors'))).toBe(
      'x.safetensors: tensor blocks.0.attn.qkv.weight has shape [16,8], but MHA with 4 heads of 2 needs [24,8]; the checkpoint is already grouped, or the number of heads is wrong',
    );
  });
});

/** timm VisionTransformer state_dict names for a depth-2 ViT: 4 heads of 2, 8x8x3 images in 4x4 patches, 3 classes. */
function timmTensors(): Record<string, Tensor> {
  const t: Record<string, Tensor> = {
    cls_token: f32([1, 1, 8]),
    pos_embed: f32([1, 5, 8]),
    'patch_embed.proj.weight': f32([8, 3, 4, 4]),
    'patch_embed.proj.bias': f32([8]),
    'norm.weight': f32([8]),
    'norm.bias': f32([8]),
    'fc_norm.weight': f32([8]),
    'fc_norm.bias': f32([8]),
    'head.weight': f32([3, 8]),
    'head.bias': f32([3]),
  };
  for (const i of [0, 1]) {
    const b = `blocks.${i}`;
    Object.assign(t, {
      [`${b}.norm1.weight`]: f32([8]),
      [`${b}.norm1.bias`]: f32([8]),
      [`${b}.attn.qkv.weight`]: tinyQkv().weight,
      [`${b}.attn.qkv.bias`]: tinyQkv().bias,
      [`${b}.attn.proj.weight`]: f32([8, 8]),
      [`${b}.attn.proj.bias`]: f32([8]),
      [`${b}.norm2.weight`]: f32([8]),
      [`${b}.norm2.bias`]: f32([8]),
      [`${b}.mlp.fc1.weight`]: f32([32, 8]),
      [`${b}.mlp.fc1.bias`]: f32([32]),
      [`${b}.mlp.fc2.weight`]: f32([8, 32]),
      [`${b}.mlp.fc2.bias`]: f32([8]),
    });
  }
  return t;
}

describe('timm weights', () => {
  it('infers the model from the shapes', () => {
    const m = inferModelFromTimm(timmTensors(), { heads: 4, name: 'vit_tiny', file: 'timm.safetensors' });
    expect(m).toMatchObject({
      name: 'vit_tiny',
      image: { height: 8, width: 8, channels: 3 },
      patch: 4,
      patches: 4,
      tokens: 5,
      dim: 8,
      depth: 2,
      classes: 3,
      pool: 'cls',
      qkvBias: true,
      norm: { kind: 'layernorm', eps: 1e-6 },
    });
    expect(m.layers[1]).toMatchObject({ index: 1, mlp: { hidden: 32 }, attention: { variant: 'mha', heads: 4, kvHeads: 4, headDim: 2, allocation: { policy: 'uniform' } } });
    expect(m.span.file).toBe('timm.safetensors');
    const grouped = inferModelFromTimm({ ...timmTensors(), 'blocks.1.attn.qkv.weight': f32([16, 8]) }, { heads: 4 });
    expect(grouped.layers.map((l) => [l.attention.kvHeads, l.attention.variant])).toEqual([[4, 'mha'], [2, 'gqa']]);
  });

  it('converts a timm file end to end: the result fits the converted model and reports what it ignored', () => {
    const file = encodeSafetensors(timmTensors(), { format: 'pt' });
    const source = loadForConversion(file, 'vit.safetensors', { heads: 4 });
    expect(source.origin).toBe('timm');
    const result = convertToGqa(source.tensors, source.model, 2, 'vit.safetensors');
    expect(result.ignored).toEqual([
      { name: 'fc_norm.bias', reason: "timm's norm after pooling (fc_norm) has no counterpart in attnc's ViT" },
      { name: 'fc_norm.weight', reason: "timm's norm after pooling (fc_norm) has no counterpart in attnc's ViT" },
    ]);
    checkTensorsFit('converted', result.model, { params: result.tensors });
    const back = decodeCheckpoint(encodeCheckpoint({ model: result.model, params: result.tensors }), 'gqa.safetensors');
    expect(rows(back.params['blocks.0.attn.qkv.weight'].data as Float32Array, 8)[14]).toEqual(plus(210));
    // And an attnc checkpoint loads for conversion with its own model.
    const again = loadForConversion(encodeCheckpoint({ model: source.model, params: paramsFor(source.model) }), 'a.safetensors');
    expect(again.origin).toBe('attnc');
    expect(again.model).toEqual(source.model);
  });

  it('needs the heads for a timm file', () => {
    expect(thrown(() => loadForConversion(encodeSafetensors(timmTensors()), 'v.safetensors'))).toMatch(/^v\.safetensors: has no attnc metadata.*\(--heads\)/);
  });

  it('explains shapes that do not make a supported ViT', () => {
    const t = timmTensors();
    expect(thrown(() => inferModelFromTimm(t, { heads: 3, file: 'v' }))).toBe('v: heads (3) must be a whole number that divides dim (8)');
    // An MHA qkv (3 * dim rows) fits any heads dividing dim; a row count that fits no kv_heads does not.
    expect(thrown(() => inferModelFromTimm({ ...t, 'blocks.0.attn.qkv.weight': f32([18, 8]) }, { heads: 4, file: 'v' }))).toBe(
      'v: blocks.0.attn.qkv.weight has 18 rows, which is not (heads + 2 * kv_heads) * 2 for 4 heads; check --heads',
    );
    expect(thrown(() => inferModelFromTimm({ ...t, pos_embed: f32([1, 4, 8]) }, { heads: 4, file: 'v' }))).toBe(
      "v: pos_embed has 4 positions, a square grid without the class token (timm's no_embed_class), which attnc does not support",
    );
    expect(thrown(() => inferModelFromTimm({ ...t, pos_embed: f32([1, 7, 8]) }, { heads: 4, file: 'v' }))).toBe(
      'v: pos_embed has 7 positions, which is not a square grid of patches plus the class token',
    );
    const { 'blocks.1.norm1.weight': _, ...rest } = t;
    const gap = Object.fromEntries(Object.entries(rest).map(([n, x]) => [n.replace('blocks.1.', 'blocks.2.'), x]));
    expect(thrown(() => inferModelFromTimm(gap, { heads: 4, file: 'v' }))).toBe('v: blocks are not numbered 0..1 (block 1 is missing)');
    const { 'head.weight': __, ...headless } = t;
    expect(thrown(() => inferModelFromTimm(headless, { heads: 4, file: 'v' }))).toBe('v: tensor head.weight is missing; is this a timm VisionTransformer checkpoint?');
  });

  it('refuses weights whose computation attnc does not have instead of dropping them', () => {
    const t = { ...timmTensors(), 'blocks.0.ls1.gamma': f32([8]), 'blocks.1.ls1.gamma': f32([8]), reg_token: f32([1, 4, 8]) };
    expect(thrown(() => convertToGqa(t, tinyModel(), 2, 'deit3.safetensors'))).toBe(
      "deit3.safetensors: the weights use features attnc's ViT does not have, so they cannot be loaded faithfully:\n" +
        '  LayerScale (ls1/ls2): blocks.0.ls1.gamma, blocks.1.ls1.gamma\n' +
        '  register or distillation tokens: reg_token',
    );
    expect(() => inferModelFromTimm(t, { heads: 4 })).toThrow(/LayerScale/);
  });
});
