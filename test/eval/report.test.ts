// The text and HTML reports for many classes: most confused pairs instead of the whole matrix.
import { describe, expect, it } from 'vitest';
import type { EvalReport } from '../../runtime/eval/evaluate.js';
import { escapeHtml, renderHtmlReport } from '../../runtime/eval/html-report.js';
import { formatTextReport, type ReportContext } from '../../runtime/eval/text-report.js';
import { vitModel } from '../helpers/model-ir.js';

/** A report of `classes` classes, 10 images each: class c is right 10 - (c % 4) times, else predicted as c + 1. */
function report(classes: number): { r: EvalReport; ctx: ReportContext } {
  const confusion = Array.from({ length: classes }, (_, c) => {
    const row = new Array<number>(classes).fill(0);
    row[c] = 10 - (c % 4);
    row[(c + 1) % classes] += c % 4;
    return row;
  });
  const model = vitModel({ name: 'wide', image: 8, channels: 3, patch: 4, dim: 16, depth: 1, heads: 4, kvHeads: 2, classes });
  const r: EvalReport = {
    top1: 0.85, top5: 0.99, topK: 5, loss: 0.5, count: classes * 10,
    perClass: confusion.map((row, c) => row[c]! / 10), confusion,
    allocation: [{ layer: 0, policy: 'uniform', meanCounts: [2, 2] }], batches: 1, seconds: 0.1,
  };
  const ctx: ReportContext = {
    checkpoint: 'runs/x/best.safetensors', model, step: 100, dataName: 'folder "pets"', dataSource: 'pets', split: 'test',
    classNames: Array.from({ length: classes }, (_, c) => `class<${c}>`), batch: 64,
  };
  return { r, ctx };
}

describe('reports', () => {
  it('prints the least accurate classes and the most confused pairs beyond 20 classes', () => {
    const { r, ctx } = report(25);
    const text = formatTextReport(r, ctx);
    expect(text).not.toContain('confusion matrix');
    expect(text).toContain('lowest per-class accuracy (10 of 25; all in --json and the HTML report):');
    expect(text).toMatch(/^ {2}3 class<3> +10 +70\.00%$/m);
    expect(text).toContain('most confused pairs (true -> predicted):');
    // Classes 3, 7, 11, ... lose 3 images each to the next class: the largest cells, listed first.
    expect(text).toMatch(/most confused pairs.*\n.*\n {2}3 class<3> +4 class<4> +3 +30\.00%/);
    expect(text).toContain('top-1 85.00%   top-5 99.00%   loss 0.5000');
  });

  it('draws the grid up to 100 classes and lists pairs beyond, escaping names', () => {
    const small = report(25);
    const grid = renderHtmlReport(small.r, small.ctx);
    expect(grid).toContain('<table class="grid">');
    expect(grid).toContain('class&lt;3&gt;');
    expect(grid).not.toContain('class<3>');
    const big = report(101);
    const pairs = renderHtmlReport(big.r, big.ctx);
    expect(pairs).not.toContain('<table class="grid">');
    expect(pairs).toContain('101 classes: the grid would have 10201 cells');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
