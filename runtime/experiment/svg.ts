// Line charts as inline SVG strings, for the experiment report (report.ts). Hand-written rather than a
// charting library so the report stays one self-contained file with no scripts or external assets.

export interface Series {
  /** Shown in the tooltip (<title>) of the line. */
  label: string;
  color: string;
  /** An SVG stroke-dasharray ('6 3'), or '' for a solid line. */
  dash: string;
  /** [x, y] pairs, x ascending. */
  points: [number, number][];
  /** Draw as a step function: the value holds until the next point (allocation counts). */
  step?: boolean;
  /** Dots at the points (sparse data such as evaluations). */
  markers?: boolean;
  /** Stroke opacity (a faint raw line under its smoothed one); 1 by default. */
  opacity?: number;
  /** Thinner than the chart's lines. */
  thin?: boolean;
}

export interface ChartOptions {
  width: number;
  height: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Fixed y range; otherwise the data's, widened to round ticks. */
  yMin?: number;
  yMax?: number;
  /** The x range ends here at least (a step chart holds its last value to the end of training). */
  xMax?: number;
  /** Only whole-number y ticks (head counts). */
  integerY?: boolean;
  formatY?: (v: number) => string;
  /** Smaller margins and fonts for small multiples. */
  compact?: boolean;
  /** A second label under each x tick (the training time at that step), and in the point tooltips. */
  xSecondary?: (x: number) => string | null;
}

/** Escapes text for SVG/HTML element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(min: number, max: number, count: number, integer = false): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  // Rounding each tick keeps 0.30000000000000004 out of the labels.
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(roundTick(v));
  return ticks;
}

const roundTick = (v: number) => Number(v.toPrecision(12));

/** A short label for a number: 1200 -> 1.2k; keeps a few significant digits otherwise. */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

const fmt = (v: number) => Number(v.toFixed(1)).toString();

export function lineChart(series: readonly Series[], o: ChartOptions): string {
  const font = o.compact ? 9 : 12;
  const m = o.compact ? { left: 26, right: 6, top: o.title ? 16 : 6, bottom: 18 } : { left: 56, right: 16, top: o.title ? 28 : 12, bottom: o.xSecondary ? 42 + font + 2 : 42 };
  const plotW = o.width - m.left - m.right;
  const plotH = o.height - m.top - m.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const xMin = 0;
  const xMax = Math.max(o.xMax ?? 0, ...xs, 1);
  let yMin = o.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let yMax = o.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (yMax === yMin) [yMin, yMax] = [yMin - (o.integerY ? 1 : 0.5), yMax + (o.integerY ? 1 : 0.5)];
  let yTicks = niceTicks(yMin, yMax, o.compact ? 3 : 5, o.integerY);
  // Widen a range that was not fixed out to the next round tick at each end, so both ends are labelled.
  const yStep = yTicks.length > 1 ? yTicks[1]! - yTicks[0]! : 0;
  if (yStep > 0) {
    // At the bottom also when the lowest value is a round tick, so its dots do not sit on the frame (not below zero).
    const lowest = yTicks[0]!;
    if (o.yMin === undefined && (lowest > yMin || (lowest === yMin && yMin > 0))) yMin = yMin >= 0 ? Math.max(0, lowest - yStep) : lowest - yStep;
    if (o.yMax === undefined && yTicks.at(-1)! < yMax) yMax = yTicks.at(-1)! + yStep;
    // 1.35 - 0.05 is 1.3000000000000003: without rounding, the end ticks would fall just outside.
    [yMin, yMax] = [roundTick(yMin), roundTick(yMax)];
    yTicks = niceTicks(yMin, yMax, o.compact ? 3 : 5, o.integerY);
  }
  const xTicks = niceTicks(xMin, xMax, o.compact ? 3 : 8, true);
  const px = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => m.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const formatY = o.formatY ?? shortNumber;

  const parts: string[] = [];
  parts.push(`<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" font-family="system-ui, sans-serif" font-size="${font}">`);
  if (o.title) parts.push(`<text x="${m.left}" y="${o.compact ? 11 : 18}" font-weight="600">${escapeXml(o.title)}</text>`);
  for (const t of yTicks) {
    if (t < yMin || t > yMax) continue;
    parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${fmt(py(t))}" y2="${fmt(py(t))}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${m.left - 4}" y="${fmt(py(t) + font / 3)}" text-anchor="end" fill="#555">${escapeXml(formatY(t))}</text>`);
  }
  for (const t of xTicks) {
    parts.push(`<line x1="${fmt(px(t))}" x2="${fmt(px(t))}" y1="${m.top + plotH}" y2="${m.top + plotH + 3}" stroke="#888"/>`);
    parts.push(`<text x="${fmt(px(t))}" y="${m.top + plotH + font + 3}" text-anchor="middle" fill="#555">${escapeXml(shortNumber(t))}</text>`);
    const second = o.xSecondary?.(t);
    if (second) parts.push(`<text class="x2" x="${fmt(px(t))}" y="${m.top + plotH + 2 * font + 5}" text-anchor="middle" fill="#888">${escapeXml(second)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  if (o.xLabel) parts.push(`<text x="${m.left + plotW / 2}" y="${o.height - 6}" text-anchor="middle" fill="#333">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(14 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${escapeXml(o.yLabel)}</text>`);

  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (!pts.length) continue;
    const coords: string[] = [];
    pts.forEach(([x, y], i) => {
      if (s.step && i > 0) coords.push(`${fmt(px(x))},${fmt(py(pts[i - 1]![1]))}`);
      coords.push(`${fmt(px(x))},${fmt(py(y))}`);
    });
    if (s.step && xMax > pts.at(-1)![0]) coords.push(`${fmt(px(xMax))},${fmt(py(pts.at(-1)![1]))}`);
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    const opacity = s.opacity !== undefined && s.opacity < 1 ? ` stroke-opacity="${s.opacity}"` : '';
    const width = (o.compact ? 1.5 : 1.8) * (s.thin ? 0.6 : 1);
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${Number(width.toFixed(2))}"${dash}${opacity} points="${coords.join(' ')}"><title>${escapeXml(s.label)}</title></polyline>`);
    if (s.markers) {
      for (const [x, y] of pts) {
        const when = o.xSecondary?.(x);
        parts.push(`<circle cx="${fmt(px(x))}" cy="${fmt(py(y))}" r="${o.compact ? 1.8 : 2.8}" fill="${s.color}"><title>${escapeXml(`${s.label}: ${formatY(y)} at step ${x}${when ? ` (${when})` : ''}`)}</title></circle>`);
      }
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface StackedStepOptions {
  width: number;
  height: number;
  title: string;
  /** The top of the stack (the layer's query heads). */
  total: number;
  /** Where the last allocation ends (the run's last step). */
  xMax: number;
  colors: readonly string[];
}

/**
 * Query heads per K/V group over training as stacked bands: the allocation in force from each change
 * to the next, group 0 at the bottom. Stacking keeps every group visible where lines of equal counts
 * would hide each other, and the bands always fill the layer's heads.
 */
export function stackedStepChart(changes: readonly { step: number; counts: readonly number[] }[], o: StackedStepOptions): string {
  const m = { left: 32, right: 6, top: 16, bottom: 18 };
  const plotW = o.width - m.left - m.right;
  const plotH = o.height - m.top - m.bottom;
  const xMax = Math.max(o.xMax, changes.at(-1)?.step ?? 0, 1);
  const px = (x: number) => fmt(m.left + (x / xMax) * plotW);
  const py = (y: number) => fmt(m.top + (1 - y / o.total) * plotH);
  const parts: string[] = [];
  parts.push(`<svg class="allocation" xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" font-family="system-ui, sans-serif" font-size="9">`);
  parts.push(`<text x="${m.left}" y="11" font-weight="600">${escapeXml(o.title)}</text>`);
  const groups = Math.max(0, ...changes.map((c) => c.counts.length));
  for (let g = 0; g < groups; g++) {
    const upper: string[] = [];
    const lower: string[] = [];
    changes.forEach((c, i) => {
      const below = c.counts.slice(0, g).reduce((a, b) => a + b, 0);
      const top = below + (c.counts[g] ?? 0);
      const x0 = c.step;
      const x1 = changes[i + 1]?.step ?? xMax;
      upper.push(`${px(x0)},${py(top)}`, `${px(x1)},${py(top)}`);
      lower.unshift(`${px(x1)},${py(below)}`, `${px(x0)},${py(below)}`);
    });
    const title = `group ${g}: ${changes.map((c) => `${c.counts[g] ?? 0} from step ${c.step}`).slice(0, 20).join(', ')}${changes.length > 20 ? ', ...' : ''}`;
    parts.push(`<polygon fill="${o.colors[g % o.colors.length]}" fill-opacity="0.85" stroke="#fff" stroke-width="0.5" points="${[...upper, ...lower].join(' ')}"><title>${escapeXml(title)}</title></polygon>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  // A tick at every count of query heads; a label at each when they are 10 px apart or more, else at every k-th and the top.
  const every = Math.max(1, Math.ceil(10 / (plotH / Math.max(1, o.total))));
  for (let t = 0; t <= o.total; t++) {
    parts.push(`<line class="tick" x1="${m.left - 2}" x2="${m.left}" y1="${py(t)}" y2="${py(t)}" stroke="#888"/>`);
    if ((t % every === 0 && o.total - t >= every) || t === o.total) parts.push(`<text x="${m.left - 3}" y="${fmt(Number(py(t)) + 3)}" text-anchor="end" fill="#555">${t}</text>`);
  }
  parts.push(`<text transform="translate(8 ${fmt(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" fill="#333">query heads</text>`);
  parts.push(`<text x="${m.left}" y="${m.top + plotH + 11}" fill="#555">0</text>`);
  parts.push(`<text x="${m.left + plotW}" y="${m.top + plotH + 11}" text-anchor="end" fill="#555">step ${escapeXml(shortNumber(xMax))}</text>`);
  parts.push('</svg>');
  return parts.join('');
}
