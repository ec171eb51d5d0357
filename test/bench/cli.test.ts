// `attnc bench`: well-formed report and JSON on a tiny spec (never its timings: the figures are only
// checked to be positive numbers), the PyTorch peer when python3 has torch and its skip message when
// it does not, and the clear errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../runtime/bench/table.js';
import { nativeUnavailableReason } from '../../runtime/native/addon.js';
import { probePeer } from '../../runtime/bench/peer.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-bench-');
afterAll(cleanup);

const MODEL = `model tiny {
  image 8 x 8 x 1  patch 4  dim 16  depth 2  mlp 2x  classes 3
  attention { heads 4  kv_heads 2 }
}
`;
fs.writeFileSync(path.join(dir, 'tiny.attn'), `${MODEL}train t {
  model tiny
  data  synthetic(train: 64, test: 16)
  batch 8  seed 3
  optimizer adamw(lr: 1e-3)
}
`);
fs.writeFileSync(path.join(dir, 'norun.attn'), MODEL);

const nativeSkip = nativeUnavailableReason();
const peer = probePeer();
const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describe('attnc bench', () => {
  it('--json: GQA, KDGQA and DGQA derived from the run\'s model, per phase, with the ratio to GQA', async () => {
    const r = await runCli(['bench', 'tiny.attn', '--backend', 'wasm', '--steps', '2', '--rounds', '1', '--no-peer', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as BenchReport;
    expect(report).toMatchObject({ spec: 'tiny.attn', run: 't', batch: 8, steps: 2, warmupSteps: 2, rounds: 1, peer: { skipped: '--no-peer' } });
    expect(report.rows.map((x) => [x.model, x.variant, x.backend])).toEqual([['tiny_gqa', 'gqa', 'wasm'], ['tiny_kdgqa', 'kdgqa', 'wasm'], ['tiny_dgqa', 'dgqa', 'wasm']]);
    for (const row of report.rows) {
      const f = row.figures;
      for (const x of [f.trainImagesPerSec, f.evalImagesPerSec, f.stepMs, f.peakRssBytes, f.baselineRssBytes, row.overGqa]) expect(positive(x)).toBe(true);
      // Each measurement ran in a process of its own: its peak is above what it had once the backend had loaded.
      expect(f.peakRssBytes!).toBeGreaterThan(f.baselineRssBytes!);
      expect(Object.keys(f.phaseMs!).sort()).toEqual(['backward', 'forward', 'optimizer']);
      for (const ms of Object.values(f.phaseMs!)) expect(positive(ms)).toBe(true);
      expect(row.overPeer).toBeNull();
    }
    expect(report.rows[0]!.overGqa).toBe(1);
    // Progress goes to stderr under --json, a line per measurement.
    expect(r.stderr).toMatch(/^round 1\/1: tiny_kdgqa on wasm: [\d.]+ train images\/s/m);
  }, 300_000);

  it.skipIf(nativeSkip !== null)('the table: one row per model and backend, native phases and its arrays', async () => {
    const r = await runCli(['bench', 'tiny.attn', '--backend', 'native', '--steps', '2', '--rounds', '1', '--no-peer', '--threads', '1'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^attnc bench tiny\.attn \(run t\): batch 8, 2 timed step\(s\) after 2 warm-up, best of 1 round\(s\)/m);
    expect(r.stdout).toMatch(/^backend native: native: CPU, 1 thread\(s\), oneDNN /m);
    expect(r.stdout).toContain('| model | backend | train img/s | eval img/s | ms/step | forward ms | backward ms | optimizer ms |');
    // Rates, times, memory, GFLOP/s and the share of the GEMM limit, the ratio to GQA; no peer: no ratios to it.
    for (const m of ['tiny_gqa', 'tiny_kdgqa', 'tiny_dgqa']) expect(r.stdout).toMatch(new RegExp(`^\\| ${m} \\| native \\|( [\\d.]+ \\|){9} \\d+% \\| [\\d.]+x \\| - \\| - \\| - \\|$`, 'm'));
    expect(r.stdout).toMatch(/^\| tiny_gqa \| native \|.* 1\.00x \| - \| - \| - \|$/m);
    expect(r.stdout).toMatch(/^GEMM limit: [\d.]+ GFLOP\/s \(the native backend's GEMM alone, its fastest of four shapes: \d+ x \d+ x \d+\)$/m);
    expect(r.stdout).toMatch(/^FLOPs per training step \(op graph, batch 8\): tiny_gqa [\d.]+ G \(forward [\d.]+, backward [\d.]+, optimizer [\d.]+\)/m);
  }, 300_000);

  it.skipIf('skipped' in peer)('the PyTorch peer: its best thread setting, and attnc\'s rate over it', async () => {
    const backend = nativeSkip === null ? 'native' : 'wasm';
    const r = await runCli(['bench', 'tiny.attn', '--backend', backend, '--models', 'tiny', '--steps', '2', '--rounds', '1', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as BenchReport;
    if (!('rows' in report.peer)) throw new Error(`peer skipped: ${report.peer.skipped}`);
    expect(report.peer.torch).toMatch(/^\d+\.\d+/);
    const [p] = report.peer.rows;
    expect(p!.model).toBe('tiny');
    expect(Object.keys(p!.figures.byThreads)).toEqual(['1', '2']);
    expect([1, 2]).toContain(p!.figures.threads);
    expect(p!.figures.trainImagesPerSec).toBe(Math.max(...Object.values(p!.figures.byThreads)));
    expect(positive(report.rows[0]!.overPeer)).toBe(true);
    // Evaluation and memory of the peer's own process, and attnc's over them.
    for (const x of [p!.figures.evalImagesPerSec, p!.figures.peakRssBytes, p!.figures.baselineRssBytes, report.rows[0]!.evalOverPeer, report.rows[0]!.memoryOverPeer]) expect(positive(x)).toBe(true);
    expect(p!.figures.peakRssBytes).toBeGreaterThan(p!.figures.baselineRssBytes);
    // The named model is itself GQA (uniform, 4 heads over 2 K/V): the row the others would be compared with.
    expect(report.rows[0]!.variant).toBe('gqa');
    expect(report.rows[0]!.overGqa).toBe(1);
  }, 300_000);

  const cuda = probePeer('cuda');
  it.skipIf(!('skipped' in cuda) || 'skipped' in peer)('--peer-device cuda where torch sees no GPU: the peer is skipped with the reason', async () => {
    const r = await runCli(['bench', 'tiny.attn', '--backend', 'wasm', '--models', 'tiny', '--steps', '1', '--rounds', '1', '--peer-device', 'cuda'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^attnc bench: the PyTorch peer is skipped: .*'s torch [\d.]+\S* sees no CUDA device \(--peer-device cuda\)$/m);
  }, 300_000);

  it('python3 missing: the peer is skipped with a message, the rest runs', async () => {
    const before = process.env.ATTNC_PYTHON;
    process.env.ATTNC_PYTHON = path.join(dir, 'no-such-python3');
    try {
      const r = await runCli(['bench', 'tiny.attn', '--backend', 'wasm', '--models', 'tiny', '--steps', '2', '--rounds', '1'], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`attnc bench: the PyTorch peer is skipped: ${path.join(dir, 'no-such-python3')} not found`);
      expect(r.stdout).toMatch(/^peer: skipped: .*no-such-python3 not found/m);
      expect(r.stdout).toMatch(/^\| tiny \| wasm \|/m);
    } finally {
      if (before === undefined) delete process.env.ATTNC_PYTHON;
      else process.env.ATTNC_PYTHON = before;
    }
  }, 300_000);

  it('says what is wrong: unknown backend, no train block, bad numbers, two tfjs backends, unknown model', async () => {
    const unknown = await runCli(['bench', 'tiny.attn', '--backend', 'gpu'], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^attnc bench: unknown --backend 'gpu'; use one or more of wasm, cpu, tfjs-node, tfjs-node-gpu, webgpu, native/);
    const norun = await runCli(['bench', 'norun.attn', '--no-peer'], dir);
    expect(norun.code).toBe(1);
    expect(norun.stderr).toContain('attnc bench: norun.attn has no train block: attnc bench needs one');
    for (const [flag, value] of [['--threads', '0'], ['--threads', '1.5'], ['--steps', '0'], ['--rounds', 'x']]) {
      const r = await runCli(['bench', 'tiny.attn', flag!, value!], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`attnc bench: ${flag} needs a whole number >= 1`);
    }
    expect((await runCli(['bench', 'tiny.attn', '--backend', 'wasm,cpu'], dir)).stderr).toContain('one TensorFlow.js backend per bench');
    expect((await runCli(['bench', 'tiny.attn', '--peer-device', 'gpu'], dir)).stderr).toContain("attnc bench: --peer-device is cpu or cuda, got 'gpu'");
    expect((await runCli(['bench', 'tiny.attn', '--models', 'huge', '--no-peer'], dir)).stderr).toContain("tiny.attn has no model 'huge' (its models: tiny)");
    expect((await runCli(['help', 'bench'], dir)).stdout).toContain('Usage: attnc bench SPEC');
  }, 60_000);
});
