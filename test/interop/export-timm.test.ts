// `attnc export CKPT --timm -o FILE` (issue 13): the weights only, in timm's VisionTransformer names,
// shapes and order, `format: pt`; grouped models are refused with why and what to load instead.
// timm's state_dict is written out below from timm's module tree (vision_transformer.py), not from
// attnc's parameter table, so the two are checked against each other.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { decodeSafetensors } from '../../runtime/checkpoint/safetensors.js';
import type { TimmKwargs } from '../../runtime/checkpoint/timm-export.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-export-');
afterAll(cleanup);

/** timm's VisionTransformer(**kwargs).state_dict(): names and shapes, in module order. */
function timmStateDict(k: TimmKwargs): [string, number[]][] {
  const D = k.embed_dim;
  const hidden = Math.floor(D * k.mlp_ratio);
  const tokens = (k.img_size[0] / k.patch_size) * (k.img_size[1] / k.patch_size) + (k.class_token ? 1 : 0);
  const out: [string, number[]][] = [];
  if (k.class_token) out.push(['cls_token', [1, 1, D]]);
  out.push(['pos_embed', [1, tokens, D]], ['patch_embed.proj.weight', [D, k.in_chans, k.patch_size, k.patch_size]], ['patch_embed.proj.bias', [D]]);
  for (let i = 0; i < k.depth; i++) {
    const b = `blocks.${i}`;
    out.push([`${b}.norm1.weight`, [D]], [`${b}.norm1.bias`, [D]], [`${b}.attn.qkv.weight`, [3 * D, D]]);
    if (k.qkv_bias) out.push([`${b}.attn.qkv.bias`, [3 * D]]);
    out.push([`${b}.attn.proj.weight`, [D, D]], [`${b}.attn.proj.bias`, [D]], [`${b}.norm2.weight`, [D]], [`${b}.norm2.bias`, [D]]);
    out.push([`${b}.mlp.fc1.weight`, [hidden, D]], [`${b}.mlp.fc1.bias`, [hidden]], [`${b}.mlp.fc2.weight`, [D, hidden]], [`${b}.mlp.fc2.bias`, [D]]);
  }
  // With fc_norm the final norm is timm's fc_norm; attnc's order (norm, then pool) is fc_norm=False.
  out.push(['norm.weight', [D]], ['norm.bias', [D]], ['head.weight', [k.num_classes, D]], ['head.bias', [k.num_classes]]);
  return out;
}

const sorted = (xs: [string, number[]][]) => [...xs].sort((a, b) => a[0].localeCompare(b[0]));

describe('attnc export --timm', () => {
  beforeAll(async () => {
    for (const [name, model] of [
      ['mha', tinyModel({ name: 'tiny_mha', kvHeads: 2 })],
      ['mean', tinyModel({ name: 'tiny_mean', kvHeads: 2, pool: 'mean', qkvBias: false })],
      ['gqa', tinyModel({ name: 'tiny_gqa', heads: 2, kvHeads: 1 })],
    ] as const) {
      const spec = writeSpec(dir, irDocument([model], [tinyRun({ model: model.name, steps: 2, epochs: null })]), name);
      const r = await runCli(['train', spec, '--out', name, '--quiet'], dir);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  for (const name of ['mha', 'mean']) {
    it(`an MHA model (${name === 'mha' ? 'class token, qkv bias' : 'mean pooling, no qkv bias'}): timm's names, shapes and values, format pt, nothing else`, async () => {
      const r = await runCli(['export', `${name}/last.safetensors`, '--timm', '-o', `${name}.timm.safetensors`], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${name}.timm.safetensors`);
      expect(r.stdout).toMatch(/left out: \d+ optimizer tensors \(m, v\), the training state/);
      expect(r.stdout).toContain('model.load_state_dict(load_file("' + name + '.timm.safetensors"), strict=True)');
      const file = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, `${name}.timm.safetensors`))), 'x');
      expect(file.metadata?.format).toBe('pt');
      const kwargs = JSON.parse(file.metadata!['attnc.timm_kwargs']!) as TimmKwargs;
      expect(kwargs).toMatchObject({ img_size: [8, 8], patch_size: 4, in_chans: 1, num_classes: 4, embed_dim: 16, depth: 1, num_heads: 2, mlp_ratio: 2 });
      expect(kwargs.class_token).toBe(name === 'mha');
      expect(kwargs.global_pool).toBe(name === 'mha' ? 'token' : 'avg');
      const got = Object.entries(file.tensors).map(([n, t]) => [n, t.shape] as [string, number[]]);
      expect(sorted(got)).toEqual(sorted(timmStateDict(kwargs)));
      for (const t of Object.values(file.tensors)) expect(t.dtype).toBe('F32');
      const ckpt = await readCheckpoint(path.join(dir, name, 'last.safetensors'));
      for (const [n, t] of Object.entries(file.tensors)) expect(Array.from(t.data as Float32Array), n).toEqual(Array.from(ckpt.params[n]!.data as Float32Array));
      expect(r.stdout).toContain(`VisionTransformer(img_size=(8, 8), patch_size=4, in_chans=1, num_classes=4, embed_dim=16, depth=1, num_heads=2, mlp_ratio=2, qkv_bias=${name === 'mha' ? 'True' : 'False'}`);
    });
  }

  it('a grouped model is refused, saying why and what to load instead', async () => {
    const r = await runCli(['export', 'gqa/last.safetensors', '--timm', '-o', 'gqa.timm.safetensors'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'tiny_gqa' cannot be expressed as timm's VisionTransformer");
    expect(r.stderr).toContain('mqa attention (2 query heads over 1 K/V heads)');
    expect(r.stderr).toContain('--target pytorch');
    expect(fs.existsSync(path.join(dir, 'gqa.timm.safetensors'))).toBe(false);
  });

  it('needs --timm and -o, and names a spec given as the checkpoint', async () => {
    expect((await runCli(['export', 'mha/last.safetensors', '-o', 'x'], dir)).stderr).toContain('--timm');
    expect((await runCli(['export', 'mha/last.safetensors', '--timm'], dir)).stderr).toContain('-o FILE');
    expect((await runCli(['export', 'mha.ir.json', '--timm', '-o', 'y'], dir)).stderr).toContain('this is a JSON file');
  });

  // Where timm and safetensors are installed for Python (ATTNC_TIMM_PYTHON=/path/to/python), the real thing.
  const timmPython = process.env.ATTNC_TIMM_PYTHON;
  it.skipIf(!timmPython)('timm loads it with load_state_dict(strict=True)', () => {
    const file = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'mha.timm.safetensors'))), 'x');
    const kwargs = file.metadata!['attnc.timm_kwargs']!;
    const script = [
      'import json, sys',
      'from safetensors.torch import load_file',
      'from timm.models.vision_transformer import VisionTransformer',
      `k = json.loads(${JSON.stringify(kwargs)})`,
      "k['img_size'] = tuple(k['img_size'])",
      "k = {a: b for a, b in k.items() if b is not None}",
      'm = VisionTransformer(**k)',
      `m.load_state_dict(load_file(${JSON.stringify(path.join(dir, 'mha.timm.safetensors'))}), strict=True)`,
      "print('loaded')",
    ].join('\n');
    const r = spawnSync(timmPython!, ['-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('loaded');
  });
});
