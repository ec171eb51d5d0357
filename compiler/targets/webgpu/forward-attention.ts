// Which query head reads which K/V group, per layer and mode: nothing for uniform grouping (the
// attention kernels compute h / (H / G)), otherwise the dispatches that make the head -> group
// table on the device, as runtime/tfjs/attention.ts keyNormCounts decides (docs/attention.md):
//   eval 'frozen'            the table of the stored counts
//   tracked (DGQA)           key norms, their batch sum, the tracker (it allocates when due)
//   untracked (KDGQA)        key norms, their batch sum, an allocation per batch or per image;
//                            in training the state keeps the score and (scope batch, or eval
//                            'frozen') the batch's counts
import type { LayerIR } from '../../ir/types.js';
import { equalShareCounts } from '../../alloc.js';
import { phaseOf, STEP, type ForwardContext } from './context.js';
import { allocationStateWords } from './templates/allocation.js';
import { instantiate } from './templates/index.js';
import { allocationUniformValues } from './wgsl-alloc.js';

export function grouping(c: ForwardContext, layer: LayerIR): 'uniform' | 'table' | 'table-per-sample' {
  const al = layer.attention.allocation;
  if (al.policy === 'uniform') return 'uniform';
  if (al.track || (c.mode === 'eval' && al.eval === 'frozen')) return 'table';
  return al.scope === 'sample' ? 'table-per-sample' : 'table';
}

export function stateBuffer(c: ForwardContext, layer: LayerIR): string {
  const G = layer.attention.kvHeads;
  const values = new Array<number>(allocationStateWords(G)).fill(0);
  // Before any allocation: the equal share, as the tfjs backend starts (runtime/tfjs/attention.ts).
  equalShareCounts(layer.attention.heads, G).forEach((n, g) => (values[g] = n));
  return c.b.buffer(`state:blocks.${layer.index}.attn.alloc`, { kind: 'state', dtype: 'u32', shape: [allocationStateWords(G)], init: { kind: 'u32', values } });
}

/** The capacity of the allocation kernels: the most K/V groups of any key_norm layer. */
function maxGroups(c: ForwardContext): number {
  return Math.max(1, ...c.m.layers.filter((l) => l.attention.allocation.policy === 'key_norm').map((l) => l.attention.kvHeads));
}

/** Emits the dispatches that make the layer's table; returns the table buffer, or null (uniform). */
export function emitAllocation(c: ForwardContext, layer: LayerIR, qkv: string): string | null {
  const a = layer.attention;
  const al = a.allocation;
  if (al.policy === 'uniform') {
    if (a.heads % a.kvHeads !== 0) throw new Error(`layer ${layer.index}: uniform grouping needs kv_heads ${a.kvHeads} to divide heads ${a.heads}`);
    return null;
  }
  const { b, batch: B } = c;
  const phase = phaseOf(c);
  const G = a.kvHeads;
  const H = a.heads;
  const pre = `blocks.${layer.index}.attn`;
  const state = stateBuffer(c, layer);
  const perSample = grouping(c, layer) === 'table-per-sample';
  const table = b.buffer(`act:${pre}.table${c.mode === 'eval' ? '.eval' : ''}`, { kind: 'activation', dtype: 'u32', shape: perSample ? [B, H] : [H] });
  if (c.mode === 'eval' && al.eval === 'frozen') {
    b.dispatch(phase, instantiate('table_from_counts', { heads: H, groups: G }, b.limits), `${pre}.table (frozen)`, { state, table });
    return table;
  }
  const norms = b.buffer(`scratch:${pre}.norms`, { kind: 'scratch', shape: [B, G] });
  b.dispatch(phase, instantiate('key_norm', { batch: B, tokens: c.m.tokens, heads: H, groups: G, headDim: a.headDim, norm: al.norm }, b.limits), `${pre}.key_norms`, { qkv, norms });
  const sums = b.buffer(`scratch:${pre}.norm_sums`, { kind: 'scratch', shape: [G] });
  b.dispatch(phase, instantiate('key_norm_sum', { batch: B, groups: G }, b.limits), `${pre}.key_norm_sums`, { norms, sums });
  const alloc = allocationUniformValues({ groups: G, heads: H, scale: al.scale, rounding: al.rounding, minPerGroup: al.minPerGroup });
  const capacity = maxGroups(c);
  if (al.track) {
    const inst = instantiate('tracker', { maxGroups: capacity, track: al.track, window: al.window ?? 1, init: al.init, mode: c.mode }, b.limits);
    b.dispatch(phase, inst, `${pre}.tracker`, { sums, state, table }, { step: STEP, epoch_step: { runtime: 'epochStep' }, ...alloc });
    return table;
  }
  const rows = perSample ? B : 1;
  const counts = b.buffer(`scratch:${pre}.counts${perSample ? '' : '.batch'}`, { kind: 'scratch', dtype: 'u32', shape: [rows, G] });
  b.dispatch(phase, instantiate('allocate', { rows, table: true, maxGroups: capacity }, b.limits), `${pre}.allocate`, { scores: perSample ? norms : sums, out_counts: counts, table }, { rows, ...alloc });
  if (c.mode === 'eval') return table;
  // Training: the state keeps the batch's score, and the batch's counts where eval 'frozen' or a
  // later batch-scope pass reads them (runtime/tfjs/attention.ts keyNormCounts).
  let batchCounts: string | null = perSample ? null : counts;
  if (perSample && al.eval === 'frozen') {
    batchCounts = b.buffer(`scratch:${pre}.counts.batch`, { kind: 'scratch', dtype: 'u32', shape: [1, G] });
    b.dispatch(phase, instantiate('allocate', { rows: 1, table: false, maxGroups: capacity }, b.limits), `${pre}.allocate (batch, for eval frozen)`, { scores: sums, out_counts: batchCounts }, { rows: 1, ...alloc });
  }
  const bindings: Record<string, string> = { sums, state };
  if (batchCounts) bindings.counts = batchCounts;
  b.dispatch(phase, instantiate('alloc_state', { groups: G, counts: batchCounts !== null }, b.limits), `${pre}.alloc_state`, bindings);
  return table;
}
