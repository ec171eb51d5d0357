// `attnc train` on .attn specs: data paths relative to the spec's folder (not the current folder),
// experiment runs by name, and an IR file compiled from the spec trains the same way.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { uniformFloats } from '../../core/random.js';
import { runCli } from '../helpers/cli.js';
import { writeIdx } from '../data/helpers.js';
import { metricsWithoutTiming, tempDir } from './fixtures.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

/** 8x8 gray images of 4 classes of stripes: rows, columns, a checkerboard, double rows; plus noise. */
function writeStripes(folder: string, split: 'train' | 't10k', count: number): void {
  const sign = [(y: number) => y, (_: number, x: number) => x, (y: number, x: number) => x + y, (y: number) => y >> 1];
  const pixels = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  const noise = uniformFloats(split === 'train' ? 1 : 2, 9, count * 64);
  for (let i = 0; i < count; i++) {
    const k = i % 4;
    labels[i] = k;
    for (let j = 0; j < 64; j++) {
      const up = sign[k]!(j >> 3, j & 7) % 2 === 0;
      pixels[i * 64 + j] = Math.round(128 + (up ? 60 : -60) + 120 * (noise[i * 64 + j]! - 0.5));
    }
  }
  writeIdx(path.join(folder, `${split}-images-idx3-ubyte`), [count, 8, 8], pixels);
  writeIdx(path.join(folder, `${split}-labels-idx1-ubyte`), [count], labels);
}

const SPEC = `model quad {
  image 8 x 8 x 1   patch 4   dim 16   depth 1   classes 4
  attention { heads 2  kv_heads 1 }
}

model quad_mha extends quad { attention { kv_heads 2 } }

train quad_run {
  model quad
  data idx "stripes"
  epochs 6   batch 16   seed 3
  optimizer adamw(lr: 1e-2)
}

experiment grid {
  train quad_run
  models quad, quad_mha
  seeds 1, 2
}
`;

describe('attnc train SPEC.attn', () => {
  const specDir = path.join(dir, 'specs');
  fs.mkdirSync(path.join(specDir, 'stripes'), { recursive: true });
  writeStripes(path.join(specDir, 'stripes'), 'train', 64);
  writeStripes(path.join(specDir, 'stripes'), 't10k', 32);
  fs.writeFileSync(path.join(specDir, 'quad.attn'), SPEC);

  it('trains the only train block, reading data relative to the spec from another folder', async () => {
    const r = await runCli(['train', 'specs/quad.attn', '--quiet'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run quad_run: model quad, stripes 64 train \/ 32 test images, batch 16, 6 epoch\(s\), seed 3; writing runs\/quad_run\//);
    const acc = Number(/test top-1 ([\d.]+)%/.exec(r.stdout)![1]);
    expect(acc).toBeGreaterThan(50); // 4 classes: chance is 25%
    expect(fs.existsSync(path.join(dir, 'runs', 'quad_run', 'last.safetensors'))).toBe(true);
  });

  it('trains an experiment run by name: the base run with that model and seed', async () => {
    const r = await runCli(['train', 'specs/quad.attn', '--run', 'grid/quad_mha/seed2', '--steps', '2', '--quiet'], dir);
    expect(r.code).toBe(0);
    const last = await readCheckpoint(path.join(dir, 'runs', 'grid', 'quad_mha', 'seed2', 'last.safetensors'));
    expect(last.meta.model.name).toBe('quad_mha');
    expect(last.meta.run).toMatchObject({ name: 'grid/quad_mha/seed2', model: 'quad_mha', seed: 2, steps: 2 });
  });

  it('trains an IR file compiled from the spec exactly as the spec (data still found next to the .attn)', async () => {
    expect((await runCli(['compile', 'specs/quad.attn', '-o', 'ir'], dir)).code).toBe(0);
    const r = await runCli(['train', 'ir/quad.ir.json', '--run', 'quad_run', '--out', 'from-ir', '--quiet'], dir);
    expect(r.code).toBe(0);
    expect(metricsWithoutTiming(path.join(dir, 'from-ir', 'metrics.jsonl'))).toEqual(metricsWithoutTiming(path.join(dir, 'runs', 'quad_run', 'metrics.jsonl')));
  });
});
