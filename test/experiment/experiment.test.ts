// `attnc experiment` in-process on a tiny grid (2 models x 2 seeds, 8 steps each on synthetic data):
// the folders, summary.json against the runs' own metrics (recomputed here), the report, skipping and
// resuming, --report-only and the user's mistakes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-experiment-');
afterAll(cleanup);

const SPEC = `model tiny_gqa {
  image 8 x 8 x 1   patch 4   dim 16   depth 2   classes 4
  attention { heads 4  kv_heads 2 }
}

model tiny_kdgqa extends tiny_gqa {
  attention { allocate key_norm(min: 1) }
}

train base {
  model tiny_gqa
  data synthetic(train: 64, test: 32)
  epochs 2   batch 16   seed 0
  optimizer adamw(lr: 1e-2)
}

experiment grid {
  train base
  models tiny_gqa, tiny_kdgqa
  seeds 0, 1
}

experiment other {
  train base
  models tiny_gqa
  seeds 5
}
`;

const MODELS = ['tiny_gqa', 'tiny_kdgqa'];
const SEEDS = [0, 1];
const RUN_DIRS = MODELS.flatMap((m) => SEEDS.map((s) => path.join(m, `seed${s}`)));

interface Rec { kind: string; step: number; epoch: number; loss: number; acc: number; imagesPerSec: number; layer?: number; counts?: number[] }

function records(runDir: string): Rec[] {
  return fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
}

/** The figures of one run, recomputed from its metrics.jsonl the plain way. */
function expectedRun(runDir: string) {
  const rs = records(runDir);
  const evals = rs.filter((r) => r.kind === 'eval');
  const steps = rs.filter((r) => r.kind === 'step');
  const lastEpochRecord = rs.filter((r) => r.kind === 'epoch').at(-1)!;
  const batch = 16;
  return {
    finalTop1: evals.at(-1)!.acc,
    bestTop1: Math.max(...evals.map((e) => e.acc)),
    finalTestLoss: evals.at(-1)!.loss,
    // Two whole epochs: the mean over the last epoch's steps is that epoch's record.
    finalTrainLoss: lastEpochRecord.loss,
    imagesPerSec: (steps.length * batch) / steps.reduce((a, s) => a + batch / s.imagesPerSec, 0),
    steps: steps.at(-1)!.step,
  };
}

/** Step by step: each step runs with the last allocation record read before it (even before any); 4 heads over 2 groups. */
function expectedAllocation(runDir: string, layers: number): { evenShare: number; changes: number } {
  const rs = records(runDir);
  const lastStep = Math.max(...rs.filter((r) => r.kind === 'step').map((r) => r.step));
  let even = 0;
  let changes = 0;
  for (let layer = 0; layer < layers; layer++) {
    const mine = rs.filter((r) => r.kind === 'allocation' && r.layer === layer);
    changes += Math.max(0, mine.length - 1);
    for (let step = 1; step <= lastStep; step++) {
      const held = mine.filter((r) => r.step <= step - 1).at(-1);
      if (!held || held.counts!.every((c) => c === 2)) even++;
    }
  }
  return { evenShare: even / (layers * lastStep), changes };
}

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) };
}

const summaryOf = (out: string) => JSON.parse(fs.readFileSync(path.join(dir, out, 'summary.json'), 'utf8'));
const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe('attnc experiment', () => {
  let first: CliResult;
  const out = path.join(dir, 'grid');

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, 'tiny.attn'), SPEC);
    first = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--out', 'grid'], dir);
  });

  it('trains every run of the grid into OUT/MODEL/seedN with a line per run and the trainer\'s progress', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('experiment grid: 4 of 4 runs (2 model(s) x 2 seed(s)), 2 epochs each; writing grid/');
    for (const [i, d] of RUN_DIRS.entries()) {
      const name = `grid/${d.replace(path.sep, '/')}`;
      expect(first.stdout).toContain(`[${i + 1}/4] ${name}: training into grid/${d}/`);
      expect(first.stdout).toMatch(new RegExp(`\\[${i + 1}/4\\] ${name}: done at step 8: test top-1 \\d+\\.\\d\\d% \\(best \\d+\\.\\d\\d%\\)`));
      for (const f of ['metrics.jsonl', 'last.safetensors', 'best.safetensors']) expect(fs.existsSync(path.join(out, d, f)), `${d}/${f}`).toBe(true);
    }
    // attnc train's own output comes through: its run line and progress.
    expect(first.stdout).toMatch(/run grid\/tiny_kdgqa\/seed1: model tiny_kdgqa, synthetic 64 train \/ 32 test images/);
    expect(first.stdout).toMatch(/eval at step 8: test top-1/);
    // The backend line (about 200 characters) once for the grid, not once per run.
    expect(count(first.stdout, /^backend: /gm)).toBe(1);
  });

  it('writes summary.json with the figures of each run\'s metrics.jsonl, and mean and std per model', () => {
    const s = summaryOf('grid');
    expect(s).toMatchObject({ format: 'attnc-experiment-summary', experiment: 'grid', base: 'base', length: { epochs: 2 } });
    expect(s.runs).toHaveLength(4);
    for (const r of s.runs) {
      const want = expectedRun(path.join(out, r.dir));
      expect(r.status).toBe('complete');
      expect(r.steps).toBe(8);
      expect(r.finalTop1).toBe(want.finalTop1);
      expect(r.bestTop1).toBe(want.bestTop1);
      expect(r.finalTestLoss).toBe(want.finalTestLoss);
      expect(r.finalTrainLoss).toBeCloseTo(want.finalTrainLoss, 12);
      expect(r.imagesPerSec).toBeCloseTo(want.imagesPerSec, 6);
      expect(r.wallSeconds).toBeGreaterThan(0);
      expect(r.wallSource).toBe('measured');
      // By hand: patch 272 + cls 16 + pos 80 + 2 blocks x 3008 + norm 32 + head 68; K/V: 2 layers x (K+V) x 2 heads x 4 dims x 4 bytes.
      expect(r.params).toBe(6484);
      expect(r.kvBytesPerToken).toBe(128);
      expect(r.variants).toEqual(r.model === 'tiny_gqa' ? ['gqa', 'gqa'] : ['kdgqa', 'kdgqa']);
      expect(r.allocation).toEqual(r.model === 'tiny_gqa' ? null : expectedAllocation(path.join(out, r.dir), 2));
    }
    const kdEven = SEEDS.map((seed) => expectedAllocation(path.join(out, 'tiny_kdgqa', `seed${seed}`), 2)!.evenShare);
    expect(s.models.find((m: { model: string }) => m.model === 'tiny_kdgqa').evenShare.mean).toBeCloseTo(meanStd(kdEven).mean, 12);
    const kdChanges = SEEDS.map((seed) => expectedAllocation(path.join(out, 'tiny_kdgqa', `seed${seed}`), 2)!.changes);
    expect(s.models.find((m: { model: string }) => m.model === 'tiny_kdgqa').allocationChanges.mean).toBeCloseTo(meanStd(kdChanges).mean, 12);
    expect(s.models.find((m: { model: string }) => m.model === 'tiny_gqa').evenShare).toBeNull();
    for (const m of s.models) {
      const finals = SEEDS.map((seed) => expectedRun(path.join(out, m.model, `seed${seed}`)).finalTop1);
      const { mean, std } = meanStd(finals);
      expect(m.top1.mean).toBeCloseTo(mean, 12);
      expect(m.top1.std).toBeCloseTo(std, 12);
      expect(m.top1.n).toBe(2);
      expect(m.seeds).toEqual(SEEDS);
      expect(m.bestTop1.mean).toBeCloseTo(meanStd(SEEDS.map((seed) => expectedRun(path.join(out, m.model, `seed${seed}`)).bestTop1)).mean, 12);
    }
    expect(s.models.map((m: { model: string }) => m.model).sort()).toEqual(MODELS);
    expect(s.models[0].top1.mean).toBeGreaterThanOrEqual(s.models[1].top1.mean);
    // tiny_gqa is the GQA baseline the other is compared with.
    expect(s.reference).toBe('tiny_gqa');
    const gqa = s.models.find((m: { model: string }) => m.model === 'tiny_gqa');
    const kd = s.models.find((m: { model: string }) => m.model === 'tiny_kdgqa');
    expect(gqa.baseline).toBe('gqa');
    expect(kd.baseline).toBeNull();
    expect(kd.deltaTop1).toBeCloseTo(kd.top1.mean - gqa.top1.mean, 12);
  });

  it('prints the comparison table, best mean first', () => {
    const s = summaryOf('grid');
    const rows = first.stdout.split('\n').filter((l) => /^tiny_/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]!.startsWith(s.models[0].model)).toBe(true);
    const pct = (x: number) => (x * 100).toFixed(2);
    for (const m of s.models) {
      const row = rows.find((r) => r.startsWith(m.model))!;
      expect(row).toContain(`${pct(m.top1.mean)} ± ${pct(m.top1.std)}`);
      expect(row).toContain('2/2');
    }
    expect(rows.find((r) => r.startsWith('tiny_gqa'))).toContain('(GQA baseline)');
    expect(first.stdout).toContain('wrote grid/summary.json, grid/report.html');
  });

  it('compares with the reference paired by seed (bootstrap intervals, Holm-corrected t-test, Wilcoxon), warns about few seeds, and prints it as Markdown', async () => {
    const s = summaryOf('grid');
    const kd = s.models.find((m: { model: string }) => m.model === 'tiny_kdgqa');
    const gqa = s.models.find((m: { model: string }) => m.model === 'tiny_gqa');
    const finals = (model: string) => SEEDS.map((seed) => expectedRun(path.join(out, model, `seed${seed}`)).finalTop1);
    const diffs = finals('tiny_kdgqa').map((x, i) => x - finals('tiny_gqa')[i]!);
    expect(gqa.comparison).toBeNull();
    expect(kd.comparison).toMatchObject({ reference: 'tiny_gqa', seeds: SEEDS });
    expect(kd.comparison.meanDiff).toBeCloseTo((diffs[0]! + diffs[1]!) / 2, 12);
    // One comparison: Holm leaves its p alone.
    if (kd.comparison.tTest) expect(kd.comparison.pHolm).toBe(kd.comparison.tTest.p);
    expect(['better', 'worse', 'no significant difference']).toContain(kd.comparison.verdict);
    for (const m of [kd, gqa]) if (m.top1CI) expect(m.top1CI[0]).toBeLessThanOrEqual(m.top1CI[1]);
    expect([...s.warnings].sort()).toEqual(MODELS.map((m) => `${m}: 2 seeds; intervals and tests need at least 5 to mean much`));
    const md = await runCli(['report', '--md', 'grid'], dir);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^\| model \| layers \| seeds \| test top-1 % \| 95% CI \| Δ pts \(95% CI\) \| p \(Holm\) \| verdict \| even split % \| changes \|$/m);
    expect(md.stdout).toContain(`| ${kd.comparison.verdict} |`);
    expect(md.stdout).toContain('Warning: tiny_kdgqa: 2 seeds');
    expect(md.stdout).toMatch(/^Wall time: .+ over 4 of 4 runs \(loading and evaluation included\)\.$/m);
    const bad = await runCli(['report', '--md', 'grid/tiny_gqa'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/summary\.json does not exist: give the folder attnc experiment wrote/);
  });

  it('writes a self-contained report.html: the table, a line chart each for top-1 and loss, allocation charts of the key_norm layers', () => {
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|<img|\b(src|href)=|url\(/i);
    const charts = html.match(/<svg class="chart"[\s\S]*?<\/svg>/g) ?? [];
    expect(charts).toHaveLength(2);
    // Top-1: one line per run; loss: each run as logged (faint) and smoothed.
    expect(count(charts[0]!, /<polyline/g)).toBe(4);
    expect(count(charts[1]!, /<polyline/g)).toBe(8);
    expect(count(charts[1]!, /stroke-opacity="0.22"/g)).toBe(4);
    // One per seed and key_norm layer: tiny_kdgqa has 2 layers, run with 2 seeds.
    const allocation = html.match(/<svg class="allocation"[\s\S]*?<\/svg>/g) ?? [];
    expect(allocation).toHaveLength(4);
    for (const a of allocation) expect(count(a, /<polygon/g)).toBe(2); // 2 K/V groups
    const s = summaryOf('grid');
    const table = html.slice(html.indexOf('<table class="comparison"'), html.indexOf('</table>'));
    expect(count(table, /<tr/g)).toBe(3);
    for (const m of s.models) expect(table).toContain(`${(m.top1.mean * 100).toFixed(2)} ± ${(m.top1.std * 100).toFixed(2)}`);
    expect(table).toMatch(/tiny_gqa<span class="badge">GQA baseline<\/span>/);
    const runs = html.slice(html.indexOf('<table class="runs"'));
    for (const d of RUN_DIRS) expect(runs).toContain(d);
  });

  it('skips finished runs and trains again only the one whose checkpoint was removed, to the same numbers', async () => {
    const noTiming = (d: string) => records(path.join(out, d)).map((r) => {
      const { imagesPerSec: _a, elapsedSec: _b, ...rest } = r as Rec & { elapsedSec?: number };
      return rest;
    });
    const before = Object.fromEntries(RUN_DIRS.map((d) => [d, fs.readFileSync(path.join(out, d, 'metrics.jsonl'), 'utf8')]));
    const redone = RUN_DIRS[3]!;
    const redoneBefore = noTiming(redone);
    fs.rmSync(path.join(out, redone, 'last.safetensors'));
    const again = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--out', 'grid', '--resume', '--quiet'], dir);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(count(again.stdout, /: complete at step 8 in .*, skipped/g)).toBe(3);
    expect(again.stdout).toContain(`[4/4] grid/tiny_kdgqa/seed1: training into grid/${redone}/`);
    expect(again.stdout).not.toMatch(/step \d+\/8/); // --quiet: no trainer progress
    for (const d of RUN_DIRS.slice(0, 3)) expect(fs.readFileSync(path.join(out, d, 'metrics.jsonl'), 'utf8')).toBe(before[d]);
    expect(noTiming(redone)).toEqual(redoneBefore);
  });

  it('rebuilds the report from the folder with --report-only', async () => {
    const summaryBefore = summaryOf('grid');
    fs.rmSync(path.join(out, 'summary.json'));
    fs.rmSync(path.join(out, 'report.html'));
    const r = await runCli(['experiment', '--report-only', 'grid'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('training');
    expect(summaryOf('grid')).toEqual(summaryBefore);
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<svg class="chart"');
  });
});

describe('attnc experiment, runs stopped part way', () => {
  it('refuses them without --resume, continues them with it, and --only trains one model while the report covers the grid', async () => {
    fs.writeFileSync(path.join(dir, 'tiny.attn'), SPEC);
    const short = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--out', 'part', '--steps', '2', '--only', 'tiny_gqa', '--quiet'], dir);
    expect(short.code).toBe(0);
    expect(short.stdout).toContain('experiment grid: 2 of 4 runs');
    expect(fs.existsSync(path.join(dir, 'part', 'tiny_kdgqa'))).toBe(false);
    const partial = summaryOf('part');
    expect(partial.runs.map((r: { status: string }) => r.status)).toEqual(['complete', 'complete', 'not run', 'not run']);
    expect(partial.models.find((m: { model: string }) => m.model === 'tiny_kdgqa').top1).toBeNull();

    // The base run's 2 epochs (8 steps) are longer than the 2 steps trained: those runs are part way.
    const refused = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--out', 'part'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('2 run(s) were stopped part way: part/tiny_gqa/seed0 (step 2), part/tiny_gqa/seed1 (step 2) — continue them with --resume');

    const resumed = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--out', 'part', '--resume', '--quiet'], dir);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('[1/4] grid/tiny_gqa/seed0: resuming from step 2 into part/tiny_gqa/seed0/');
    expect(resumed.stdout).toContain('[3/4] grid/tiny_kdgqa/seed0: training into part/tiny_kdgqa/seed0/');
    const s = summaryOf('part');
    expect(s.runs.map((r: { status: string; steps: number }) => [r.status, r.steps])).toEqual(Array(4).fill(['complete', 8]));
  });
});

describe('experiments of one study share runs', () => {
  it("reuse a complete run of another experiment (same model, settings, seed) linked into their folder, and refuse one stopped part way", async () => {
    fs.writeFileSync(path.join(dir, 'share.attn'), `${SPEC}\nexperiment pair {\n  train base\n  models tiny_gqa\n  seeds 0\n}\n`);
    const first = await runCli(['experiment', 'share.attn', '--name', 'grid', '--out', 'shareA', '--steps', '2', '--only', 'tiny_gqa', '--quiet'], dir);
    expect(first.code).toBe(0);
    fs.mkdirSync(path.join(dir, 'shareB'));
    fs.symlinkSync(path.join(dir, 'shareA', 'tiny_gqa'), path.join(dir, 'shareB', 'tiny_gqa'));
    const reused = await runCli(['experiment', 'share.attn', '--name', 'pair', '--out', 'shareB', '--steps', '2', '--quiet'], dir);
    expect(reused.stderr).toBe('');
    expect(reused.code).toBe(0);
    expect(reused.stdout).toContain('[1/1] pair/tiny_gqa/seed0: complete at step 2 in shareB/tiny_gqa/seed0/, skipped');
    expect(summaryOf('shareB').runs[0].status).toBe('complete');

    const longer = await runCli(['experiment', 'share.attn', '--name', 'pair', '--out', 'shareB', '--steps', '4', '--resume', '--quiet'], dir);
    expect(longer.code).toBe(1);
    expect(longer.stderr).toContain("shareB/tiny_gqa/seed0 holds run 'grid/tiny_gqa/seed0' of another experiment, stopped at step 2: finish it there");
  });
});

describe('attnc experiment refuses, naming the fix', () => {
  it('an unknown experiment, listing those of the spec', async () => {
    fs.writeFileSync(path.join(dir, 'tiny.attn'), SPEC);
    const r = await runCli(['experiment', 'tiny.attn', '--name', 'nope'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("attnc experiment: tiny.attn has no experiment 'nope'; its experiments: grid, other");
    const unnamed = await runCli(['experiment', 'tiny.attn'], dir);
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toContain('tiny.attn has 2 experiments: grid, other — choose one with --name NAME');
  });

  it('a spec without experiments', async () => {
    fs.writeFileSync(path.join(dir, 'plain.attn'), SPEC.slice(0, SPEC.indexOf('experiment grid')));
    const r = await runCli(['experiment', 'plain.attn'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('attnc experiment: plain.attn has no experiment block; add one');
  });

  it('--report-only on a published comparison (summary.json and report.html only) says what the folder lacks', async () => {
    const r = await runCli(['experiment', '--report-only', 'docs/results/fashion-mnist-variants']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds a finished comparison (summary.json, report.html) but not the runs it was made from');
    expect(r.stderr).toContain('docs/results/fashion-mnist-variants/README.md gives the command');
    expect(fs.readFileSync('docs/results/fashion-mnist-variants/README.md', 'utf8')).toContain('--report-only');
  });

  it('an unknown --only model, both --epochs and --steps, and --report-only on a folder it did not write', async () => {
    fs.writeFileSync(path.join(dir, 'tiny.attn'), SPEC);
    const only = await runCli(['experiment', 'tiny.attn', '--name', 'grid', '--only', 'vit'], dir);
    expect(only.code).toBe(1);
    expect(only.stderr).toContain("experiment 'grid' has no model 'vit'; its models: tiny_gqa, tiny_kdgqa");
    const both = await runCli(['experiment', 'tiny.attn', '--epochs', '1', '--steps', '2'], dir);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('give --epochs or --steps, not both');
    fs.mkdirSync(path.join(dir, 'empty'), { recursive: true });
    const report = await runCli(['experiment', '--report-only', 'empty'], dir);
    expect(report.code).toBe(1);
    expect(report.stderr).toContain('empty has no experiment.json');
  });
});
