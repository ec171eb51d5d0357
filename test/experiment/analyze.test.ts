// `attnc experiment --analyze` on a tiny sweep of the PGQA noise scale (0, 0.5, 2; 6 steps each on
// synthetic data): every complete run's best checkpoint analysed into its folder (analysis.json, the
// same numbers attnc eval --analyze prints for that checkpoint), gathered per scale into summary.json,
// and plotted in report.html; then --report-only keeps it, and bad input is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-experiment-analyze-');
afterAll(cleanup);

const SPEC = `model tiny {
  image 8 x 8 x 1   patch 4   dim 16   depth 2   classes 4
  attention { heads 4  kv_heads 2  perturb gaussian(scale: 0.5) }
}

train base {
  model tiny
  data synthetic(train: 48, test: 24)
  steps 6   batch 16   seed 0
  optimizer adamw(lr: 1e-2)
}

experiment noise {
  train base
  models tiny
  seeds 0
  sweep { perturb gaussian(scale: 0.0), gaussian(scale: 0.5), gaussian(scale: 2.0) }
}
`;

interface Means { mapsWithNoise: number; mapsWithoutNoise: number; outputsWithNoise: number; selfMaps: number; selfOutputs: number }

describe('attnc experiment --analyze', () => {
  it('analyses each best checkpoint and plots the similarities against the noise scale', async () => {
    fs.writeFileSync(path.join(dir, 'noise.attn'), SPEC);
    const r = await runCli(['experiment', 'noise.attn', '--out', 'out', '--quiet', '--backend', 'wasm', '--analyze', '--analyze-images', '8'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[analysis 3\/3\] out\/tiny__perturb_\S+\/seed0\/best\.safetensors/);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'summary.json'), 'utf8')) as { analysis: { x: string; runs: (Means & { scale: number; images: number })[]; byScale: (Means & { scale: number })[] } };
    const a = summary.analysis;
    expect(a.x).toBe('pgqa noise scale');
    expect(a.byScale.map((s) => s.scale)).toEqual([0, 0.5, 2]);
    expect(a.runs.every((run) => run.images === 8)).toBe(true);
    const [zero, half, two] = a.byScale as [Means, Means, Means];
    // No noise: one pass, self-similarity exactly 1; more noise, less similar to the noise-free pass.
    expect([zero.selfMaps, zero.selfOutputs]).toEqual([1, 1]);
    expect(zero.mapsWithNoise).toBe(zero.mapsWithoutNoise);
    expect(half.selfOutputs).toBeLessThan(1);
    expect(two.selfOutputs).toBeLessThan(half.selfOutputs);

    // analysis.json holds what attnc eval --analyze reports for the same checkpoint.
    const runDir = fs.readdirSync(path.join(dir, 'out')).find((d) => d.includes('2'))!;
    const ckpt = path.join('out', runDir, 'seed0', 'best.safetensors');
    const ev = await runCli(['eval', ckpt, '--json', '--backend', 'wasm', '--analyze', '--analyze-images', '8'], dir);
    expect(ev.code, ev.stderr).toBe(0);
    const evLayers = (JSON.parse(ev.stdout) as { analysis: { layers: { self: { meanOutputs: number } }[] } }).analysis.layers;
    const evMean = evLayers.reduce((s, l) => s + l.self.meanOutputs, 0) / evLayers.length;
    expect(two.selfOutputs).toBeCloseTo(evMean, 12);

    const html = fs.readFileSync(path.join(dir, 'out', 'report.html'), 'utf8');
    expect(html).toContain('PGQA analysis against the noise scale');
    expect(html).toContain('PGQA noise scale');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);

    // --report-only keeps the analysis without redoing it.
    const again = await runCli(['experiment', '--report-only', 'out', '--analyze'], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('[analysis');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'summary.json'), 'utf8')).analysis.byScale).toEqual(a.byScale);
  });

  it('refuses bad input with a clear message', async () => {
    const zero = await runCli(['experiment', '--report-only', 'out', '--analyze', '--analyze-images=-3'], dir);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain("--analyze-images needs a whole number of images >= 1, got '-3'");
    const lone = await runCli(['experiment', '--report-only', 'out', '--analyze-images', '5'], dir);
    expect(lone.stderr).toContain('--analyze-images needs --analyze');
    fs.writeFileSync(path.join(dir, 'out', 'tiny__perturb_gaussian_scale_2_0', 'seed0', 'analysis.json'), '{"format": "other"}');
    const broken = await runCli(['experiment', '--report-only', 'out'], dir);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('analysis.json was not written by attnc experiment --analyze; delete it');
  });
});
