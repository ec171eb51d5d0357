// examples/uptraining.attn end to end with one command, as its header says, on the real data sets:
// MHA pretraining on MNIST, the conversion to GQA and up-training on MNIST, fine-tuning on
// Fashion-MNIST (--steps 2 each: the pipeline, not the accuracy). Fashion-MNIST comes from the
// Debian package dataset-fashion-mnist, which CI installs (.ci/run); elsewhere the test says why it skips.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../runtime/checkpoint/names.js';
import { FASHION_MNIST_DIR } from '../runtime/data/mnist.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-uptraining-');
afterAll(cleanup);
const SPEC = path.resolve('examples/uptraining.attn');
const installed = fs.existsSync(FASHION_MNIST_DIR);
if (!installed && !process.env.CI) console.warn(`skipping examples/uptraining.attn end to end: ${FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)`);

describe('examples/uptraining.attn', () => {
  it.runIf(installed || process.env.CI)('pretrain -> convert -> up-train -> fine-tune in one command', async () => {
    const r = await runCli(['train', SPEC, '--run', 'finetune', '--with-deps', '--steps', '2', '--quiet'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run pretrain: model vit_mha, mnist 60000 train \/ 10000 test images, batch 32, 2 steps/);
    expect(r.stdout).toContain("init: 56 tensors from runs/pretrain/last.safetensors (converted to kv_heads 2) (model 'vit_mha'), head included");
    expect(r.stdout).toMatch(/run finetune: model vit_gqa, fashion_mnist 60000 train \/ 10000 test images/);
    expect(r.stdout).toContain("from runs/uptrain/last.safetensors (model 'vit_gqa'), head freshly initialised");
    const finetuned = await readCheckpoint(path.join(dir, 'runs/finetune/last.safetensors'));
    expect(finetuned.meta.model.layers.map((l) => l.attention.kvHeads)).toEqual([2, 2, 2, 2]);
    expect(finetuned.meta.run).toMatchObject({ batch: 32, normalize: { mean: [0.5], std: [0.5] }, init: { run: 'uptrain', convert: null, head: 'fresh' } });
    const uptrained = await readCheckpoint(path.join(dir, 'runs/uptrain/last.safetensors'));
    expect(uptrained.meta.run).toMatchObject({ optimizer: { kind: 'adamw', lr: 1e-5 }, init: { run: 'pretrain', convert: { kvHeads: 2 }, head: 'keep' } });
  }, 600_000);
});
