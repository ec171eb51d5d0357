// The per-run page: written by attnc train at the end of a run, rebuilt by attnc report, and
// checked against the run's own metrics.jsonl.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetrics, type EvalRecord } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, keyNormModel, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-report-');
afterAll(cleanup);

const count = (html: string, needle: string) => html.split(needle).length - 1;
/** The text of the header row `label` of the figures table. */
const figure = (html: string, label: string) => html.match(new RegExp(`<tr><th>${label}</th><td class="n">([^<]*)</td>`))?.[1];

describe('report.html of a run', () => {
  let plainHtml = '';
  let plainEvals: EvalRecord[] = [];

  beforeAll(async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 3 })]), 'plain');
    const r = await runCli(['train', spec, '--out', 'plain', '--quiet', '--backend', 'wasm'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote plain\/report\.html$/m);
    plainHtml = fs.readFileSync(path.join(dir, 'plain', 'report.html'), 'utf8');
    plainEvals = readMetrics(path.join(dir, 'plain', 'metrics.jsonl')).filter((x): x is EvalRecord => x.kind === 'eval');
  });

  it('attnc train writes a self-contained page with one chart per curve', () => {
    // Training loss, training top-1, test top-1, learning rate, gradient norm, images/s; no allocation for uniform GQA.
    expect(count(plainHtml, '<svg class="chart"')).toBe(6);
    expect(plainHtml).not.toContain('<svg class="allocation"');
    expect(plainHtml).not.toMatch(/<script|<link|src=|href=|@import|url\(/i);
    for (const title of ['training top-1 per step', 'test top-1 per evaluation', 'learning rate per step', 'gradient norm per step', 'training images/s']) expect(plainHtml).toContain(title);
  });

  it('test top-1 on a fixed 0-100% axis, images/s as images over time, the optimizer and schedule, training time under the steps', () => {
    const chart = (title: string) => plainHtml.slice(plainHtml.lastIndexOf('<svg', plainHtml.indexOf(title))).split('</svg>')[0]!;
    const testChart = chart('test top-1 per evaluation');
    const yLabels = [...testChart.matchAll(/text-anchor="end" fill="#555">(-?\d+)</g)].map((m) => Number(m[1]));
    expect(Math.min(...yLabels)).toBe(0);
    expect(Math.max(...yLabels)).toBe(100);
    // Images over time: the steps' images over the sum of their seconds (the harmonic mean of per-step rates).
    const steps = readMetrics(path.join(dir, 'plain', 'metrics.jsonl')).filter((x) => x.kind === 'step') as { imagesPerSec: number }[];
    const overall = steps.length / steps.reduce((a, x) => a + 1 / x.imagesPerSec, 0);
    expect(figure(plainHtml, 'training images/s')).toBe(overall.toFixed(0));
    expect(plainHtml).not.toContain('images/s (mean)');
    expect(figure(plainHtml, 'training time \\(steps\\)')).toMatch(/^\d+:\d\d$/);
    expect(plainHtml).toMatch(/<tr><th>optimizer<\/th><td>adamw, lr [\d.e-]+, weight decay [\d.]+/);
    expect(plainHtml).toMatch(/<tr><th>schedule<\/th><td>(cosine|linear|constant)/);
    expect(plainHtml).toContain('<tr><th>augmentation</th><td>none</td>');
    expect(plainHtml).toContain('training time m:ss below');
    expect(plainHtml).toMatch(/<text class="x2"[^>]*>0:\d\d<\/text>/);
    expect(plainHtml).toMatch(/test top-1: \d+ at step 6 \(0:\d\d\)/);
  });

  it('the header gives the model, data, seed, backend and the last evaluation of metrics.jsonl', () => {
    expect(plainEvals.map((e) => e.step)).toEqual([6, 12, 18]);
    const last = plainEvals.at(-1)!;
    const best = plainEvals.reduce((a, b) => (b.acc > a.acc ? b : a));
    expect(figure(plainHtml, 'final test top-1 %')).toBe((last.acc * 100).toFixed(2));
    expect(figure(plainHtml, 'final test loss')).toBe(last.loss.toFixed(4));
    expect(figure(plainHtml, 'evaluated at step')).toBe('18');
    expect(figure(plainHtml, 'best test top-1 %')).toBe(`${(best.acc * 100).toFixed(2)} (step ${best.step})`);
    expect(plainHtml).toContain('<tr><th>model</th><td>tiny: 1 layer(s)');
    expect(plainHtml).toContain('<tr><th>attention</th><td>mqa (2 query / 1 K/V heads)</td>');
    expect(plainHtml).toContain('<tr><th>data</th><td>synthetic(train: 96, test: 40), batch 16</td>');
    expect(plainHtml).toContain('<tr><th>seed</th><td>7</td>');
    expect(plainHtml).toContain('<tr><th>backend</th><td>wasm</td>');
    expect(plainHtml).toContain('<tr><th>trained</th><td>18 step(s), 3 epoch(s) completed of 3 epoch(s)</td>');
  });

  it('writes summary.csv (a row per epoch, timm\'s habit) and the spec beside metrics.jsonl', async () => {
    const csv = fs.readFileSync(path.join(dir, 'plain', 'summary.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('epoch,step,train_loss,train_top1,eval_loss,eval_top1,lr,train_images_per_sec,train_seconds');
    const records = readMetrics(path.join(dir, 'plain', 'metrics.jsonl'));
    const epochs = records.filter((x) => x.kind === 'epoch') as { epoch: number; step: number; loss: number }[];
    expect(csv).toHaveLength(1 + epochs.length);
    csv.slice(1).forEach((line, i) => {
      const cells = line.split(',');
      expect(Number(cells[0])).toBe(epochs[i]!.epoch);
      expect(Number(cells[1])).toBe(epochs[i]!.step);
      expect(Number(cells[2])).toBe(epochs[i]!.loss);
      expect(Number(cells[5])).toBe(plainEvals[i]!.acc);
    });
    // The compiled spec trains the run again from the run's folder.
    const ir = path.join(dir, 'plain', 'spec.ir.json');
    expect(fs.existsSync(ir)).toBe(true);
    expect((await runCli(['compile', 'plain/spec.ir.json'], dir)).code).toBe(0);
    // A .attn spec is copied as written.
    const src = 'model m {\n  image 8 x 8 x 1   patch 4   dim 16   depth 1   classes 4\n  attention { heads 2  kv_heads 1 }\n}\n\ntrain t {\n  model m\n  data synthetic(train: 64, test: 16)\n  steps 2   batch 16\n}\n';
    fs.writeFileSync(path.join(dir, 'src.attn'), src);
    const r = await runCli(['train', 'src.attn', '--out', 'fromsrc', '--quiet'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'fromsrc', 'spec.attn'), 'utf8')).toBe(src);
    const again = await runCli(['train', 'fromsrc/spec.ir.json', '--out', 'again', '--quiet'], dir);
    expect(again.code, again.stderr).toBe(0);
    // A run of --steps ends without an epoch: its evaluation still gets a row.
    expect(fs.readFileSync(path.join(dir, 'fromsrc', 'summary.csv'), 'utf8').trimEnd().split('\n')[1]).toMatch(/^0,2,,,[\d.e-]+,[\d.]+,,,$/);
  });

  it('attnc report rebuilds the same page from the folder', async () => {
    const file = path.join(dir, 'plain', 'report.html');
    fs.rmSync(file);
    const r = await runCli(['report', 'plain'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('wrote plain/report.html\n');
    // Only the generation time differs.
    const stamp = /\d{4}-\d\d-\d\dT[\d:.]+Z/g;
    expect(fs.readFileSync(file, 'utf8').replace(stamp, 'T')).toBe(plainHtml.replace(stamp, 'T'));
  });

  it('attnc report on a folder without metrics.jsonl exits 1 naming the file', async () => {
    fs.mkdirSync(path.join(dir, 'empty'));
    const r = await runCli(['report', 'empty'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('attnc report: empty/metrics.jsonl does not exist');
    expect(fs.existsSync(path.join(dir, 'empty', 'report.html'))).toBe(false);
    const missing = await runCli(['report', 'nowhere'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nowhere is not a folder/);
  });

  it('draws the allocation of a key_norm layer over the steps', async () => {
    const model = keyNormModel({ window: 3 });
    const spec = writeSpec(dir, irDocument([model], [tinyRun({ epochs: 2 })]), 'keynorm');
    const r = await runCli(['train', spec, '--out', 'keynorm', '--quiet'], dir);
    expect(r.code).toBe(0);
    const html = fs.readFileSync(path.join(dir, 'keynorm', 'report.html'), 'utf8');
    expect(count(html, '<svg class="chart"')).toBe(6);
    expect(count(html, '<svg class="allocation"')).toBe(1);
    // A labelled y axis with a tick at every count of the 8 query heads.
    const alloc = html.slice(html.indexOf('<svg class="allocation"')).split('</svg>')[0]!;
    expect(alloc).toContain('>query heads</text>');
    expect(count(alloc, '<line class="tick"')).toBe(9);
    expect(html).toContain('layer 0 (dgqa, 8 query heads)');
    // One band per K/V group, whose tooltip starts with the first allocation record's count.
    const first = readMetrics(path.join(dir, 'keynorm', 'metrics.jsonl')).find((x) => x.kind === 'allocation');
    expect(first).toBeDefined();
    const counts = (first as { counts: number[] }).counts;
    expect(counts).toHaveLength(3);
    counts.forEach((c, g) => expect(html).toContain(`<title>group ${g}: ${c} from step ${first!.step}`));
  });

  it('a failure to write the page warns and keeps the exit code', async () => {
    // A folder where report.html should go: the atomic rename onto it fails.
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 2, epochs: null })]), 'blocked');
    fs.mkdirSync(path.join(dir, 'blocked', 'report.html', 'x'), { recursive: true });
    const r = await runCli(['train', spec, '--out', 'blocked', '--quiet'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: 2 steps/m);
    expect(r.stderr).toMatch(/^attnc train: warning: could not write blocked\/report\.html: .*\(attnc report blocked retries\)$/m);
  });
});
