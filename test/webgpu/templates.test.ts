// Every entry of the template table (compiler/targets/webgpu/templates/index.ts) with sample options:
// the WGSL compiles on the device, every kernel stays within the default limits, and a new template
// without a sample here fails the test (so it cannot skip the compile check).
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { instantiate, TEMPLATES, type TemplateName, type TemplateOptions } from '../../compiler/targets/webgpu/templates/index.js';
import { cachedKernelPipeline } from '../../runtime/webgpu/run-kernel.js';
import { gpuForTests } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

const att = { batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3, dropout: true } as const;
const pert = { batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3, at: 'output', distribution: 'gaussian', scale: 0.5, paper: true } as const;
const ema = { kind: 'ema', decay: 0.9, rule: 'attnc' } as const;

const SAMPLES: { [N in TemplateName]: TemplateOptions<N>[] } = {
  patchify: [{ batch: 2, height: 8, width: 8, channels: 3, patch: 4 }],
  matmul: [{ M: 5, K: 3, N: 4, transA: true, transB: true, bias: true, accumulate: true }],
  bias_grad: [{ rows: 5, cols: 3 }],
  embed: [{ batch: 2, patches: 4, dim: 3, cls: true }],
  embed_bwd: [{ batch: 2, patches: 4, dim: 3, cls: false }],
  layernorm: [{ rows: 3, dim: 5, eps: 1e-6 }],
  layernorm_bwd: [{ rows: 3, dim: 5, accumulate: true }],
  layernorm_bwd_params: [{ rows: 3, dim: 5 }],
  gelu: [{ count: 5, dropout: true }],
  gelu_bwd: [{ count: 5, dropout: false }],
  residual: [{ rows: 4, dim: 3, tokens: 2, dropout: true, dropPath: true }],
  residual_bwd: [{ rows: 4, dim: 3, tokens: 2, dropout: false, dropPath: true }],
  softmax: [{ rows: 3, cols: 5 }],
  softmax_bwd: [{ rows: 3, cols: 5 }],
  attn_scores: [{ ...att, grouping: 'table' }],
  attn_av: [{ ...att, grouping: 'table-per-sample' }],
  attn_dp: [{ ...att, grouping: 'uniform' }],
  attn_dq: [{ ...att, grouping: 'table' }],
  attn_dk: [{ ...att, grouping: 'table' }, { ...att, grouping: 'uniform' }],
  attn_dv: [{ ...att, grouping: 'table-per-sample' }],
  key_norm: [{ batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3, norm: 'l1' }],
  key_variance: [{ batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3 }],
  key_entropy: [{ batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3 }],
  key_random: [{ batch: 2, groups: 3, mode: 'train' }, { batch: 2, groups: 3, mode: 'eval' }],
  key_norm_sum: [{ batch: 2, groups: 2 }],
  allocate: [{ rows: 2, table: true, maxGroups: 4 }, { rows: 1, table: false, maxGroups: 4 }],
  alloc_state: [{ groups: 2, counts: true }, { groups: 2, counts: false }],
  tracker: [
    { maxGroups: 4, track: ema, window: 10, init: 'uniform', mode: 'train' },
    { maxGroups: 4, track: { kind: 'diff', rule: 'paper' }, window: 3, init: 'first_batch', mode: 'eval' },
  ],
  table_from_counts: [{ heads: 4, groups: 2 }],
  noise: [pert, { ...pert, distribution: 'uniform', at: 'scores', paper: false }],
  perturb: [pert],
  perturb_bwd: [{ ...pert, at: 'scores', paper: false }],
  pool: [{ batch: 2, tokens: 3, dim: 4, pool: 'mean' }],
  pool_bwd: [{ batch: 2, tokens: 3, dim: 4, pool: 'cls' }],
  cross_entropy: [{ batch: 3, classes: 4, smoothing: 0.1, gradScale: 1 / 3 }, { batch: 3, classes: 4, smoothing: 0, gradScale: null }],
  grad_sumsq: [{}],
  grad_norm: [{ params: 3, clip: 1 }],
  adamw: [{ count: 10 }],
  sgd: [{ count: 10, momentum: true }],
  random_fill: [{ count: 10, kind: 'gaussian' }],
};

describe('the template table', () => {
  it('has a sample for every template', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(TEMPLATES).sort());
  });
});

describe.skipIf(!gpu)(`every template compiles on the device ${skipReason ?? ''}`, () => {
  for (const name of Object.keys(TEMPLATES) as TemplateName[]) {
    it(name, async () => {
      for (const options of SAMPLES[name]) {
        const inst = instantiate(name, options as never, L);
        expect(inst.kernel.template).toBe(name);
        await cachedKernelPipeline(gpu!.device, inst.kernel);
      }
    });
  }
});
