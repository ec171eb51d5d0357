// The pieces of `attnc experiment` that need no training: the grid loop's decisions (with a fake
// trainer), statistics, thinning of long curves, chart scales and the variant labels.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bucketMeans, runCurves, sampleChanges, smoothed } from '../../runtime/experiment/curves.js';
import { identicalGroups, MODEL_COLORS, type ReportInput } from '../../runtime/experiment/report.js';
import { runGrid, type PlannedRun } from '../../runtime/experiment/grid.js';
import { describeVariants, stat, summarizeRun } from '../../runtime/experiment/summary.js';
import { lineChart, niceTicks, stackedStepChart } from '../../runtime/experiment/svg.js';
import type { MetricsRecord } from '../../runtime/train/index.js';
import { tempDir, tinyModel } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-experiment-parts-');
afterAll(cleanup);

function planned(name: string, state: PlannedRun['state'] = { kind: 'new' }): PlannedRun {
  const absDir = path.join(dir, name);
  fs.mkdirSync(absDir, { recursive: true });
  return { name: `g/${name}/seed0`, model: name, seed: 0, dir: `${name}/seed0`, absDir, shown: name, state };
}

/** Appends step records 1..n (a fake attnc train's progress). */
function writeSteps(run: PlannedRun, n: number): void {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ kind: 'step', step: i + 1, epoch: 1, loss: 1, acc: 0.5, lr: 0.1, gradNorm: 1, imagesPerSec: 100 }));
  fs.writeFileSync(path.join(run.absDir, 'metrics.jsonl'), lines.join('\n') + '\n');
}

describe('runGrid', () => {
  it('skips complete runs, resumes partial ones, goes on past a run that failed part way, and records wall time', async () => {
    const runs = [planned('a', { kind: 'complete', step: 8 }), planned('b', { kind: 'partial', step: 3 }), planned('c'), planned('d')];
    writeSteps(runs[1]!, 3);
    const calls: [string, boolean][] = [];
    const walls: [string, number, boolean][] = [];
    const lines: string[] = [];
    let clock = 0;
    const outcome = await runGrid(runs, {
      say: (l) => lines.push(l),
      now: () => clock,
      recordWall: (r, s, fresh) => walls.push([r.model, s, fresh]),
      train: async (run, resume) => {
        calls.push([run.model, resume]);
        clock += 2000;
        writeSteps(run, run.model === 'c' ? 5 : 8);
        return run.model === 'c' ? 1 : 0; // c diverges at step 5
      },
    });
    expect(calls).toEqual([['b', true], ['c', false], ['d', false]]);
    expect(walls).toEqual([['b', 2, false], ['c', 2, true], ['d', 2, true]]);
    expect(outcome).toEqual({ trained: ['g/b/seed0', 'g/d/seed0'], skipped: ['g/a/seed0'], failed: ['g/c/seed0'], stoppedAt: null });
    expect(lines).toContain('[1/4] g/a/seed0: complete at step 8 in a/, skipped');
    expect(lines).toContain('[2/4] g/b/seed0: resuming from step 3 into b/');
    expect(lines).toContain('[3/4] g/c/seed0: failed at step 5 (exit 1); going on with the next run');
    expect(lines).toContain('[4/4] g/d/seed0: done at step 8: no evaluation (2.0 s)');
  });

  it('stops the grid at Ctrl-C, and at a failure before any step (bad data or backend would fail every run)', async () => {
    const stopped = await runGrid([planned('e'), planned('f')], {
      say: () => {}, recordWall: () => {},
      train: async (run) => (writeSteps(run, 2), 130),
    });
    expect(stopped.stoppedAt).toEqual({ run: 'g/e/seed0', code: 130 });
    expect(fs.existsSync(path.join(dir, 'f', 'metrics.jsonl'))).toBe(false);

    // A resumed run that fails before adding a step (its earlier steps do not count as progress).
    const resumed = planned('h', { kind: 'partial', step: 2 });
    writeSteps(resumed, 2);
    const calls: string[] = [];
    const broken = await runGrid([resumed, planned('i')], {
      say: () => {}, recordWall: () => {},
      train: async (run) => (calls.push(run.model), 1),
    });
    expect(calls).toEqual(['h']);
    expect(broken.stoppedAt).toEqual({ run: 'g/h/seed0', code: 1 });
  });
});

describe('summary pieces', () => {
  it('mean and sample standard deviation; none for one value', () => {
    expect(stat([])).toBeNull();
    expect(stat([0.5])).toEqual({ mean: 0.5, std: null, n: 1 });
    const s = stat([0.2, 0.4, 0.9])!;
    expect(s.mean).toBeCloseTo(0.5, 15);
    expect(s.std).toBeCloseTo(Math.sqrt((0.09 + 0.01 + 0.16) / 2), 15);
  });

  it('describes the layers by variant, in runs', () => {
    expect(describeVariants(['gqa', 'gqa', 'gqa'])).toBe('gqa');
    expect(describeVariants(['mha', 'mha', 'dgqa', 'dgqa', 'mha'])).toBe('mha 0-1, dgqa 2-3, mha 4');
  });
});

describe('curves', () => {
  it('keeps short curves, averages long ones in buckets that cover every point', () => {
    const short: [number, number][] = [[1, 3], [2, 1]];
    expect(bucketMeans(short, 5)).toBe(short);
    const long = Array.from({ length: 1000 }, (_, i): [number, number] => [i + 1, i % 2]);
    const b = bucketMeans(long, 100);
    expect(b).toHaveLength(100);
    expect(b.every(([, y]) => y === 0.5)).toBe(true);
    expect(b.at(-1)![0]).toBe(1000);
  });

  it('samples an allocation that changes at every step at even steps, each the allocation then in force', () => {
    const changes = Array.from({ length: 1001 }, (_, s) => ({ step: s, counts: [s % 3, 4 - (s % 3)] }));
    const sampled = sampleChanges(changes, 1000, 11);
    expect(sampled.map((c) => c.step)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    for (const c of sampled) expect(c.counts).toEqual([c.step % 3, 4 - (c.step % 3)]);
    const sparse = [{ step: 0, counts: [2, 2] }, { step: 300, counts: [3, 1] }];
    expect(sampleChanges(sparse, 1000, 11)).toBe(sparse);
  });

  it('reads loss, evaluations and allocation changes per layer from the records', () => {
    const records: MetricsRecord[] = [
      { kind: 'allocation', step: 0, epoch: 1, layer: 1, counts: [2, 2] },
      { kind: 'step', step: 1, epoch: 1, loss: 2, acc: 0, lr: 1, gradNorm: 1, imagesPerSec: 1 },
      { kind: 'allocation', step: 1, epoch: 1, layer: 1, counts: [3, 1] },
      { kind: 'step', step: 2, epoch: 1, loss: 1, acc: 0, lr: 1, gradNorm: 1, imagesPerSec: 1 },
      { kind: 'eval', step: 2, epoch: 1, loss: 1, acc: 0.75, images: 4, imagesPerSec: 1 },
    ];
    const c = runCurves(records);
    expect(c.loss).toEqual([[1, 2], [2, 1]]);
    expect(c.top1).toEqual([[2, 0.75]]);
    expect([...c.allocation.entries()]).toEqual([[1, [{ step: 0, counts: [2, 2] }, { step: 1, counts: [3, 1] }]]]);
    expect(c.lastStep).toBe(2);
  });
});

describe('charts', () => {
  it('round ticks', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.45, 1.47, 5)).toEqual([0.5, 1]);
    expect(niceTicks(0, 8, 2, true)).toEqual([0, 5]);
  });

  it('labels both ends of the y axis, widened to round values', () => {
    const svg = lineChart([{ label: 'loss', color: '#111', dash: '', points: [[1, 1.32], [2, 1.43]] }], { width: 400, height: 200 });
    const labels = [...svg.matchAll(/text-anchor="end" fill="#555">([^<]+)</g)].map((m) => m[1]);
    expect(labels).toEqual(['1.3', '1.35', '1.4', '1.45']);
  });

  it('a line chart has one polyline per series, its points inside the frame, and escapes labels', () => {
    const svg = lineChart(
      [
        { label: 'a<b>', color: '#111', dash: '', points: [[0, 0.5], [10, 0.9]], markers: true },
        { label: 'c', color: '#222', dash: '4 2', points: [[0, 1.5], [10, 0.3]] },
      ],
      { width: 400, height: 200 },
    );
    expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
    expect((svg.match(/<circle/g) ?? []).length).toBe(2);
    expect(svg).toContain('a&lt;b&gt;');
    expect(svg).toContain('stroke-dasharray="4 2"');
    const coords = [...svg.matchAll(/points="([^"]+)"/g)].flatMap((m) => m[1]!.split(' ').map((p) => p.split(',').map(Number)));
    for (const [x, y] of coords) {
      expect(x).toBeGreaterThanOrEqual(56);
      expect(x).toBeLessThanOrEqual(400 - 16);
      expect(y).toBeGreaterThanOrEqual(12);
      expect(y).toBeLessThanOrEqual(200 - 42);
    }
  });

  it('an allocation chart stacks the groups to the layer\'s heads at every step', () => {
    const svg = stackedStepChart([{ step: 0, counts: [2, 2] }, { step: 5, counts: [3, 1] }], { width: 170, height: 96, title: 'layer 0', total: 4, xMax: 10, colors: ['#a', '#b'] });
    const polygons = [...svg.matchAll(/<polygon[^>]*points="([^"]+)"/g)].map((m) => m[1]!.split(' ').map((p) => p.split(',').map(Number)));
    expect(polygons).toHaveLength(2);
    // Frame: top 16, bottom 96 - 18 = 78, so a head is (78 - 16) / 4 = 15.5 px. Group 1 spans 2..4 heads, then 3..4.
    const ys = (poly: number[][]) => [...new Set(poly.map((p) => p[1]))].sort((a, b) => a - b);
    expect(ys(polygons[0]!)).toEqual([31.5, 47, 78]);
    expect(ys(polygons[1]!)).toEqual([16, 31.5, 47]);
    // x: 32 + step / 10 * 132 (the left margin holds the 'query heads' label). Along the top left to right, back along the bottom: one simple outline.
    expect(polygons[1]!.map((p) => p.join(',')).join(' ')).toBe('32,16 98,16 98,16 164,16 164,31.5 98,31.5 98,47 32,47');
    // The y axis is labelled, with a tick and a label at every count of heads.
    expect(svg).toContain('>query heads</text>');
    expect([...svg.matchAll(/text-anchor="end" fill="#555">(\d+)</g)].map((m) => Number(m[1]))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('experiment page (issue 13)', () => {
  /** sRGB hex to CIELAB (D65), for the distance between two colours as the eye sees it (ΔE*76). */
  function lab(hex: string): [number, number, number] {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92;
    }) as [number, number, number];
    const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
    const x = f((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047);
    const y = f(0.2126 * r + 0.7152 * g + 0.0722 * b);
    const z = f((0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883);
    return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
  }

  it('the first eight model colours are far apart (every pair at least 45 ΔE*76)', () => {
    const eight = MODEL_COLORS.slice(0, 8).map(lab);
    for (let i = 0; i < 8; i++) for (let j = i + 1; j < 8; j++) expect(Math.hypot(...eight[i]!.map((v, k) => v - eight[j]![k]!)), `${MODEL_COLORS[i]} vs ${MODEL_COLORS[j]}`).toBeGreaterThan(45);
  });

  it('smooths a long loss line (debiased EMA) and leaves a short one alone', () => {
    const short: [number, number][] = [[1, 3], [2, 1]];
    expect(smoothed(short)).toBe(short);
    const noisy: [number, number][] = Array.from({ length: 300 }, (_, i) => [i + 1, 1 + (i % 2 ? 0.5 : -0.5)]);
    const s = smoothed(noisy);
    expect(s[0]).toEqual([1, 0.5]); // debiased: the first point is itself
    const tail = s.slice(100).map((p) => p[1]);
    expect(Math.max(...tail) - Math.min(...tail)).toBeLessThan(0.1);
  });

  it('names the runs whose curves are identical and hide each other', () => {
    const curve = (loss: number[]) => ({ loss: loss.map((v, i) => [i + 1, v] as [number, number]), top1: [], allocation: new Map(), lastStep: loss.length });
    const runs = [['gqa', 0], ['kdgqa', 0], ['mha', 0], ['gqa', 1]].map(([model, seed]) => ({ run: `${model}/${seed}`, model, seed }));
    const input = {
      summary: { runs },
      curves: new Map([['gqa/0', curve([2, 1])], ['kdgqa/0', curve([2, 1])], ['mha/0', curve([2, 0.9])], ['gqa/1', curve([2.1, 1])]]),
    } as unknown as ReportInput;
    expect(identicalGroups(input, (c) => c.loss)).toEqual([['gqa seed 0', 'kdgqa seed 0']]);
  });

  it('a run without a recorded wall time gets one from metrics.jsonl, marked as such', () => {
    const grid = { name: 'g/m/seed0', model: 'm', seed: 0, dir: 'm/seed0' };
    const records: MetricsRecord[] = [
      ...Array.from({ length: 4 }, (_, i): MetricsRecord => ({ kind: 'step', step: i + 1, epoch: 1, loss: 1, acc: 0.5, lr: 0.1, gradNorm: 1, imagesPerSec: 100 })),
      { kind: 'epoch', step: 4, epoch: 1, loss: 1, acc: 0.5, lr: 0.1, imagesPerSec: 100, elapsedSec: 12 },
      { kind: 'eval', step: 4, epoch: 1, loss: 1, acc: 0.5, images: 500, imagesPerSec: 250 },
      ...Array.from({ length: 2 }, (_, i): MetricsRecord => ({ kind: 'step', step: i + 5, epoch: 2, loss: 1, acc: 0.5, lr: 0.1, gradNorm: 1, imagesPerSec: 100 })),
    ];
    const estimated = summarizeRun(grid as never, tinyModel(), records, true, null);
    // 12 s of epoch 1, 2 s of evaluation, 2 more steps at epoch 1's 3 s a step.
    expect(estimated.wallSeconds).toBeCloseTo(20, 9);
    expect(estimated.wallSource).toBe('metrics');
    const measured = summarizeRun(grid as never, tinyModel(), records, true, 33);
    expect(measured).toMatchObject({ wallSeconds: 33, wallSource: 'measured' });
    expect(summarizeRun(grid as never, tinyModel(), null, false, null)).toMatchObject({ wallSeconds: null, wallSource: null });
  });
});
