// `attnc train` and `attnc experiment` of runs that start from other runs (init run NAME) or files,
// in-process on tiny synthetic runs: the missing source named with the command that trains it,
// --with-deps training the chain in order, the MHA -> GQA conversion on the way (against attnc
// convert's own output), the head kept for up-training, --from, a file start, and a grid whose runs
// start from a run trained once per seed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { compileFile } from '../../compiler/compile.js';
import { readStart } from '../../runtime/train/start.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from './fixtures.js';

const { dir, cleanup } = tempDir('attnc-pipeline-train-');
afterAll(cleanup);

const SPEC = `model mha {
  image 8 x 8 x 1   patch 4   dim 16   depth 1   mlp 2x   classes 4
  attention { heads 4 }
}
model gqa extends mha { attention { kv_heads 2 } }
model mqa extends mha { attention { kv_heads 1 } }

train pretrain { model mha  data synthetic(train: 64, test: 32)  steps 3  batch 16  optimizer adamw(lr: 1e-2) }
train uptrain  { model gqa  init run pretrain convert  data synthetic(train: 64, test: 32)  steps 2  batch 16  optimizer adamw(lr: 1e-3) }
train finetune { model gqa  init run uptrain  data synthetic(train: 48, test: 32)  steps 2  batch 16 }
train from_file { model gqa  init "weights/mha.safetensors" convert  data synthetic(train: 64, test: 32)  steps 1  batch 16 }
train not_mha  { model mqa  init "weights/gqa.safetensors" convert  data synthetic(train: 64, test: 32)  steps 1  batch 16 }

experiment grid {
  train  uptrain
  models gqa, mqa
  seeds  0, 1
}
`;
fs.writeFileSync(path.join(dir, 'spec.attn'), SPEC);
const cli = (...args: string[]) => runCli(args, dir);
const tensor = async (file: string, name: string) => Array.from((await readCheckpoint(path.join(dir, file))).params[name]!.data as Float32Array);
// attnc convert CKPT --kv-heads G and a spec's init ... convert read the same pooled weights.

describe('attnc train: runs that start from runs', () => {
  it('names the missing source and the command that trains it', async () => {
    const r = await cli('train', 'spec.attn', '--run', 'finetune', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("run 'finetune' starts from the output of run 'uptrain', but runs/uptrain/last.safetensors does not exist: train it first with\n  attnc train spec.attn --run uptrain\nor let this command train what is missing: add --with-deps");
    expect(fs.existsSync(path.join(dir, 'runs'))).toBe(false);
  });

  it('--with-deps trains the chain in order: pretrain, then uptrain from its converted weights (head kept), then finetune (fresh head)', async () => {
    const r = await cli('train', 'spec.attn', '--run', 'finetune', '--with-deps', '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("run 'uptrain' starts from run 'pretrain': training it first, into runs/pretrain/");
    expect(r.stdout).toContain("run 'finetune' starts from run 'uptrain': training it first, into runs/uptrain/");
    expect(r.stdout).toContain("init: 20 tensors from runs/pretrain/last.safetensors (converted to kv_heads 2) (model 'mha'), head included");
    expect(r.stdout).toMatch(/init: \d+ tensors from runs\/uptrain\/last\.safetensors \(model 'gqa'\), head freshly initialised/);
    for (const run of ['pretrain', 'uptrain', 'finetune']) expect(fs.existsSync(path.join(dir, 'runs', run, 'last.safetensors'))).toBe(true);
    expect(r.stdout.indexOf('run pretrain:')).toBeLessThan(r.stdout.indexOf('run uptrain:'));
  });

  it('starts up-training from exactly what attnc convert makes of the source', async () => {
    expect((await cli('convert', 'runs/pretrain/last.safetensors', '--kv-heads', '2', '-o', 'converted.safetensors')).code).toBe(0);
    const { ir } = compileFile(path.join(dir, 'spec.attn'));
    const uptrain = ir!.runs.find((r) => r.name === 'uptrain')!;
    const model = ir!.models.find((m) => m.name === 'gqa')!;
    const start = await readStart({ ...uptrain, init: uptrain.init! }, model, path.join(dir, 'runs/pretrain/last.safetensors'), 'runs/pretrain/last.safetensors');
    const converted = await readCheckpoint(path.join(dir, 'converted.safetensors'));
    expect(start.keepHead).toBe(true);
    expect(Object.keys(start.checkpoint.params).sort()).toEqual(Object.keys(converted.params).sort());
    for (const [name, t] of Object.entries(converted.params)) expect(Array.from(start.checkpoint.params[name]!.data as Float32Array), name).toEqual(Array.from(t.data as Float32Array));
    expect(converted.params['blocks.0.attn.qkv.weight']!.shape).toEqual([(4 + 2 * 2) * 4, 16]);

    // A file start, relative to the spec's folder, converted to the model's kv_heads; its head is fresh.
    fs.mkdirSync(path.join(dir, 'weights'), { recursive: true });
    fs.copyFileSync(path.join(dir, 'runs/pretrain/last.safetensors'), path.join(dir, 'weights/mha.safetensors'));
    const r = await cli('train', 'spec.attn', '--run', 'from_file', '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("init: 18 tensors from weights/mha.safetensors (converted to kv_heads 2) (model 'mha'), head freshly initialised");
  });

  it('uses sources that are there, and refuses a conversion of grouped weights with the reason', async () => {
    const again = await cli('train', 'spec.attn', '--run', 'finetune', '--with-deps', '--quiet', '--out', 'runs/finetune2');
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('training it first');
    fs.copyFileSync(path.join(dir, 'runs/uptrain/last.safetensors'), path.join(dir, 'weights/gqa.safetensors'));
    const r = await cli('train', 'spec.attn', '--run', 'not_mha', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('weights/gqa.safetensors: the checkpoint is already grouped: layer 0 has kv_heads 2 for 4 heads; conversion starts from MHA');
  });

  it('--from RUN=DIR finds a source elsewhere; a malformed one is refused', async () => {
    fs.renameSync(path.join(dir, 'runs/uptrain'), path.join(dir, 'elsewhere'));
    const missing = await cli('train', 'spec.attn', '--run', 'finetune', '--out', 'runs/ft3', '--quiet');
    expect(missing.stderr).toContain('runs/uptrain/last.safetensors does not exist');
    const r = await cli('train', 'spec.attn', '--run', 'finetune', '--out', 'runs/ft3', '--from', 'uptrain=elsewhere', '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('from elsewhere/last.safetensors');
    expect((await cli('train', 'spec.attn', '--run', 'finetune', '--from', 'uptrain')).stderr).toContain("--from takes RUN=DIR (the folder run RUN trained into), got 'uptrain'");
  });

  it('--init on the command line replaces the spec\'s init', async () => {
    const r = await cli('train', 'spec.attn', '--run', 'finetune', '--init', 'elsewhere/last.safetensors', '--out', 'runs/ft4', '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--init elsewhere/last.safetensors replaces the spec's init of run 'finetune'");
  });
});

describe('attnc experiment: a grid that starts from a run', () => {
  it('trains the source once per seed before the grid, each grid run from its seed\'s source, converted to its model', async () => {
    const r = await cli('experiment', 'spec.attn', '--quiet', '--out', 'exp');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('source pretrain/seed0: training into exp/sources/pretrain/seed0/');
    expect(r.stdout).toContain('source pretrain/seed1: training into exp/sources/pretrain/seed1/');
    expect(r.stdout.match(/source pretrain/g)).toHaveLength(2);
    for (const run of ['gqa/seed0', 'gqa/seed1', 'mqa/seed0', 'mqa/seed1']) expect(fs.existsSync(path.join(dir, 'exp', run, 'last.safetensors'))).toBe(true);
    const mqa = await readCheckpoint(path.join(dir, 'exp/mqa/seed1/last.safetensors'));
    expect(mqa.meta.model.layers[0]!.attention.kvHeads).toBe(1);
    expect(mqa.meta.run!.init).toEqual({ run: 'pretrain', convert: { kvHeads: 1 }, head: 'keep' });
    // The sources are seeded as the grid: two different pretrainings.
    const a = await tensor('exp/sources/pretrain/seed0/last.safetensors', 'blocks.0.attn.qkv.weight');
    const b = await tensor('exp/sources/pretrain/seed1/last.safetensors', 'blocks.0.attn.qkv.weight');
    expect(a).not.toEqual(b);
    const again = await cli('experiment', 'spec.attn', '--quiet', '--out', 'exp');
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('source pretrain');
  });
});

describe('attnc train of one grid run by name', () => {
  it('finds the base run\'s source as the grid does, and names it when it is missing', async () => {
    const r = await cli('train', 'spec.attn', '--run', 'grid/mqa/seed0', '--out', 'lone', '--quiet', '--from', 'pretrain=nowhere');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("run 'grid/mqa/seed0' starts from the output of run 'pretrain', but nowhere/last.safetensors does not exist: train it first with\n  attnc train spec.attn --run pretrain --out nowhere");
    const ok = await cli('train', 'spec.attn', '--run', 'grid/mqa/seed0', '--out', 'lone', '--quiet', '--from', 'pretrain=exp/sources/pretrain/seed0');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('from exp/sources/pretrain/seed0/last.safetensors (converted to kv_heads 1)');
  });
});
