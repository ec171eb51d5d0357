// attnc bench's results: the best of the rounds per model and backend, the ratios measured in the
// same run (each variant's step time over GQA's on the same backend; attnc's training and evaluation
// rates and peak memory over the PyTorch peer's on the same model), the step's GFLOP/s as a share of
// the machine's GEMM rate, and the tables that print them.
import type { GemmPeak } from '../backends.js';
import type { StepFlops } from './flops.js';
import type { Figures } from './measure.js';
import type { PeerFigures } from './peer.js';

export interface BenchRow {
  model: string;
  /** gqa, kdgqa, dgqa (derived), or the named model's attention variant. */
  variant: string;
  backend: string;
  figures: Figures;
  /** This row's step time over the GQA row's on the same backend (null without a GQA row). */
  overGqa: number | null;
  /** Training images/s over the PyTorch peer's on the same model (null without the peer). */
  overPeer: number | null;
  /** Evaluation images/s over the peer's. */
  evalOverPeer: number | null;
  /** Peak RSS over the peer's. */
  memoryOverPeer: number | null;
}

export interface PeerRow {
  model: string;
  variant: string;
  figures: PeerFigures;
  overGqa: number | null;
}

export interface BenchReport {
  date: string;
  spec: string;
  run: string;
  batch: number;
  steps: number;
  warmupSteps: number;
  rounds: number;
  threads: number | null;
  machine: { cpus: number; cpuModel: string; loadAverage: number[] };
  backends: { name: string; why: string }[];
  /** Where the PyTorch peer ran. */
  peerDevice: 'cpu' | 'cuda';
  /** The GEMM rate the native backend reaches alone (null without it). */
  gemm: GemmPeak | null;
  /** Per model: the FLOPs of one training step at the bench's batch (the op graph's). */
  flopsPerStep: Record<string, StepFlops>;
  rows: BenchRow[];
  peer: { torch: string | null; rows: PeerRow[] } | { skipped: string };
}

/** Keeps, per key, the measurement with the best training rate (eval: the best eval rate seen). */
export function bestOf(rounds: Figures[]): Figures {
  const best = rounds.reduce((a, b) => (b.trainImagesPerSec > a.trainImagesPerSec ? b : a));
  const evals = rounds.map((r) => r.evalImagesPerSec).filter((x): x is number => x !== null);
  const peak = rounds.reduce((a, b) => ((b.peakRssBytes ?? 0) > (a.peakRssBytes ?? 0) ? b : a));
  return { ...best, evalImagesPerSec: evals.length ? Math.max(...evals) : null, peakRssBytes: peak.peakRssBytes, baselineRssBytes: peak.baselineRssBytes };
}

/** Fills overGqa (per backend) and overPeer (per model). */
export function withRatios(rows: Omit<BenchRow, 'overGqa' | 'overPeer' | 'evalOverPeer' | 'memoryOverPeer'>[], peer: Omit<PeerRow, 'overGqa'>[] | null): { rows: BenchRow[]; peer: PeerRow[] | null } {
  const gqaOf = (backend: string) => rows.find((r) => r.backend === backend && r.variant === 'gqa');
  const peerOf = (model: string) => peer?.find((p) => p.model === model) ?? null;
  const out = rows.map((r) => {
    const g = gqaOf(r.backend);
    const p = peerOf(r.model);
    const over = (a: number | null, b: number | null | undefined) => (a !== null && b ? a / b : null);
    return {
      ...r,
      overGqa: g ? g.figures.trainImagesPerSec / r.figures.trainImagesPerSec : null,
      overPeer: over(r.figures.trainImagesPerSec, p?.figures.trainImagesPerSec),
      evalOverPeer: over(r.figures.evalImagesPerSec, p?.figures.evalImagesPerSec),
      memoryOverPeer: over(r.figures.peakRssBytes, p?.figures.peakRssBytes),
    };
  });
  const peerGqa = peer?.find((p) => p.variant === 'gqa');
  const peerRows = peer?.map((p) => ({ ...p, overGqa: peerGqa ? peerGqa.figures.trainImagesPerSec / p.figures.trainImagesPerSec : null })) ?? null;
  return { rows: out, peer: peerRows };
}

const num = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '-' : x.toFixed(digits));
const ratio = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}x`);
const mib = (x: number | null) => (x === null ? '-' : (x / 2 ** 20).toFixed(1));

/** Training GFLOP/s of a row: the step's FLOPs (the op graph's) over its measured step time. */
function gflops(r: BenchReport, model: string, stepMs: number): number | null {
  const f = r.flopsPerStep[model];
  return f ? f.total / (stepMs * 1e6) : null;
}

/** The table as Markdown (docs/benchmarks.md prints it as is; the terminal too). */
export function formatTable(r: BenchReport): string {
  const head = ['model', 'backend', 'train img/s', 'eval img/s', 'ms/step', 'forward ms', 'backward ms', 'optimizer ms', 'peak RSS MiB', 'after load MiB', 'train GFLOP/s', 'of GEMM limit', 'step time / GQA', 'train / PyTorch', 'eval / PyTorch', 'peak RSS / PyTorch'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  const share = (g: number | null) => (g === null || !r.gemm ? '-' : `${((100 * g) / r.gemm.gflops).toFixed(0)}%`);
  for (const row of r.rows) {
    const f = row.figures;
    const g = gflops(r, row.model, f.stepMs);
    const after = f.peakRssBytes !== null && f.baselineRssBytes !== null ? f.peakRssBytes - f.baselineRssBytes : null;
    lines.push(`| ${[row.model, row.backend, num(f.trainImagesPerSec), num(f.evalImagesPerSec), num(f.stepMs, 2), num(f.phaseMs?.forward, 2), num(f.phaseMs?.backward, 2), num(f.phaseMs?.optimizer, 2), mib(f.peakRssBytes), mib(after), num(g), share(g), ratio(row.overGqa), ratio(row.overPeer), ratio(row.evalOverPeer), ratio(row.memoryOverPeer)].join(' | ')} |`);
  }
  if ('rows' in r.peer) {
    for (const p of r.peer.rows) {
      const f = p.figures;
      const step = (r.batch * 1000) / f.trainImagesPerSec;
      const g = gflops(r, p.model, step);
      const threads = r.peerDevice === 'cuda' ? 'pytorch (cuda)' : `pytorch (${f.threads} thread${f.threads > 1 ? 's' : ''}${f.evalThreads !== null && f.evalThreads !== f.threads ? `; eval ${f.evalThreads}` : ''})`;
      lines.push(`| ${[p.model, threads, num(f.trainImagesPerSec), num(f.evalImagesPerSec), num(step, 2), '-', '-', '-', mib(f.peakRssBytes), mib(f.peakRssBytes - f.baselineRssBytes), num(g), share(g), ratio(p.overGqa), '1.00x', '1.00x', '1.00x'].join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** Per row whose engine times its ops (native): the share of a step's op time by op kind, largest first. */
function whereTimeGoes(r: BenchReport): string[] {
  const rows = r.rows.filter((row) => row.figures.opMs);
  if (!rows.length) return [];
  return ['', ...rows.map((row) => {
    const ops = Object.entries(row.figures.opMs!).sort((a, b) => b[1] - a[1]);
    const total = ops.reduce((sum, [, ms]) => sum + ms, 0);
    const shown = ops.filter(([, ms]) => ms / total >= 0.01).map(([op, ms]) => `${op} ${((100 * ms) / total).toFixed(0)}%`);
    return `where a step goes, ${row.model} on ${row.backend} (${total.toFixed(1)} ms of ops): ${shown.join(', ')}${shown.length < ops.length ? ', the rest under 1% each' : ''}`;
  })];
}

/** The lines around the table: what was run and on what. */
export function formatReport(r: BenchReport): string {
  const out = [
    `attnc bench ${r.spec} (run ${r.run}): batch ${r.batch}, ${r.steps} timed step(s) after ${r.warmupSteps} warm-up, best of ${r.rounds} round(s), ${r.date}`,
    `machine: ${r.machine.cpus} CPU(s), ${r.machine.cpuModel}, load average ${r.machine.loadAverage.map((x) => x.toFixed(1)).join(' ')}`,
    ...r.backends.map((b) => `backend ${b.name}: ${b.why}`),
    'rows' in r.peer
      ? `peer: the emitted PyTorch package's train.py, torch ${r.peer.torch ?? '?'}, ${r.peerDevice === 'cuda' ? 'CUDA' : 'CPU'}; best of torch.set_num_threads ${r.peer.rows[0] ? Object.keys(r.peer.rows[0].figures.byThreads).join('/') : '1/2'} (per model: ${r.peer.rows.map((p) => `${p.model} ${Object.entries(p.figures.byThreads).map(([t, v]) => `${t}: ${v.toFixed(1)}`).join(', ')} img/s`).join('; ')})`
      : `peer: skipped: ${r.peer.skipped}`,
    r.gemm ? `GEMM limit: ${r.gemm.gflops.toFixed(1)} GFLOP/s (the native backend's GEMM alone, its fastest of four shapes: ${r.gemm.shape})` : 'GEMM limit: not measured (the native backend was not benched)',
    `FLOPs per training step (op graph, batch ${r.batch}): ${Object.entries(r.flopsPerStep).map(([m, f]) => `${m} ${(f.total / 1e9).toFixed(2)} G (forward ${(f.forward / 1e9).toFixed(2)}, backward ${(f.backward / 1e9).toFixed(2)}, optimizer ${(f.optimizer / 1e9).toFixed(3)})`).join('; ')}`,
    '',
    formatTable(r),
    ...whereTimeGoes(r),
    '',
    'peak RSS: the peak resident memory of a process that ran only that measurement (training, then evaluation); after load: the part of it that came after the backend had loaded (PyTorch: after import torch). train GFLOP/s: the step\'s FLOPs over its time; of GEMM limit: that over the GEMM limit above. step time / GQA: the model\'s training step time over the GQA model\'s on the same backend (the cost of its allocation); train, eval, peak RSS / PyTorch: attnc\'s figure over the PyTorch peer\'s on the same model.',
  ];
  return out.join('\n');
}
