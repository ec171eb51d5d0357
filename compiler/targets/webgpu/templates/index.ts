// The table of kernel templates: template name -> the TypeScript function that writes its WGSL for
// given shapes and options. The plan builder asks for kernels by these names only, so a new op (or a
// variant of one) is a new function and a new entry here, never a hand-written .wgsl file.
import type { KernelInstance, KernelLimits } from '../kernel.js';
import { allocateKernel, allocationStateKernel, keyNormKernel, keyNormSumKernel, keyRandomKernel, keyVarianceKernel, keyEntropyKernel, tableFromCountsKernel, trackerKernel } from './allocation.js';
import { attentionAvKernel, attentionDkvKernel, attentionDpKernel, attentionDqKernel, attentionScoresKernel } from './attention.js';
import { geluBackwardKernel, geluKernel, biasGradKernel, residualBackwardKernel, residualKernel } from './elementwise.js';
import { embedBackwardKernel, embedKernel, patchifyKernel, poolBackwardKernel, poolKernel } from './embed.js';
import { linearKernel } from './matmul.js';
import { adamwKernel, crossEntropyKernel, gradNormKernel, gradSumSquaresKernel, sgdKernel } from './optimizer.js';
import { noiseKernel, perturbBackwardKernel, perturbKernel } from './perturb.js';
import { randomFillKernel } from './random.js';
import { layerNormBackwardKernel, layerNormKernel, layerNormParamGradKernel, softmaxBackwardKernel, softmaxKernel } from './rows.js';

type Template<O> = (options: O, limits: KernelLimits) => KernelInstance;

export const TEMPLATES = {
  patchify: patchifyKernel,
  matmul: linearKernel,
  bias_grad: biasGradKernel,
  embed: embedKernel,
  embed_bwd: embedBackwardKernel,
  layernorm: layerNormKernel,
  layernorm_bwd: layerNormBackwardKernel,
  layernorm_bwd_params: layerNormParamGradKernel,
  gelu: geluKernel,
  gelu_bwd: geluBackwardKernel,
  residual: residualKernel,
  residual_bwd: residualBackwardKernel,
  softmax: softmaxKernel,
  softmax_bwd: softmaxBackwardKernel,
  attn_scores: attentionScoresKernel,
  attn_av: attentionAvKernel,
  attn_dp: attentionDpKernel,
  attn_dq: attentionDqKernel,
  attn_dk: (o: Omit<Parameters<typeof attentionDkvKernel>[0], 'which'>, limits: KernelLimits) => attentionDkvKernel({ ...o, which: 'k' }, limits),
  attn_dv: (o: Omit<Parameters<typeof attentionDkvKernel>[0], 'which'>, limits: KernelLimits) => attentionDkvKernel({ ...o, which: 'v' }, limits),
  key_norm: keyNormKernel,
  key_variance: keyVarianceKernel,
  key_entropy: keyEntropyKernel,
  key_random: keyRandomKernel,
  key_norm_sum: keyNormSumKernel,
  allocate: allocateKernel,
  alloc_state: allocationStateKernel,
  tracker: trackerKernel,
  table_from_counts: tableFromCountsKernel,
  noise: noiseKernel,
  perturb: perturbKernel,
  perturb_bwd: perturbBackwardKernel,
  pool: poolKernel,
  pool_bwd: poolBackwardKernel,
  cross_entropy: crossEntropyKernel,
  grad_sumsq: (_: Record<string, never>, limits: KernelLimits) => gradSumSquaresKernel(limits),
  grad_norm: gradNormKernel,
  adamw: adamwKernel,
  sgd: sgdKernel,
  random_fill: randomFillKernel,
} satisfies Record<string, Template<never>>;

export type TemplateName = keyof typeof TEMPLATES;
export type TemplateOptions<N extends TemplateName> = Parameters<(typeof TEMPLATES)[N]>[0];

/** The kernel of template `name` for `options` (typed: the options must be that template's). */
export function instantiate<N extends TemplateName>(name: N, options: TemplateOptions<N>, limits: KernelLimits): KernelInstance {
  return (TEMPLATES[name] as Template<TemplateOptions<N>>)(options, limits);
}
