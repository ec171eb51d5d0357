// The WebGPU target (compiler/targets/webgpu): golden plans and kernels, the plan's own consistency,
// the limits, and `attnc compile --target webgpu`. Runs without a GPU; test/webgpu/ runs the kernels.
//
// Golden cases: every test/golden-targets/webgpu/NAME.attn is planned with the defaults (its one run,
// the run's micro-batch) and the files must equal NAME/plan.json and NAME/kernels/*.wgsl, no more and
// no fewer. UPDATE_GOLDEN=1 rewrites them; a NAME/ folder without its NAME.attn fails.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import type { IRDocument } from '../compiler/ir/types.js';
import { emitWebGpu } from '../compiler/targets/webgpu/emit.js';
import { DEFAULT_LIMITS, KernelLimitError } from '../compiler/targets/webgpu/kernel.js';
import { planWebGpu } from '../compiler/targets/webgpu/lower.js';
import { TEMPLATES } from '../compiler/targets/webgpu/templates/index.js';
import { linearKernel } from '../compiler/targets/webgpu/templates/matmul.js';
import { runtimeValues } from '../runtime/webgpu/runtime-values.js';
import { runCli } from './helpers/cli.js';

const ROOT = path.join(import.meta.dirname, 'golden-targets', 'webgpu');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = fs.readdirSync(ROOT).filter((f) => f.endsWith('.attn')).sort().map((f) => path.basename(f, '.attn'));

function compileCase(name: string): IRDocument {
  const result = compileFile(`${name}.attn`, { displayBase: ROOT });
  if (!result.ir) throw new Error(`${name}.attn does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.ir;
}

function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out;
}

describe('webgpu target: golden plans and kernels', () => {
  it('has the cases, and every golden folder belongs to a case', () => {
    expect(cases).toEqual(expect.arrayContaining(['gqa_train', 'kdgqa_sample', 'dgqa_pgqa', 'mha_eval']));
    const orphans = fs.readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory() && !cases.includes(e.name)).map((e) => e.name);
    expect(orphans).toEqual([]);
  });

  for (const name of cases) {
    it(name, () => {
      const files = emitWebGpu(compileCase(name));
      const dir = path.join(ROOT, name);
      if (UPDATE) {
        fs.rmSync(dir, { recursive: true, force: true });
        for (const [rel, text] of Object.entries(files)) {
          fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
          fs.writeFileSync(path.join(dir, rel), text);
        }
        return;
      }
      const golden = filesUnder(dir);
      expect(Object.keys(golden).length, `${name}/ is missing (UPDATE_GOLDEN=1 npx vitest run test/targets-webgpu.test.ts)`).toBeGreaterThan(0);
      expect(Object.keys(files).sort()).toEqual(Object.keys(golden).sort());
      for (const [rel, text] of Object.entries(files)) expect(text, rel).toBe(golden[rel]);
    });
  }
});

describe('webgpu target: what a plan holds', () => {
  const planned = (name: string, batch?: number) => planWebGpu(compileCase(name), { batch });

  it('binds every kernel binding and uniform, to declared buffers of the right type, in every phase', () => {
    for (const name of cases) {
      const { plan, wgsl } = planned(name);
      const buffers = new Map(plan.buffers.map((b) => [b.name, b]));
      const kernels = new Map(plan.kernels.map((k) => [k.name, k]));
      for (const [phase, dispatches] of Object.entries(plan.phases)) {
        for (const d of dispatches) {
          const k = kernels.get(d.kernel)!;
          expect(k, `${phase} ${d.label}`).toBeDefined();
          expect(Object.keys(d.bindings)).toEqual(k.bindings.map((b) => b.name));
          for (const b of k.bindings) expect(buffers.has(d.bindings[b.name]!), `${d.label}: ${d.bindings[b.name]}`).toBe(true);
          expect(Object.keys(d.uniforms)).toEqual(k.uniforms.map((u) => u.name));
          expect(d.workgroups.every((n) => Number.isInteger(n) && n >= 1 && n <= DEFAULT_LIMITS.maxComputeWorkgroupsPerDimension)).toBe(true);
        }
      }
      for (const k of plan.kernels) expect(wgsl[k.name]).toContain('fn main(');
      // Every buffer is used somewhere; parameters both in training and in eval.
      for (const b of plan.buffers) expect(b.lifetime.train !== null || b.lifetime.eval !== null, b.name).toBe(true);
      for (const p of plan.params) expect(buffers.get(p.buffer)!.lifetime.eval, p.name).not.toBeNull();
    }
  });

  it('plans one training step of micro-batches with the run\'s optimizer, and an eval-only plan without a run', () => {
    const gqa = planned('gqa_train').plan;
    expect(gqa.batch).toBe(2);
    expect(gqa.training).toMatchObject({ accumulate: 2, optimizer: 'adamw', seed: 7 });
    expect(gqa.params.every((p) => p.slots.m && p.slots.v)).toBe(true);
    expect(gqa.params.find((p) => p.name === 'blocks.0.attn.qkv.weight')).toMatchObject({ checkpointShape: [32, 16], shape: [16, 32], layout: 'transposed', weightDecay: true });
    expect(gqa.params.find((p) => p.name === 'pos_embed')!.weightDecay).toBe(false);
    const sgd = planned('kdgqa_sample').plan;
    expect(sgd.training).toMatchObject({ accumulate: 1, optimizer: 'sgd' });
    expect(sgd.allocationState.map((s) => s.layer)).toEqual([0, 1]);
    expect(sgd.buffers.find((b) => b.name === sgd.allocationState[0]!.buffer)!.init).toEqual({ kind: 'u32', values: [2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0] });
    const evalOnly = planned('mha_eval').plan;
    expect(evalOnly.run).toBeNull();
    expect(evalOnly.training).toBeNull();
    expect([evalOnly.phases.forward, evalOnly.phases.backward, evalOnly.phases.optimizer].map((p) => p.length)).toEqual([0, 0, 0]);
    expect(evalOnly.buffers.some((b) => b.kind === 'grad')).toBe(false);
    expect(planned('gqa_train', 4).plan.training!.accumulate).toBe(1);
    expect(() => planned('gqa_train', 3)).toThrow(/--batch 3 must divide/);
  });

  it('shares kernels between layers of the same shape, and names them after template and shape', () => {
    const { plan } = planned('gqa_train');
    const counts = new Map<string, number>();
    for (const d of plan.phases.forward) counts.set(d.kernel, (counts.get(d.kernel) ?? 0) + 1);
    expect(counts.get('layernorm_10x16')).toBe(5); // two per block and the final norm (2 images x 5 tokens)
    for (const k of plan.kernels) {
      expect(k.name.startsWith(`${k.template}_`), k.name).toBe(true);
      expect(Object.keys(TEMPLATES), k.template).toContain(k.template);
    }
  });

  it('computes the runtime values of a step in float64', () => {
    const { plan } = planned('gqa_train');
    const v = runtimeValues(plan, { step: 9, microBatch: 1, lr: 2e-3 });
    expect(v).toMatchObject({ seed: 7, step: 9, epochStep: 9, microBatch: 1, lr: 2e-3 });
    expect(v.adamStepSize).toBeCloseTo(2e-3 / (1 - 0.9 ** 10), 15);
    expect(v.adamBias2Sqrt).toBeCloseTo(Math.sqrt(1 - 0.999 ** 10), 15);
    expect(v.decayFactor).toBeCloseTo(1 - 2e-3 * 0.05, 15);
  });

  it('refuses clearly what does not fit the limits', () => {
    expect(() => linearKernel({ M: 8, K: 8, N: 8, transA: false, transB: false, bias: false, accumulate: false }, { ...DEFAULT_LIMITS, maxComputeInvocationsPerWorkgroup: 64 }))
      .toThrow(/128 invocations per workgroup, the device allows 64/);
    expect(() => linearKernel({ M: 8, K: 8, N: 8, transA: false, transB: false, bias: true, accumulate: false }, { ...DEFAULT_LIMITS, maxStorageBuffersPerShaderStage: 3 }))
      .toThrow(/4 storage buffers, the device allows 3 per shader stage/);
    const big = () => planWebGpu(compileCase('gqa_train'), { batch: 4, limits: { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 1024 } });
    expect(big).toThrow(KernelLimitError);
    expect(big).toThrow(/model gqa_train at batch 4 does not fit the device: buffer .* needs .* MiB.*use a smaller --batch/);
  });
});

describe('attnc compile --target webgpu', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-webgpu-'));

  it('writes DIR/plan.json and DIR/kernels/*.wgsl, the golden files', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'kernels'));
    fs.writeFileSync(path.join(dir, 'kernels', 'stale.wgsl'), '// from an older plan');
    const r = await runCli(['compile', 'kdgqa_sample.attn', '--target', 'webgpu', '-o', dir], ROOT);
    expect(r.stderr).toMatch(/wrote .*plan\.json and \d+ kernels/);
    expect(r.code).toBe(0);
    expect(filesUnder(dir)).toEqual(filesUnder(path.join(ROOT, 'kdgqa_sample')));
  });

  it('takes --model, --run and --batch, and explains what is wrong', async () => {
    const dir = tmp();
    const picked = await runCli(['compile', 'dgqa_pgqa.attn', '--target', 'webgpu', '--model', 'dgqa_pgqa', '--batch', '1', '-o', dir], ROOT);
    expect(picked.code).toBe(0);
    const plan = JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    expect([plan.model, plan.run, plan.batch]).toEqual(['dgqa_pgqa', null, 1]);
    const byRun = await runCli(['compile', 'dgqa_pgqa.attn', '--target', 'webgpu', '--run', 'dgqa_step', '-o', dir], ROOT);
    expect(byRun.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8')).model).toBe('dgqa_pgqa_scores');
    const cases: [string[], RegExp][] = [
      [['--batch', 'two'], /--batch must be a whole number >= 1, got 'two'/],
      [['--batch', '3'], /--batch 3 must divide run 'dgqa_step''s batch of 2/],
      [['--run', 'nope'], /no run 'nope'; the spec has dgqa_step/],
      [['--model', 'dgqa_pgqa', '--run', 'dgqa_step'], /run 'dgqa_step' trains model 'dgqa_pgqa_scores', not 'dgqa_pgqa'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['compile', 'dgqa_pgqa.attn', '--target', 'webgpu', ...args, '-o', dir], ROOT);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    const noDir = await runCli(['compile', 'mha_eval.attn', '--target', 'webgpu'], ROOT);
    expect(noDir.stderr).toContain('--target webgpu writes files: give -o DIR');
    const batchElsewhere = await runCli(['compile', 'mha_eval.attn', '--batch', '2'], ROOT);
    expect(batchElsewhere.stderr).toContain('--batch goes with --target webgpu');
  });
});
