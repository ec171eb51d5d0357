// Pipelines and run sweeps in the language: `init run NAME [convert(kv_heads: N)]` and `init "file"`
// in train blocks, sweeps over run fields, optimizer and schedule arguments and data sets. What the
// compiler makes of them (the IR), what it refuses (located diagnostics with their codes; the golden
// cases test/golden/errors/shapes/init_runs.attn and sweep_run_fields.attn pin the full output), the
// IR checks of documents read back, and the formatter's round trip.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { format } from '../compiler/fmt.js';
import { loadIrDocument } from '../compiler/ir/validate.js';
import { initChain } from '../compiler/init-runs.js';
import { emitPytorch } from '../compiler/targets/pytorch/emit.js';
import { parse } from '../grammar/index.js';
import { tempDir } from './train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-pipeline-');
afterAll(cleanup);

const MODELS = `model mha {
  image 28 x 28 x 1   patch 14   dim 16   depth 2   mlp 2x   classes 10
  attention { heads 4 }
}
model gqa extends mha { attention { kv_heads 2 } }
model mqa extends mha { attention { kv_heads 1 } }
`;

function compile(text: string, name = 'spec.attn') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  const result = compileFile(file, { displayBase: dir });
  return { ...result, codes: result.diagnostics.map((d) => `${d.code}@${d.span?.line}:${d.span?.col}`) };
}

describe('init in train blocks', () => {
  it('compiles the shipped up-training recipe: pretrain -> convert -> up-train -> fine-tune', () => {
    const { ir, diagnostics } = compileFile('examples/uptraining.attn');
    expect(diagnostics).toEqual([]);
    const run = (name: string) => ir!.runs.find((r) => r.name === name)!;
    expect(run('pretrain').init).toBeUndefined();
    // Up-training goes on with the same data: the head comes along; fine-tuning on other data gets a fresh one.
    expect(run('uptrain').init).toEqual({ run: 'pretrain', convert: { kvHeads: 2 }, head: 'keep' });
    expect(run('finetune').init).toEqual({ run: 'uptrain', convert: null, head: 'fresh' });
    expect(run('finetune').data).toEqual({ kind: 'fashion_mnist', path: null });
    expect(initChain(ir!.runs, 'finetune').map((r) => r.name)).toEqual(['pretrain', 'uptrain']);
  });

  it('a bare convert converts to the model\'s kv_heads; a file start keeps its path and gets a fresh head', () => {
    const { ir, diagnostics } = compile(`${MODELS}
train pre { model mha  data synthetic(train: 64, test: 32)  steps 2 }
train up  { model mqa  init run pre convert  data synthetic(train: 64, test: 32)  steps 2 }
train ft  { model gqa  init "weights/mha.safetensors" convert(kv_heads: 2)  steps 2 }
train raw { model mha  init "weights/mha.safetensors"  steps 2 }
`);
    expect(diagnostics).toEqual([]);
    expect(ir!.runs.find((r) => r.name === 'up')!.init).toEqual({ run: 'pre', convert: { kvHeads: 1 }, head: 'keep' });
    expect(ir!.runs.find((r) => r.name === 'ft')!.init).toEqual({ file: 'weights/mha.safetensors', convert: { kvHeads: 2 }, head: 'fresh' });
    expect(ir!.runs.find((r) => r.name === 'raw')!.init).toEqual({ file: 'weights/mha.safetensors', convert: null, head: 'fresh' });
  });

  it('refuses starts that do not fit, conversions of grouped sources, cycles and malformed values, each at its place', () => {
    const { codes } = compile(`${MODELS}
train pre  { model mha  steps 2 }
train grp  { model gqa  steps 2 }
train a    { model gqa  init run pre  steps 2 }
train b    { model gqa  init run grp convert  steps 2 }
train c    { model gqa  init run pre convert(kv_heads: 1)  steps 2 }
train d    { model gqa  init run c  steps 2 }
train e    { model mha  init run e  steps 2 }
train f    { model mha  init run  steps 2 }
train g    { model mha  init run pre convert(kv_heads: 2) "x"  steps 2 }
train h    { model mha  init run pre shrink(2)  steps 2 }
`);
    expect(codes).toEqual([
      'AT4022@10:30', // gqa cannot take mha's qkv without convert
      'AT4019@11:38', // grp is grouped already
      'AT4020@12:38', // convert to 1 K/V head for a model with 2
      'AT4018@14:34', // e starts from itself
      'AT3005@15:30', // run without a name
      'AT3005@16:59', // a value after convert
      'AT3006@17:38', // not convert
    ]);
  });

  it('an unknown source run is named with the nearest run', () => {
    const { diagnostics } = compile(`${MODELS}\ntrain pretrain { model mha  steps 2 }\ntrain up { model mha  init run pretrian  steps 2 }\n`);
    expect(diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["AT2005 unknown train run 'pretrian'; did you mean 'pretrain'?"]);
  });

  it('IR documents read back are checked: the source run exists and the starts make no cycle', () => {
    const { ir } = compileFile('examples/uptraining.attn');
    const broken = structuredClone(ir!);
    broken.runs.find((r) => r.name === 'pretrain')!.init = { run: 'finetune', convert: null, head: 'fresh' };
    const cycle = loadIrDocument(JSON.stringify(broken), 'x.ir.json');
    expect(cycle.diagnostics.map((d) => d.message)).toContainEqual(expect.stringMatching(/runs start from each other in a cycle: pretrain -> finetune -> uptrain -> pretrain/));
    broken.runs.find((r) => r.name === 'pretrain')!.init = { run: 'nowhere', convert: null, head: 'fresh' };
    expect(loadIrDocument(JSON.stringify(broken), 'x.ir.json').diagnostics.map((d) => d.message)).toContainEqual(expect.stringMatching(/\/runs\/0\/init\/run: unknown train run 'nowhere'/));
    const mismatched = structuredClone(ir!);
    mismatched.runs.find((r) => r.name === 'uptrain')!.init = { run: 'pretrain', convert: null, head: 'keep' };
    expect(loadIrDocument(JSON.stringify(mismatched), 'x.ir.json').diagnostics.map((d) => d.code)).toEqual(['AT5004']);
  });
});

describe('the PyTorch target of a run that starts from another run', () => {
  it('leaves init out of the package IR, which then loads back on its own', () => {
    const { ir } = compileFile('examples/uptraining.attn');
    const pkg = emitPytorch(ir!, { run: 'uptrain' });
    const text = pkg.files['ir.json']!;
    expect(JSON.parse(text).runs[0].init).toBeUndefined();
    expect(loadIrDocument(text, 'ir.json').diagnostics).toEqual([]);
  });
});

describe('sweeps over run fields and data', () => {
  it('derives a run per point of run values, named after them, and labels the grid runs with them', () => {
    const { ir, diagnostics } = compile(`${MODELS}
train base {
  model gqa  data idx "digits"  steps 4  batch 16
  optimizer adamw(lr: 1e-3)
  schedule cosine(warmup: 1 steps)
}
experiment grid {
  train base
  models gqa, mqa
  seeds 0, 1
  sweep {
    kv_heads 2
    lr       1e-3, 3e-4
    epochs   1
    data     idx "a", idx "b"
    warmup   2
  }
}
`);
    expect(diagnostics).toEqual([]);
    const derived = ir!.runs.filter((r) => r.name.startsWith('base__'));
    expect(derived.map((r) => r.name)).toEqual([
      'base__lr_1e_3__epochs_1__data_idx_a__warmup_2', 'base__lr_1e_3__epochs_1__data_idx_b__warmup_2',
      'base__lr_3e_4__epochs_1__data_idx_a__warmup_2', 'base__lr_3e_4__epochs_1__data_idx_b__warmup_2',
    ]);
    const last = derived[3]!;
    expect(last).toMatchObject({ epochs: 1, steps: null, data: { kind: 'idx', path: 'b' }, schedule: { kind: 'cosine', warmupSteps: 2 } });
    expect(last.optimizer).toMatchObject({ kind: 'adamw', lr: 3e-4, weightDecay: 0.05 });
    const runs = ir!.experiments[0]!.runs;
    expect(runs).toHaveLength(2 * 4 * 2);
    expect(runs[0]).toEqual({ name: 'grid/gqa__kv_heads_2__lr_1e_3__epochs_1__data_idx_a__warmup_2/seed0', model: 'gqa__kv_heads_2', seed: 0, run: 'base__lr_1e_3__epochs_1__data_idx_a__warmup_2' });
    expect(runs.at(-1)!.model).toBe('mqa__kv_heads_2');
  });

  it('checks every point: a bad value once, at the value; arguments the optimizer lacks; what cannot be swept', () => {
    const { codes } = compile(`${MODELS}
train base { model gqa  data synthetic(train: 64, test: 32)  steps 2  batch 16  optimizer sgd(lr: 0.1) }
experiment a { train base  sweep { micro_batch 16, 5  lr 0.1, 0.01 } }
experiment b { train base  sweep { data mnist, cifar10 "x"  momentum 0.5 } }  # fine: both have 10 classes, sgd takes momentum
experiment c { train base  sweep { model gqa  init run base  augment flip } }
experiment d { train base  sweep { lr 0.1, -1 } }
`);
    expect(codes).toEqual([
      'AT4009@9:52', // micro_batch 5 does not divide 16 (once, though two lr values make two points with it)
      'AT3019@11:36', 'AT3019@11:47', 'AT3019@11:62', // model, init and augment are not swept
      'AT3007@12:44', // lr -1
    ]);
  });

  it('a start from another run must fit every model of the grid', () => {
    const { diagnostics } = compile(`${MODELS}
train pre { model mha  data synthetic(train: 64, test: 32)  steps 2 }
train up  { model gqa  init run pre convert(kv_heads: 2)  data synthetic(train: 64, test: 32)  steps 2 }
experiment by_model { train up  models gqa, mqa }
`);
    expect(diagnostics.map((d) => `${d.code}@${d.span?.line}: ${d.message}`)).toEqual([
      "AT4020@9: convert(kv_heads: 2) makes 2 K/V heads per layer, but model 'mqa' has kv_heads 1 in layer 0",
    ]);
    // A bare convert follows each model's kv_heads, so the same grid compiles.
    expect(compile(`${MODELS}
train pre { model mha  data synthetic(train: 64, test: 32)  steps 2 }
train up  { model gqa  init run pre convert  data synthetic(train: 64, test: 32)  steps 2 }
experiment by_model { train up  models gqa, mqa  sweep { kv_heads 1, 2, 4 } }
`, 'bare.attn').diagnostics).toEqual([]);
  });
});

describe('attnc fmt keeps the new syntax', () => {
  for (const text of [
    fs.readFileSync('examples/uptraining.attn', 'utf8'),
    `${MODELS}train t { model mha  init "w.safetensors" convert(kv_heads: 2)  steps 2 }\nexperiment e { train t  sweep { data cifar10 "a", cifar100 "b"  lr 1e-3, 1e-4 } }\n`,
  ]) {
    it(`round-trips ${text.slice(0, 40).split('\n')[0]}...`, () => {
      const once = format(parse(text, 'x.attn').ast);
      expect(format(parse(once, 'x.attn').ast)).toBe(once);
      expect(once).toMatch(/init +(run pretrain|"w\.safetensors") convert\(kv_heads: 2\)/);
      if (text.includes('cifar100')) expect(once).toContain('data cifar10 "a", cifar100 "b"');
    });
  }
});
