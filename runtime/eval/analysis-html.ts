// The PGQA analysis as a section of the eval HTML page: inline SVG only (no scripts, no assets). An
// overview of every layer's similarities, then per layer a bar chart (intra-group similarity per K/V
// group, with and without noise; self-similarity per head) and pictures of the first images'
// attention over the patch grid, one per head.
import type { AnalysisReport, LayerAnalysis, Picture } from './similarity.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const SERIES: { name: string; color: string; dash?: boolean; of: (l: LayerAnalysis) => number | null }[] = [
  { name: 'maps intra-group, with noise', color: '#4a7bd0', of: (l) => l.maps.withNoise },
  { name: 'maps intra-group, without noise', color: '#4a7bd0', dash: true, of: (l) => l.maps.withoutNoise },
  { name: 'outputs intra-group, with noise', color: '#d07b2a', of: (l) => l.outputs.withNoise },
  { name: 'outputs intra-group, without noise', color: '#d07b2a', dash: true, of: (l) => l.outputs.withoutNoise },
  { name: 'self-similarity, maps', color: '#2ea043', of: (l) => l.self.meanMaps },
  { name: 'self-similarity, outputs', color: '#8250df', of: (l) => l.self.meanOutputs },
];

/** A line chart of every series over the layers. */
function overview(r: AnalysisReport): string {
  const W = 560, H = 240, L = 44, B = 28, top = 10;
  const values = r.layers.flatMap((l) => SERIES.map((s) => s.of(l))).filter((v): v is number => v !== null);
  const lo = Math.min(0, ...values);
  const n = r.layers.length;
  const x = (i: number) => L + (n === 1 ? (W - L) / 2 : (i * (W - L - 20)) / (n - 1));
  const y = (v: number) => top + ((1 - v) / (1 - lo)) * (H - top - B);
  const axis = [lo, (lo + 1) / 2, 1].map((v) => `<line x1="${L}" x2="${W}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 4}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(2)}</text>`).join('');
  const ticks = r.layers.map((l, i) => `<text x="${x(i)}" y="${H - 10}" text-anchor="middle" font-size="11">${l.layer}</text>`).join('');
  const lines = SERIES.map((s) => {
    const pts = r.layers.map((l, i) => [i, s.of(l)] as const).filter(([, v]) => v !== null).map(([i, v]) => `${x(i).toFixed(1)},${y(v!).toFixed(1)}`);
    if (!pts.length) return '';
    const dots = pts.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${s.color}"/>`).join('');
    return `<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dash ? ' stroke-dasharray="5,3"' : ''}/>${dots}`;
  }).join('');
  const legend = SERIES.map((s) => `<span style="color:${s.color}">${s.dash ? '- - ' : '&#8212; '}${esc(s.name)}</span>`).join(' &nbsp; ');
  return `<svg class="chart" width="${W}" height="${H}" role="img" aria-label="similarities per layer">${axis}${ticks}${lines}<text x="${(W + L) / 2}" y="${H}" text-anchor="middle" font-size="11">layer</text></svg><div class="legend">${legend}</div>`;
}

/** Bars in [-1, 1] (values, labels, colours) as one small SVG; the axis at the bottom unless a value is negative. */
function bars(items: { label: string; value: number | null; color: string }[]): string {
  const negative = items.some((it) => it.value !== null && it.value < 0);
  const w = 16, gap = 4, H = negative ? 110 : 66, mid = negative ? 55 : 52, scale = negative ? 45 : 48;
  const W = items.length * (w + gap) + 10;
  const rects = items.map((it, i) => {
    const x0 = 5 + i * (w + gap);
    const label = `<text x="${x0 + w / 2}" y="${H - 2}" text-anchor="middle" font-size="9">${esc(it.label)}</text>`;
    if (it.value === null) return `<text x="${x0 + w / 2}" y="${mid}" text-anchor="middle" font-size="9" fill="#999">-</text>${label}`;
    const hgt = Math.abs(it.value) * scale;
    return `<rect x="${x0}" y="${it.value >= 0 ? mid - hgt : mid}" width="${w}" height="${hgt}" fill="${it.color}"><title>${esc(it.label)}: ${it.value.toFixed(4)}</title></rect>${label}`;
  }).join('');
  return `<svg class="bars" width="${W}" height="${H}"><line x1="0" x2="${W}" y1="${mid}" y2="${mid}" stroke="#aaa"/>${rects}</svg>`;
}

function layerBars(l: LayerAnalysis): string {
  const groups = l.maps.perGroup.flatMap((g, i) => [
    { label: `g${i}`, value: g.withNoise, color: '#4a7bd0' },
    { label: `g${i}`, value: g.withoutNoise, color: '#9bb6e6' },
  ]);
  const outputs = l.outputs.perGroup.flatMap((g, i) => [
    { label: `g${i}`, value: g.withNoise, color: '#d07b2a' },
    { label: `g${i}`, value: g.withoutNoise, color: '#ebbd92' },
  ]);
  const self = l.self.maps.flatMap((v, h) => [
    { label: `h${h}`, value: v, color: '#2ea043' },
    { label: `h${h}`, value: l.self.outputs[h]!, color: '#8250df' },
  ]);
  return `<div class="figs"><figure>${bars(groups)}<figcaption>maps per group (dark: with noise, light: without)</figcaption></figure>` +
    `<figure>${bars(outputs)}<figcaption>outputs per group</figcaption></figure>` +
    `<figure>${bars(self)}<figcaption>self-similarity per head (green: maps, purple: outputs)</figcaption></figure></div>`;
}

/** One head's attention over the patch grid, white (0) to dark blue (the largest value of the picture). */
function heatmap(values: number[], grid: [number, number], max: number): string {
  const [rows, cols] = grid;
  const cell = Math.max(3, Math.min(12, Math.floor(72 / Math.max(rows, cols))));
  const rects = values.map((v, i) => {
    const t = max > 0 ? v / max : 0;
    const c = (k: number) => Math.round(255 - t * (255 - k));
    return `<rect x="${(i % cols) * cell}" y="${Math.floor(i / cols) * cell}" width="${cell}" height="${cell}" fill="rgb(${c(20)},${c(60)},${c(140)})"/>`;
  }).join('');
  return `<svg width="${cols * cell}" height="${rows * cell}">${rects}</svg>`;
}

function pictures(ps: Picture[], grid: [number, number]): string {
  return ps.map((p) => {
    const max = Math.max(...p.heads.flatMap((h) => h.values));
    const cells = p.heads.map((h, i) => `<figure>${heatmap(h.values, grid, max)}<figcaption>h${i} g${h.group}</figcaption></figure>`).join('');
    return `<div class="figs"><span class="muted">image ${p.image}</span>${cells}</div>`;
  }).join('');
}

export function renderAnalysisSection(r: AnalysisReport, noise: string): string {
  const row = r.pictureRow === 'cls' ? "the class token's attention over the patches" : 'the mean attention over the queries, per patch';
  const layers = r.layers.map((l) => `<h3>layer ${l.layer} <span class="muted">(${l.heads} heads, ${l.groups} K/V heads, noise: ${l.noise})</span></h3>${layerBars(l)}${pictures(l.pictures, r.grid)}`).join('');
  return `<h2>PGQA analysis (${r.images} images)</h2><p class="muted">${esc(noise)}</p>${overview(r)}` +
    `<p class="muted">Pictures: ${row}, with noise, each picture scaled to its image's largest value.</p>${layers}`;
}

export const ANALYSIS_CSS = `
.figs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; margin: 4px 0; }
figure { margin: 0; text-align: center; } figcaption { font-size: 11px; color: #555; }
.legend { font-size: 12px; margin: 4px 0 12px; } h3 { font-size: 1em; margin: 1.2em 0 0.3em; }
`;
