// Prints a ModelSummary (compiler/analyze.ts) for `attnc compile --summary`: aligned text tables
// for people, and a plain JSON object for scripts. Units: GFLOPs = 1e9 FLOPs (MFLOPs = 1e6 for models
// under one GFLOP, so small models do not print as zeros), MB = 1e6 bytes.
import type { IRDocument, ModelIR } from './ir/types.js';
import { analyzeDocument, type ModelSummary } from './analyze.js';

type Align = 'left' | 'right';

/** Columns padded to their widest cell; numbers read best right-aligned. */
export function formatTable(headers: string[], rows: string[][], align: Align[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** 1,234,567 as toLocaleString('en-US') writes it, without loading the locale data (70 ms) for whole numbers. */
const integer = (n: number): string =>
  Number.isSafeInteger(n) ? String(n).replace(/\B(?=(\d{3})+$)/g, ',') : n.toLocaleString('en-US');
/** Two decimals, or three significant digits below 1 so that small figures keep their digits. */
const decimal = (x: number): string => (x === 0 || x >= 1 ? x.toFixed(2) : x.toPrecision(3));
const megabytes = (n: number): string => decimal(n / 1e6);

interface FlopUnit {
  name: string;
  scale: number;
}

/** One unit for every FLOP figure of a model, chosen from its total. */
const flopUnit = (s: ModelSummary): FlopUnit => (s.flops.total >= 1e9 ? { name: 'GFLOPs', scale: 1e9 } : { name: 'MFLOPs', scale: 1e6 });
const inUnit = (n: number, u: FlopUnit): string => (n / u.scale).toFixed(3);
const percent = (part: number, total: number): string => (total === 0 ? '-' : `${((100 * part) / total).toFixed(2)}%`);

function paramTable(s: ModelSummary): string {
  const p = s.params;
  const attention = sum(p.perLayer.map((l) => l.attention.total));
  const parts: [string, number][] = [
    ['patch embed', p.patchEmbed],
    ['cls token', p.clsToken],
    ['pos embed', p.posEmbed],
    ['blocks', p.blocks],
    ['  attention', attention],
    ['  norms', sum(p.perLayer.map((l) => l.norms))],
    ['  mlp', sum(p.perLayer.map((l) => l.mlp))],
    ['final norm', p.finalNorm],
    ['head', p.head],
    ['total', p.total],
  ];
  const rows = parts.map(([name, n]) => [name, integer(n), percent(n, p.total)]);
  return formatTable(['parameters', 'count', 'share'], rows, ['left', 'right', 'right']);
}

function flopTable(s: ModelSummary, u: FlopUnit): string {
  const f = s.flops;
  const parts: [string, number][] = [
    ['patch embed', f.patchEmbed],
    ['qkv', f.qkv],
    ['scores QK^T', f.scores],
    ['softmax', f.softmax],
    ['attention @ V', f.attnV],
    ['proj', f.proj],
    ['mlp', f.mlp],
    ['norms', f.norms],
    ['residual', f.residual],
    ['allocation', f.allocation],
    ['perturb', f.perturb],
    ['head', f.head],
    ['total', f.total],
  ];
  // Parts that are zero for this model (no key_norm allocation, no inference-time noise) are noise in the table.
  const shown = parts.filter(([name, n]) => n !== 0 || (name !== 'allocation' && name !== 'perturb'));
  const rows = shown.map(([name, n]) => [name, inUnit(n, u), percent(n, f.total)]);
  return formatTable(['FLOPs per image', u.name, 'share'], rows, ['left', 'right', 'right']);
}

function layerTable(s: ModelSummary, u: FlopUnit): string {
  const rows = s.layers.map((l, i) => [
    String(l.index),
    l.variant,
    String(l.heads),
    String(l.kvHeads),
    integer(s.params.perLayer[i].total),
    inUnit(s.flops.perLayer[i].total, u),
    megabytes(s.memory.perLayer[i].total),
    integer(s.kvCache.perLayer[i].bytesPerToken),
    l.perturb === null ? l.allocation : `${l.allocation}; ${l.perturb}`,
  ]);
  const headers = ['layer', 'variant', 'heads', 'kv_heads', 'params', u.name, 'act MB', 'KV B/token', 'allocation'];
  const align: Align[] = ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'];
  return formatTable(headers, rows, align);
}

export function formatSummary(s: ModelSummary, m: ModelIR): string {
  const { height, width, channels } = m.image;
  const title =
    `model ${m.name}: ${height}x${width}x${channels} images, patch ${m.patch}, ${m.tokens} tokens, ` +
    `dim ${m.dim}, depth ${m.depth}, ${m.classes} classes, pool ${m.pool}`;
  const kv = s.kvCache;
  const u = flopUnit(s);
  const macsUnit = u.name.charAt(0);
  const figures = [
    `forward:       ${inUnit(s.flops.total, u)} ${u.name} per image (a multiply-add = ${s.conventions.flopsPerMultiplyAdd} FLOPs; ` +
      `${inUnit(s.flops.macs, u)} ${macsUnit} multiply-adds in convs and matmuls)`,
    trainingLine(s, u),
    `activations:   ${megabytes(s.memory.activationsBytes)} MB per image kept for backward (float32)`,
    `parameters:    ${megabytes(s.memory.parameterBytes)} MB (float32)`,
    `K/V cache:     ${integer(kv.bytesPerToken)} bytes per token over ${s.layers.length} layers, ` +
      `${megabytes(kv.bytesPerImage)} MB per image (${percent(kv.bytesPerToken, kv.mhaBytesPerToken)} of MHA)`,
  ];
  return [title, '', paramTable(s), '', flopTable(s, u), '', ...figures, '', layerTable(s, u), ''].join('\n');
}

/** The training step per image: forward, backward and the optimizer's share of a step. */
function trainingLine(s: ModelSummary, u: FlopUnit): string {
  const t = s.training;
  const optimizer = t.optimizer === null
    ? 'no run, so no optimizer'
    : `optimizer ${inUnit(t.optimizer, u)} per step of ${integer(t.imagesPerStep)} images`;
  return `training:      ${inUnit(t.total, u)} ${u.name} per image (forward ${inUnit(t.forward, u)} + backward ${inUnit(t.backward, u)}; ${optimizer}; ` +
    `${(t.total / s.flops.total).toFixed(2)}x the inference forward)`;
}

/** The summary as plain JSON data (numbers and strings only), safe to JSON.stringify. */
export function summaryJson(s: ModelSummary): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}

/** Every model of a document, one summary after another. */
export function formatDocumentSummary(doc: IRDocument): string {
  const summaries = analyzeDocument(doc);
  return summaries.map((s, i) => formatSummary(s, doc.models[i])).join('\n');
}

/** `{ models: [...] }` with one summaryJson per model, in the document's order. */
export function documentSummaryJson(doc: IRDocument): { models: Record<string, unknown>[] } {
  return { models: analyzeDocument(doc).map(summaryJson) };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
