// attnc bench's results: the best of the rounds per model and backend, the ratios measured in the
// same run (each variant's step time over GQA's on the same backend; attnc's rate over the PyTorch
// peer's on the same model), and the table that prints them.
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
  rows: BenchRow[];
  peer: { torch: string | null; rows: PeerRow[] } | { skipped: string };
}

/** Keeps, per key, the measurement with the best training rate (eval: the best eval rate seen). */
export function bestOf(rounds: Figures[]): Figures {
  const best = rounds.reduce((a, b) => (b.trainImagesPerSec > a.trainImagesPerSec ? b : a));
  const evals = rounds.map((r) => r.evalImagesPerSec).filter((x): x is number => x !== null);
  return { ...best, evalImagesPerSec: evals.length ? Math.max(...evals) : null, peakRssBytes: Math.max(...rounds.map((r) => r.peakRssBytes ?? 0)) || null };
}

/** Fills overGqa (per backend) and overPeer (per model). */
export function withRatios(rows: Omit<BenchRow, 'overGqa' | 'overPeer'>[], peer: Omit<PeerRow, 'overGqa'>[] | null): { rows: BenchRow[]; peer: PeerRow[] | null } {
  const gqaOf = (backend: string) => rows.find((r) => r.backend === backend && r.variant === 'gqa');
  const peerOf = (model: string) => peer?.find((p) => p.model === model) ?? null;
  const out = rows.map((r) => {
    const g = gqaOf(r.backend);
    const p = peerOf(r.model);
    return { ...r, overGqa: g ? g.figures.trainImagesPerSec / r.figures.trainImagesPerSec : null, overPeer: p ? r.figures.trainImagesPerSec / p.figures.trainImagesPerSec : null };
  });
  const peerGqa = peer?.find((p) => p.variant === 'gqa');
  const peerRows = peer?.map((p) => ({ ...p, overGqa: peerGqa ? peerGqa.figures.trainImagesPerSec / p.figures.trainImagesPerSec : null })) ?? null;
  return { rows: out, peer: peerRows };
}

const num = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '-' : x.toFixed(digits));
const ratio = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}x`);
const mib = (x: number | null) => (x === null ? '-' : (x / 2 ** 20).toFixed(1));

/** The table as Markdown (docs/benchmarks.md prints it as is; the terminal too). */
export function formatTable(r: BenchReport): string {
  const head = ['model', 'backend', 'train img/s', 'eval img/s', 'ms/step', 'forward ms', 'backward ms', 'optimizer ms', 'peak RSS MiB', 'backend MiB', 'step time / GQA', 'train rate / PyTorch'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of r.rows) {
    const f = row.figures;
    lines.push(`| ${[row.model, row.backend, num(f.trainImagesPerSec), num(f.evalImagesPerSec), num(f.stepMs, 2), num(f.phaseMs?.forward, 2), num(f.phaseMs?.backward, 2), num(f.phaseMs?.optimizer, 2), mib(f.peakRssBytes), mib(f.backendBytes), ratio(row.overGqa), ratio(row.overPeer)].join(' | ')} |`);
  }
  if ('rows' in r.peer) {
    for (const p of r.peer.rows) {
      const f = p.figures;
      const step = (r.batch * 1000) / f.trainImagesPerSec;
      lines.push(`| ${[p.model, `pytorch (${f.threads} thread${f.threads > 1 ? 's' : ''})`, num(f.trainImagesPerSec), '-', num(step, 2), '-', '-', '-', '-', '-', ratio(p.overGqa), '1.00x'].join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** The lines around the table: what was run and on what. */
export function formatReport(r: BenchReport): string {
  const out = [
    `attnc bench ${r.spec} (run ${r.run}): batch ${r.batch}, ${r.steps} timed step(s) after ${r.warmupSteps} warm-up, best of ${r.rounds} round(s), ${r.date}`,
    `machine: ${r.machine.cpus} CPU(s), ${r.machine.cpuModel}, load average ${r.machine.loadAverage.map((x) => x.toFixed(1)).join(' ')}`,
    ...r.backends.map((b) => `backend ${b.name}: ${b.why}`),
    'rows' in r.peer
      ? `peer: the emitted PyTorch package's train.py, torch ${r.peer.torch ?? '?'}, CPU; best of torch.set_num_threads ${r.peer.rows[0] ? Object.keys(r.peer.rows[0].figures.byThreads).join('/') : '1/2'} (per model: ${r.peer.rows.map((p) => `${p.model} ${Object.entries(p.figures.byThreads).map(([t, v]) => `${t}: ${v.toFixed(1)}`).join(', ')} img/s`).join('; ')})`
      : `peer: skipped: ${r.peer.skipped}`,
    '',
    formatTable(r),
    '',
    'step time / GQA: the model\'s training step time over the GQA model\'s on the same backend (the cost of its allocation); train rate / PyTorch: attnc\'s training images/s over the PyTorch peer\'s on the same model.',
  ];
  return out.join('\n');
}
