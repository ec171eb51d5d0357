// Allocation logging of key_norm layers, and fine-tuning starts (--init) that keep all but the head.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { toCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { initFromCheckpoint } from '../../runtime/tfjs/checkpoints.js';
import { readMetrics, type MetricsRecord } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, keyNormModel, tempDir, tinyModel, tinyRun, writeSpec } from './fixtures.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
});

type Allocation = Extract<MetricsRecord, { kind: 'allocation' }>;
const allocations = (out: string): Allocation[] =>
  readMetrics(path.join(dir, out, 'metrics.jsonl')).filter((r): r is Allocation => r.kind === 'allocation');

describe('allocation records', () => {
  it('log a DGQA layer at the start and at re-allocations only (every `window` steps at most)', async () => {
    const spec = writeSpec(dir, irDocument([keyNormModel({ window: 2, track: { kind: 'diff', rule: 'attnc' } })], [tinyRun({ epochs: 3 })]), 'dgqa');
    expect((await runCli(['train', spec, '--out', 'dgqa', '--quiet'], dir)).code).toBe(0);
    const records = allocations('dgqa');
    expect(records.length).toBeGreaterThan(3);
    // Before the first step: the equal share of 8 query heads over 3 groups.
    expect(records[0]).toEqual({ kind: 'allocation', step: 0, epoch: 1, layer: 0, counts: [3, 3, 2] });
    for (const r of records) expect(r.counts.reduce((a, b) => a + b, 0)).toBe(8);
    // init first_batch allocates in step 1; then only the forward passes of steps 2, 4, ... (0-based),
    // which are logged once those steps are done: at 1, 3, 5, ...
    for (const r of records.slice(1)) expect((r.step - 1) % 2).toBe(0);
    records.slice(1).forEach((r, i) => expect(r.counts).not.toEqual(records[i]!.counts));
    const last = await readCheckpoint(path.join(dir, 'dgqa', 'last.safetensors'));
    expect(Array.from(last.state['blocks.0.attn.alloc.counts']!.data)).toEqual(records.at(-1)!.counts);
  });

  it("time DGQA rule 'paper' by the batch index within the epoch, as the reference's train.py", async () => {
    // 96 images / batch 16 = 6 steps per epoch; window 4: re-allocations at epoch batches 0 and 4, so at
    // global steps 0, 4, 6, 10, 12, 16 (timing by the global step would give 0, 4, 8, 12, 16).
    const spec = writeSpec(dir, irDocument([keyNormModel({ window: 4, track: { kind: 'diff', rule: 'paper' } })], [tinyRun({ epochs: 3 })]), 'paper');
    expect((await runCli(['train', spec, '--out', 'paper', '--quiet'], dir)).code).toBe(0);
    const logged = allocations('paper').slice(1).map((r) => r.step - 1);
    expect(logged.length).toBeGreaterThan(2);
    for (const step of logged) expect([0, 4, 6, 10, 12, 16]).toContain(step);
    // At least one re-allocation that only epoch timing makes (6 or 10 is no multiple of the window).
    expect(logged.some((step) => step % 4 !== 0)).toBe(true);
  });

  it('log a KDGQA layer whenever a batch changes its allocation', async () => {
    const spec = writeSpec(dir, irDocument([keyNormModel({ track: null })], [tinyRun({ epochs: 2 })]), 'kdgqa');
    expect((await runCli(['train', spec, '--out', 'kdgqa', '--quiet'], dir)).code).toBe(0);
    const records = allocations('kdgqa');
    expect(records.length).toBeGreaterThan(1);
    records.slice(1).forEach((r, i) => expect(r.counts).not.toEqual(records[i]!.counts));
  });

  it('are absent for uniform grouping', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 2, epochs: null })]), 'gqa');
    expect((await runCli(['train', spec, '--out', 'gqa', '--quiet'], dir)).code).toBe(0);
    expect(allocations('gqa')).toEqual([]);
  });
});

describe('--init', () => {
  let source: string;
  beforeAll(async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 1 })]), 'pre');
    expect((await runCli(['train', spec, '--out', 'pre', '--quiet'], dir)).code).toBe(0);
    source = path.join(dir, 'pre', 'last.safetensors');
  });

  it('loads every weight but the head, which keeps its fresh initialisation', async () => {
    const checkpoint = await readCheckpoint(source);
    const model = new VitModel(tf, tinyModel({ classes: 3 }), { seed: 11 });
    const fresh = toCheckpointTensors(model.params);
    expect(initFromCheckpoint(model, checkpoint, 'pre.safetensors')).toMatch(/^init: \d+ tensors from pre.safetensors \(model 'tiny'\), head freshly initialised$/);
    const now = toCheckpointTensors(model.params);
    for (const [name, t] of Object.entries(now)) {
      if (name.startsWith('head.')) expect(t).toEqual(fresh[name]);
      else expect(t.data).toEqual(checkpoint.params[name]!.data);
    }
    model.dispose();
  });

  it('fine-tunes from the command line, and refuses a checkpoint of another shape listing the tensors', async () => {
    const tuned = writeSpec(dir, irDocument([tinyModel({ classes: 3 })], [tinyRun({ steps: 2, epochs: null })]), 'tune');
    const ok = await runCli(['train', tuned, '--out', 'tune', '--init', source], dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/init: \d+ tensors from .*pre\/last.safetensors \(model 'tiny'\), head freshly initialised/);
    const wider = writeSpec(dir, irDocument([tinyModel({ dim: 32 })], [tinyRun({ steps: 2, epochs: null })]), 'wider');
    const bad = await runCli(['train', wider, '--out', 'wider', '--init', source], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot initialise model 'tiny' from this checkpoint \(model 'tiny'\):\n {2}patch_embed.proj.weight is \[16,1,4,4\] in the file, the model 'tiny' needs \[32,1,4,4\]/);
  });

  it('refuses a file that is not a checkpoint', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 1, epochs: null })]), 'notckpt');
    const r = await runCli(['train', spec, '--out', 'notckpt', '--init', spec], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attnc train: .*notckpt.ir.json: /);
  });
});
