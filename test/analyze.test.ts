// The analyses behind `attnc compile --summary` (a pass over the op graph), checked against timm's
// published parameter counts, the literature's MAC count for ViT-B/16 and hand-derived figures for a
// small model.
import { describe, expect, it } from 'vitest';
import { analyzeDocument, analyzeModel } from '../compiler/analyze.js';
import { lowerModelGraph } from '../compiler/graph/lower.js';
import { OPS } from '../compiler/graph/ops.js';
import type { IRDocument, LayerIR, ModelIR } from '../compiler/ir/types.js';
import { compileFile } from '../compiler/compile.js';
import { formatSummary, summaryJson } from '../compiler/summary-format.js';
import { span, uniformAttention, vitModel } from './helpers/model-ir.js';

const vitTiny = () => vitModel({ name: 'vit_tiny', dim: 192, depth: 12, heads: 3 });
const vitSmall = () => vitModel({ name: 'vit_small', dim: 384, depth: 12, heads: 6 });
const vitBase = (kvHeads = 12) => vitModel({ name: 'vit_base', dim: 768, depth: 12, heads: 12, kvHeads });
const vitLarge = () => vitModel({ name: 'vit_large', dim: 1024, depth: 24, heads: 16 });

/** 32x32x3, patch 8 (16 patches, 17 tokens), dim 64, depth 2, 4 heads over 2 K/V heads (hd 16), 10 classes. */
const small = (extra: Partial<Parameters<typeof vitModel>[0]> = {}) =>
  vitModel({ name: 'small', image: 32, patch: 8, dim: 64, depth: 2, heads: 4, kvHeads: 2, classes: 10, ...extra });

describe('parameters', () => {
  it("match timm's published counts", () => {
    expect(analyzeModel(vitTiny()).params.total).toBe(5_717_416);
    expect(analyzeModel(vitSmall()).params.total).toBe(22_050_664);
    expect(analyzeModel(vitBase()).params.total).toBe(86_567_656);
    expect(analyzeModel(vitLarge()).params.total).toBe(304_326_632);
  });

  it('break ViT-B/16 down as timm lays it out', () => {
    const p = analyzeModel(vitBase()).params;
    expect(p.patchEmbed).toBe(3 * 16 * 16 * 768 + 768);
    expect(p.clsToken).toBe(768);
    expect(p.posEmbed).toBe(197 * 768);
    expect(p.finalNorm).toBe(2 * 768);
    expect(p.head).toBe(768 * 1000 + 1000);
    const layer = p.perLayer[0];
    // With kvHeads = heads the split q, k, v equal timm's fused qkv linear D -> 3D.
    expect(layer.attention.q + layer.attention.k + layer.attention.v).toBe(768 * 3 * 768 + 3 * 768);
    expect(layer.attention.proj).toBe(768 * 768 + 768);
    expect(layer.norms).toBe(4 * 768);
    expect(layer.mlp).toBe(768 * 3072 + 3072 + 3072 * 768 + 768);
    expect(p.blocks).toBe(12 * layer.total);
    expect(p.patchEmbed + p.clsToken + p.posEmbed + p.blocks + p.finalNorm + p.head).toBe(p.total);
  });

  it('shrink only the K and V projections under grouping', () => {
    const mha = analyzeModel(vitBase()).params;
    // GQA with 4 K/V heads: k and v each go from 768 -> 768 to 768 -> 4 * 64 = 256 outputs.
    const perProjection = 768 * (768 - 256) + (768 - 256);
    const gqa = analyzeModel(vitBase(4)).params;
    expect(mha.total - gqa.total).toBe(12 * 2 * perProjection);
    expect(gqa.total).toBe(86_567_656 - 9_449_472);
    expect(gqa.perLayer[0].attention.q).toBe(mha.perLayer[0].attention.q);
    expect(gqa.perLayer[0].attention.proj).toBe(mha.perLayer[0].attention.proj);
    expect(gqa.perLayer[0].attention.k).toBe(768 * 256 + 256);
    expect(gqa.perLayer[0].mlp).toBe(mha.perLayer[0].mlp);
    // MQA: one K/V head of 64.
    const mqa = analyzeModel(vitBase(1)).params;
    expect(mha.total - mqa.total).toBe(12 * 2 * (768 * (768 - 64) + (768 - 64)));
  });

  it('drop the class token and its position with mean pooling', () => {
    const mean = vitModel({ dim: 768, depth: 12, heads: 12, pool: 'mean' });
    const p = analyzeModel(mean).params;
    expect(p.clsToken).toBe(0);
    expect(p.posEmbed).toBe(196 * 768);
    // fc_norm replaces norm: same count.
    expect(p.finalNorm).toBe(2 * 768);
    expect(p.total).toBe(86_567_656 - 768 - 768);
  });

  it('omit the q, k, v biases without qkvBias', () => {
    const noBias = analyzeModel(vitModel({ dim: 768, depth: 12, heads: 12, qkvBias: false })).params;
    expect(noBias.total).toBe(86_567_656 - 12 * 3 * 768);
  });

  it('follow a hand count of the small model', () => {
    const p = analyzeModel(small()).params;
    const block = 128 + (64 * 64 + 64) + 2 * (64 * 32 + 32) + (64 * 64 + 64) + 128 + (64 * 256 + 256) + (256 * 64 + 64);
    expect(p.perLayer[0].total).toBe(block);
    expect(p.total).toBe(12_352 + 64 + 17 * 64 + 2 * block + 128 + 650);
    expect(p.total).toBe(105_930);
  });
});

describe('FLOPs', () => {
  it('follow the hand-derived formula for the small model exactly', () => {
    const f = analyzeModel(small()).flops;
    // T = 17, D = 64, H = 4, G = 2, hd = 16, hidden = 256; a multiply-add is 2 FLOPs, a bias add 1.
    const q = 17 * (2 * 64 * 64 + 64);
    const kv = 17 * (2 * 64 * 32 + 32);
    const scores = 2 * 4 * 17 * 17 * 16;
    const softmax = 5 * 4 * 17 * 17 + 4 * 17 * 16; // 5 per score, plus scaling q
    const proj = 17 * (2 * 64 * 64 + 64);
    const mlp = 17 * (2 * 64 * 256 + 256) + 5 * 17 * 256 + 17 * (2 * 256 * 64 + 64);
    const norms = 2 * 7 * 17 * 64;
    const residual = 2 * 17 * 64;
    const block = q + 2 * kv + scores + softmax + scores + proj + mlp + norms + residual;
    expect(f.perLayer[0].k).toBe(kv);
    expect(f.perLayer[0].scores).toBe(scores);
    expect(f.perLayer[0].softmax).toBe(softmax);
    expect(f.perLayer[0].total).toBe(block);
    const patchEmbed = 16 * (2 * 3 * 8 * 8 * 64 + 64) + 17 * 64; // conv + bias, then pos embed add
    const finalNorm = 7 * 17 * 64;
    const head = 2 * 64 * 10 + 10;
    expect(f.patchEmbed).toBe(patchEmbed);
    expect(f.head).toBe(head);
    expect(f.norms).toBe(2 * norms + finalNorm);
    expect(f.total).toBe(patchEmbed + 2 * block + finalNorm + head);
    expect(f.total).toBe(3_725_490);
  });

  it('give ViT-B/16 within 2% of the 17.58 GMACs timm/fvcore report, at 2 FLOPs per MAC', () => {
    const f = analyzeModel(vitBase()).flops;
    const T = 197;
    const macs =
      196 * 768 * 768 + // patch conv: 196 patches x (3*16*16 -> 768)
      12 * (T * 768 * 3 * 768 + 2 * 12 * T * T * 64 + T * 768 * 768 + 2 * T * 768 * 3072) +
      768 * 1000;
    expect(f.macs).toBe(macs);
    expect(Math.abs(f.macs / 17.58e9 - 1)).toBeLessThan(0.02);
    expect(Math.abs(f.total / (2 * 17.58e9) - 1)).toBeLessThan(0.02);
    expect(f.total).toBeGreaterThan(2 * f.macs); // softmax, norms, GELU and biases on top
  });

  it('leave the score and attention @ V FLOPs unchanged under grouping', () => {
    const mha = analyzeModel(vitBase()).flops;
    const gqa = analyzeModel(vitBase(4)).flops;
    expect(gqa.scores).toBe(mha.scores);
    expect(gqa.attnV).toBe(mha.attnV);
    expect(gqa.softmax).toBe(mha.softmax);
    // Only k and v shrink: 2 projections x T x (2 * D * (768 - 256) + (768 - 256) bias adds), per layer.
    expect(mha.qkv - gqa.qkv).toBe(12 * 2 * 197 * (2 * 768 * 512 + 512));
    expect(mha.total - gqa.total).toBe(mha.qkv - gqa.qkv);
  });

  it('count mean pooling after the final norm, as attnc computes it', () => {
    const f = analyzeModel(small({ pool: 'mean' })).flops;
    // 16 tokens: attnc normalises every token, then averages them (16 * 64 adds and divides);
    // timm's default fc_norm order (pool, then normalise 64 elements) is not what attnc runs.
    expect(f.head).toBe(16 * 64 + 2 * 64 * 10 + 10);
    expect(f.norms).toBe(2 * 2 * 7 * 16 * 64 + 7 * 16 * 64);
  });

  it('are each op\'s declared FLOPs summed over the eval phase', () => {
    const m = small();
    const graph = lowerModelGraph(m, null, { batch: 1 });
    const declared = graph.phases.eval.map((n) => OPS[n.op]!.flops?.(n.attrs).total ?? 0);
    expect(declared.reduce((a, b) => a + b, 0)).toBe(analyzeModel(m).flops.total);
    // Twice the batch, twice the FLOPs: the figures are per image.
    const two = lowerModelGraph(m, null, { batch: 2 });
    expect(two.phases.eval.map((n) => OPS[n.op]!.flops?.(n.attrs).total ?? 0).reduce((a, b) => a + b, 0)).toBe(2 * 3_725_490);
  });
});

describe('memory', () => {
  it('keeps the listed tensors for backward in the small model', () => {
    const mem = analyzeModel(small()).memory;
    const floats =
      2 * (17 * 64 + 2 * 17) + // norm1 and norm2 inputs with mean and 1/std
      (17 * 64 + 17 * 64 + 17 * 64 + 17 * 256) + // qkv, proj, fc1, fc2 inputs
      (4 + 2 + 2) * 17 * 16 + // scaled q, k, v
      4 * 17 * 17 + // attention probabilities
      17 * 256; // GELU input
    expect(mem.perLayer[0].total).toBe(4 * floats);
    const input = 32 * 32 * 3 * 4;
    const finalNorm = 4 * (17 * 64 + 2 * 17);
    expect(mem.activationsBytes).toBe(input + 2 * 4 * floats + finalNorm + 4 * 64);
    expect(mem.activationsBytes).toBe(157_384);
    expect(mem.parameterBytes).toBe(4 * 105_930);
  });

  it('keeps every token of the final norm with mean pooling (attnc normalises before pooling)', () => {
    const mem = analyzeModel(small({ pool: 'mean' })).memory;
    expect(mem.finalNorm).toBe(4 * (16 * 64 + 2 * 16));
    expect(mem.perLayer[0].attentionProbs).toBe(4 * 4 * 16 * 16);
  });

  it('keeps no dropout masks: the backward draws them again from their streams', () => {
    const plain = analyzeModel(small()).memory;
    const dropped = analyzeModel(small({ attnDropout: 0.1, dropout: 0.1 })).memory;
    expect(dropped.activationsBytes).toBe(plain.activationsBytes);
  });

  it('keeps the noise and the unperturbed output of PGQA, and the table of a scored allocation', () => {
    const m = mixedModel();
    const trained = { ...m, layers: m.layers.map((l) => (l.attention.perturb ? { ...l, attention: { ...l.attention, perturb: { ...l.attention.perturb, during: 'train' as const } } } : l)) };
    const mem = analyzeModel(trained).memory;
    // PGQA at the output: the noise (one row of T * hd per head) and the output before it, 6 heads of 64.
    expect(mem.perLayer[9]!.perturb).toBe(4 * (6 * 197 * 64 + 197 * 6 * 64));
    expect(mem.perLayer[0]!.perturb).toBe(0);
    // KDGQA: the head -> group table, one word per query head.
    expect(mem.perLayer[5]!.allocation).toBe(4 * 6);
    expect(mem.perLayer[0]!.allocation).toBe(0);
  });

  it('gives the gradient buffers of the memory plan', () => {
    const m = small();
    const plan = lowerModelGraph(m, null, { batch: 1, trainingPass: true }).memory;
    expect(analyzeModel(m).memory.gradientBuffersBytes).toBe(4 * plan.buffers.reduce((a, b) => a + b.elements, 0));
    expect(plan.buffers.length).toBeGreaterThan(0);
  });
});

describe('K/V cache', () => {
  it('is 2 * kvHeads * headDim * 4 bytes per token per layer', () => {
    const kv = analyzeModel(vitBase()).kvCache;
    expect(kv.perLayer[0].bytesPerToken).toBe(2 * 12 * 64 * 4);
    expect(kv.bytesPerToken).toBe(12 * 6144);
    expect(kv.bytesPerImage).toBe(197 * 12 * 6144);
    expect(kv.ratioToMha).toBe(1);
    const gqa = analyzeModel(vitBase(4)).kvCache;
    expect(gqa.bytesPerToken).toBe(12 * 2 * 4 * 64 * 4);
    expect(gqa.ratioToMha).toBeCloseTo(1 / 3, 12);
    expect(analyzeModel(vitBase(1)).kvCache.ratioToMha).toBeCloseTo(1 / 12, 12);
  });
});

/** ViT-S with layers 0-3 MHA, 4-7 KDGQA (2 groups, recomputed at eval) and 8-11 MQA with PGQA noise. */
function mixedModel(): ModelIR {
  const m = vitModel({ name: 'mixed', dim: 384, depth: 12, heads: 6 });
  const layers: LayerIR[] = m.layers.map((layer) => {
    if (layer.index < 4) return layer;
    if (layer.index < 8) {
      const attention = {
        ...uniformAttention(384, 6, 2),
        variant: 'kdgqa' as const,
        allocation: {
          policy: 'scored' as const, score: { kind: 'key_norm' as const, norm: 'l2' as const }, scale: 'minmax' as const, rounding: 'paper' as const,
          min: 0, scope: 'batch' as const, eval: 'recompute' as const, track: null, window: null, init: 'uniform' as const,
        },
        span: span(7),
      };
      return { ...layer, attention, span: span(7) };
    }
    const attention = {
      ...uniformAttention(384, 6, 1),
      variant: 'pgqa' as const,
      perturb: { distribution: 'gaussian' as const, scale: 0.1, at: 'output' as const, during: 'always' as const },
    };
    return { ...layer, attention };
  });
  return { ...m, layers };
}

describe('per-layer overrides', () => {
  it('are reflected layer by layer', () => {
    const s = analyzeModel(mixedModel());
    const mha = analyzeModel(vitSmall());
    expect(s.layers.map((l) => l.kvHeads)).toEqual([6, 6, 6, 6, 2, 2, 2, 2, 1, 1, 1, 1]);
    expect(s.layers[5].variant).toBe('kdgqa');
    expect(s.layers[5].queryHeadsPerGroup).toBeNull();
    expect(s.layers[5].allocation).toContain('key_norm l2');
    expect(s.layers[9].perturb).toContain('gaussian');
    expect(s.layers[0].queryHeadsPerGroup).toBe(1);
    expect(s.kvCache.perLayer.map((l) => l.bytesPerToken)).toEqual([
      ...Array(4).fill(2 * 6 * 64 * 4), ...Array(4).fill(2 * 2 * 64 * 4), ...Array(4).fill(2 * 1 * 64 * 4),
    ]);
    // Layer params: k and v of 384 -> kvHeads * 64 outputs.
    const kvSaving = (kvHeads: number) => 2 * (384 * (384 - 64 * kvHeads) + (384 - 64 * kvHeads));
    expect(s.params.perLayer[0].total).toBe(mha.params.perLayer[0].total);
    expect(s.params.perLayer[5].total).toBe(mha.params.perLayer[5].total - kvSaving(2));
    expect(s.params.perLayer[10].total).toBe(mha.params.perLayer[10].total - kvSaving(1));
    expect(s.params.total).toBe(mha.params.total - 4 * kvSaving(2) - 4 * kvSaving(1));
    // KDGQA recomputed at eval reduces every key head: 2 * G * T * hd; PGQA at inference: 11 per output element.
    expect(s.flops.perLayer[5].allocation).toBe(2 * 2 * 197 * 64);
    expect(s.flops.perLayer[0].allocation).toBe(0);
    expect(s.flops.perLayer[9].perturb).toBe(11 * 6 * 197 * 64);
    expect(s.flops.allocation).toBe(4 * 2 * 2 * 197 * 64);
    expect(s.flops.perLayer[0].total).toBe(mha.flops.perLayer[0].total);
  });

  it('counts PGQA noise only when it is applied at inference', () => {
    const m = mixedModel();
    const trainOnly = {
      ...m,
      layers: m.layers.map((l) => (l.attention.perturb ? { ...l, attention: { ...l.attention, perturb: { ...l.attention.perturb, during: 'train' as const } } } : l)),
    };
    expect(analyzeModel(trainOnly).flops.perturb).toBe(0);
  });
});

describe('formatting', () => {
  it('prints aligned tables with one row per layer', () => {
    const m = mixedModel();
    const s = analyzeModel(m);
    const text = formatSummary(s, m);
    const lines = text.split('\n');
    expect(text).toContain(s.params.total.toLocaleString('en-US'));
    const layerHeader = lines.findIndex((l) => l.includes('kv_heads'));
    expect(layerHeader).toBeGreaterThan(0);
    const layerRows = lines.slice(layerHeader + 2, layerHeader + 14);
    expect(layerRows.map((r) => r.trim().split(/\s+/).slice(0, 4))).toEqual(
      m.layers.map((l) => [String(l.index), l.attention.variant, String(l.attention.heads), String(l.attention.kvHeads)]),
    );
    // The right-aligned KV column ends at the same offset in every row and the header.
    const header = lines[layerHeader];
    const kvEnd = header.indexOf('KV B/token') + 'KV B/token'.length;
    for (const row of layerRows) expect(row.slice(0, kvEnd)).toMatch(/\d$/);
    // The parameter table's last column is right-aligned: all its lines have one length.
    const paramLines = lines.slice(2, lines.indexOf('', 2));
    expect(new Set(paramLines.map((l) => l.length)).size).toBe(1);
    expect(text).toMatch(/GFLOPs per image/);
  });

  it('switches to MFLOPs for models under one GFLOP', () => {
    const m = small();
    const text = formatSummary(analyzeModel(m), m);
    expect(text).toContain('forward:       3.725 MFLOPs per image');
    expect(text).not.toContain('GFLOPs');
  });

  it('gives plain JSON with the headline figures', () => {
    const s = analyzeModel(vitBase());
    const json = summaryJson(s) as any;
    expect(json.params.total).toBe(86_567_656);
    expect(json.flops.total).toBe(s.flops.total);
    expect(json.training.backward).toBe(s.training.backward);
    expect(json.training.optimizer).toBeNull(); // no run given: no optimizer counted
    expect(json.memory.activationsBytes).toBe(s.memory.activationsBytes);
    expect(json.kvCache.bytesPerToken).toBe(12 * 6144);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});

describe('analyzeDocument', () => {
  it('summarises every model in order', () => {
    const doc: IRDocument = {
      irVersion: 2, compiler: 'attnc test', source: 'test.attn',
      models: [vitTiny(), vitBase(4)], runs: [], experiments: [],
    };
    const summaries = analyzeDocument(doc);
    expect(summaries.map((s) => s.name)).toEqual(['vit_tiny', 'vit_base']);
    expect(summaries[0].params.total).toBe(5_717_416);
    expect(summaries[1].kvCache.ratioToMha).toBeCloseTo(1 / 3, 12);
  });
});

describe('training FLOPs', () => {
  // An independent count from the quickstart's IR, not the graph: every linear's multiply-adds.
  const doc = compileFile('specs/quickstart.attn').ir!;
  const m = doc.models[0]!;
  const patchMacs = m.patches * m.image.channels * m.patch * m.patch * m.dim;
  const blockMacs = m.layers.map((l) => {
    const a = l.attention;
    const qkv = m.dim * (a.heads + 2 * a.kvHeads) * a.headDim;
    return m.tokens * (qkv + a.heads * a.headDim * m.dim + 2 * m.dim * l.mlp.hidden);
  });
  const linearMacs = patchMacs + blockMacs.reduce((x, y) => x + y, 0) + m.dim * m.classes;

  it('counts the backward matmuls as twice the forward linears, less the patch input gradient the image does not need', () => {
    const [s] = analyzeDocument(doc);
    // Each linear's weight gradient and input gradient are a matmul of its forward's size; the patch
    // linear's input is the image, which needs no gradient.
    expect(s!.training.backwardMatmuls).toBe(2 * (2 * linearMacs) - 2 * patchMacs);
    expect(s!.flops.macs - 2 * s!.flops.perLayer.reduce((x, l) => x + l.scores / 2, 0)).toBe(linearMacs);
  });

  it('totals about three forwards per image, the optimizer spread over the run\'s batch', () => {
    const [s] = analyzeDocument(doc);
    const t = s!.training;
    expect(t.imagesPerStep).toBe(doc.runs[0]!.batch);
    expect(t.total).toBe(t.forward + t.backward + t.optimizer! / t.imagesPerStep);
    expect(t.total / s!.flops.total).toBeGreaterThan(2.9);
    expect(t.total / s!.flops.total).toBeLessThan(3.1);
    // AdamW with decay on the matrices: 14 or 15 FLOPs an element, plus the norm's 2 an element.
    expect(t.optimizer! / s!.params.total).toBeGreaterThan(16);
    expect(t.optimizer! / s!.params.total).toBeLessThan(17.1);
  });

  it('declares FLOPs for every backward and optimizer op', () => {
    for (const op of ['matmul', 'bias_grad', 'embed_bwd', 'layernorm_bwd', 'layernorm_bwd_params', 'gelu_bwd', 'attention_bwd', 'residual_bwd', 'pool_bwd', 'grad_sumsq', 'grad_norm', 'adamw', 'sgd']) {
      expect(OPS[op]!.flops, op).toBeDefined();
    }
  });
});
