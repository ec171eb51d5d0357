// The tfjs target (compiler/targets/tfjs): golden modules, the emitted allocation and noise code
// against the compiler's and runtime's, and `attnc compile --target tfjs`.
//
// Golden cases: every test/golden-targets/tfjs/NAME.attn is compiled and its one model emitted; the
// module must equal NAME.js. UPDATE_GOLDEN=1 rewrites them; a NAME.js without its .attn fails.
// test/targets-tfjs-e2e.test.ts runs the same modules against the runtime's forward pass.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateFromScores } from '../compiler/alloc.js';
import type { PerturbIR } from '../compiler/ir/types.js';
import { asset } from '../compiler/targets/assets.js';
import { emitTfjs, emitTfjsModule, selectModel } from '../compiler/targets/tfjs/emit.js';
import { jsValue } from '../compiler/targets/tfjs/model-table.js';
import { gaussianFloats, seed32, streamId, uniformFloats } from '../core/random.js';
import { perturbNoise } from '../runtime/tfjs/perturb.js';
import { runCli } from './helpers/cli.js';
import { compileCase, TFJS_GOLDEN_ROOT } from './helpers/tfjs-target.js';

const ROOT = TFJS_GOLDEN_ROOT;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const cases = fs.readdirSync(ROOT).filter((f) => f.endsWith('.attn')).sort().map((f) => path.join(ROOT, f));

describe('tfjs target: golden modules', () => {
  it('has the cases of the brief, and every golden module belongs to a case', () => {
    const names = cases.map((c) => path.basename(c, '.attn'));
    expect(names).toEqual(expect.arrayContaining(['mha', 'gqa_mean', 'kdgqa_recompute', 'dgqa_frozen', 'pgqa_train', 'pgqa_always']));
    const orphans = fs.readdirSync(ROOT).filter((f) => f.endsWith('.js') && !fs.existsSync(path.join(ROOT, f.replace(/\.js$/, '.attn'))));
    expect(orphans).toEqual([]);
  });

  for (const file of cases) {
    it(path.basename(file), () => {
      const ir = compileCase(file);
      const actual = emitTfjsModule(ir, selectModel(ir));
      const expectedPath = file.replace(/\.attn$/, '.js');
      if (UPDATE) return fs.writeFileSync(expectedPath, actual);
      expect(fs.existsSync(expectedPath), `${path.basename(expectedPath)} is missing (UPDATE_GOLDEN=1 npx vitest run test/targets-tfjs.test.ts)`).toBe(true);
      expect(actual).toBe(fs.readFileSync(expectedPath, 'utf8'));
    });
  }
});

describe('tfjs target: what a module contains', () => {
  const emitted = (name: string) => {
    const ir = compileCase(path.join(ROOT, `${name}.attn`));
    return emitTfjsModule(ir, selectModel(ir));
  };

  it('imports @tensorflow/tfjs and nothing else, and leaves out the code a model does not use', () => {
    const mha = emitted('mha');
    expect(mha.match(/^import .*$/gm)).toEqual(["import * as tfjs from '@tensorflow/tfjs';"]);
    expect(mha).not.toMatch(/allocateFromScores|lowbias32|readAllocationState/);
    expect(mha).toContain('embed(tf, patch_embed, batch, weights.cls_token, weights.pos_embed);');
    const gqa = emitted('gqa_mean');
    expect(gqa).toContain('groupOfHead: [0, 0, 1, 1],');
    expect(gqa).toContain('groupOfHead: [0, 0, 0, 0],');
    expect(gqa).toContain("pool 'mean'");
    expect(gqa).not.toContain('cls_token');
    const frozen = emitted('dgqa_frozen');
    expect(frozen).toContain('readAllocationState');
    expect(frozen).not.toMatch(/allocateFromScores|keyNormGroups|lowbias32/);
    expect(emitted('kdgqa_recompute')).toMatch(/function allocateFromScores[\s\S]*function allocateHeads|function allocateHeads[\s\S]*function allocateFromScores/);
    expect(emitted('pgqa_train')).not.toMatch(/lowbias32|perturbNoise/);
    const always = emitted('pgqa_always');
    expect(always).toContain('function gaussianFloats');
    expect(always).toContain('function trackedScore');
  });

  it('parses as an ES module', async () => {
    // A syntax check without running: an async function body accepts neither import nor export, so
    // strip those two keywords at the start of a line and compile the rest.
    for (const file of cases) {
      const ir = compileCase(file);
      const body = emitTfjsModule(ir, selectModel(ir)).replace(/^import .*$/m, 'const tfjs = null;').replace(/^export /gm, '');
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (body: string) => unknown;
      expect(() => new AsyncFunction(body), path.basename(file)).not.toThrow();
    }
  });

  it('writes literals JavaScript reads back', () => {
    const value = { a: 1e-7, 'b-c': "it's", d: [null, true, -0], e: { f: 'x\ny' } };
    expect(new Function(`return ${jsValue(value)};`)()).toEqual({ ...value, d: [null, true, 0] });
    expect(() => jsValue(NaN)).toThrow(/NaN/);
  });
});

describe('tfjs target: the emitted allocation is compiler/alloc.ts', () => {
  type Allocate = (scores: number[], opts: { heads: number; scale: string; rounding: string; minPerGroup: number }) => number[];
  const allocate = new Function(`${asset('tfjs', 'allocation.js')}\nreturn allocateFromScores;`)() as Allocate;
  const special = fc.constantFrom(0, -0, 1, -1, 2 ** -1074, 1e300, -1e300, NaN, Infinity, 0.5, 1.5);

  it('gives the same counts on random, tied and degenerate scores', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((groups) =>
          fc.record({
            scores: fc.array(fc.oneof(fc.double({ noNaN: false }), special, fc.integer({ min: 0, max: 4 })), { minLength: groups, maxLength: groups }),
            extra: fc.integer({ min: 0, max: 10 }),
            min: fc.integer({ min: 0, max: 2 }),
            scale: fc.constantFrom('minmax', 'none') as fc.Arbitrary<'minmax' | 'none'>,
            rounding: fc.constantFrom('largest_remainder', 'paper') as fc.Arbitrary<'largest_remainder' | 'paper'>,
          }),
        ),
        ({ scores, extra, min, scale, rounding }) => {
          const groups = scores.length;
          const heads = groups * Math.max(1, min) + extra;
          const opts = { heads, scale, rounding, minPerGroup: min };
          expect(allocate(scores, opts)).toEqual(allocateFromScores(scores, opts).counts);
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });
});

describe('tfjs target: the emitted noise is runtime/random.ts and perturb.ts', () => {
  const api = new Function(`${asset('tfjs', 'noise.js', { noise: true, random: true })}\nreturn { seed32, streamId, uniformFloats, gaussianFloats, perturbNoise };`)() as {
    seed32: typeof seed32;
    streamId: typeof streamId;
    uniformFloats: (seed: number, stream: number, count: number) => Float32Array;
    gaussianFloats: (seed: number, stream: number, count: number) => Float32Array;
    perturbNoise: (p: PerturbIR, shape: number[], d: { seed: number; step: number; layer: number; paper: boolean; headsPerGroup: number }) => Float32Array;
  };

  it('draws the same bits', () => {
    for (const seed of [0, 42, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) expect(api.seed32(seed)).toBe(seed32(seed));
    expect(api.streamId(2, 1, 7, 0)).toBe(streamId(2, 1, 7, 0));
    expect(api.uniformFloats(seed32(42), 7, 64)).toEqual(uniformFloats(seed32(42), 7, 64));
    expect(api.gaussianFloats(seed32(42), 7, 64)).toEqual(gaussianFloats(seed32(42), 7, 64));
  });

  it('standardises rows as perturb.ts does, the paper variant included', () => {
    for (const distribution of ['gaussian', 'uniform'] as const) {
      for (const paper of [false, true]) {
        const p: PerturbIR = { distribution, scale: 0.5, at: 'output', during: 'always' };
        const draw = { seed: 9, step: 3, layer: 1, paper, headsPerGroup: 2 };
        const shape = [2, 4, 1, 12] as const;
        expect(api.perturbNoise(p, [...shape], draw)).toEqual(perturbNoise(p, shape, { ...draw, microBatch: 0 }));
      }
    }
  });
});

describe('attnc compile --target tfjs', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-tfjs-'));

  it('writes DIR/<model>.js and README.txt', async () => {
    const dir = tmp();
    const r = await runCli(['compile', 'mha.attn', '--target', 'tfjs', '-o', dir], ROOT);
    expect(r.stderr).toContain('mha.js');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['README.txt', 'mha.js']);
    const ir = compileCase(path.join(ROOT, 'mha.attn'));
    expect(fs.readFileSync(path.join(dir, 'README.txt'), 'utf8')).toBe(emitTfjs(ir).files['README.txt']);
    expect(fs.readFileSync(path.join(dir, 'mha.js'), 'utf8')).toContain("export async function loadModel(");
  });

  it('needs -o, and --model NAME when the spec has several models', async () => {
    const noDir = await runCli(['compile', 'specs/quickstart.attn', '--target', 'tfjs']);
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toContain('--target tfjs writes files: give -o DIR');
    const dir = tmp();
    const several = await runCli(['compile', 'specs/vit.attn', '--target', 'tfjs', '-o', dir]);
    expect(several.code).toBe(1);
    expect(several.stderr).toMatch(/pick one with --model NAME: .*vit_s16/);
    const wrong = await runCli(['compile', 'specs/vit.attn', '--target', 'tfjs', '--model', 'nope', '-o', dir]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/has no model 'nope'; its models: .*vit_s16/);
    const picked = await runCli(['compile', 'specs/vit.attn', '--target', 'tfjs', '--model', 'vit_s16', '-o', dir]);
    expect(picked.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'vit_s16.js'), 'utf8')).toContain("name: 'vit_s16',");
    expect(fs.readFileSync(path.join(dir, 'README.txt'), 'utf8')).toContain('--model vit_s16');
  });

  it('refuses unknown targets and --model without --target tfjs', async () => {
    const bad = await runCli(['compile', 'specs/quickstart.attn', '--target', 'caffe']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown --target 'caffe'; the targets are ir, tfjs, pytorch, webgpu and onnx");
    const model = await runCli(['compile', 'specs/quickstart.attn', '--model', 'mnist_tiny']);
    expect(model.code).toBe(1);
    expect(model.stderr).toContain('--model goes with --target tfjs');
  });
});
