// attnc bench's peer: the emitted PyTorch package (compiler/targets/pytorch) of the same model and
// bench run, its train.py under python3 on the CPU, in each thread setting (torch.set_num_threads 1
// and 2, OpenBLAS single-threaded and OpenMP passive, as docs/native.md found best on 2 cores); the
// better setting counts, for training and for evaluation separately. The training rate is the steady
// one between train.py's progress lines after the warm-up; evaluation and memory come from
// peer_driver.py, which runs train.py in its own process and then times the model's evaluation.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitPytorch } from '../../compiler/targets/pytorch/emit.js';
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { WARMUP_STEPS } from './variants.js';

/** The interpreter the peer runs under: ATTNC_PYTHON, else /usr/bin/python3 (as attnc doctor checks). */
export const python = (): string => process.env.ATTNC_PYTHON ?? '/usr/bin/python3';
export const PEER_THREADS = [1, 2] as const;

/** One run of the peer in one thread setting. */
export interface PeerRun {
  trainImagesPerSec: number;
  evalImagesPerSec: number | null;
  /** The process's resident memory just after `import torch`, and its peak (training and evaluation). */
  baselineRssBytes: number;
  peakRssBytes: number;
}

export interface PeerFigures extends PeerRun {
  /** The torch.set_num_threads setting of the best training rate (its memory is reported). */
  threads: number;
  /** The setting of the best evaluation rate. */
  evalThreads: number | null;
  /** Every setting's training rate, in PEER_THREADS order. */
  byThreads: Record<number, number>;
}

// The driver stays in the sources, which the package ships; the build (dist/runtime/bench) reads it there.
const HERE = dirname(fileURLToPath(import.meta.url));
const DRIVER = join(import.meta.url.includes('/dist/') ? resolve(HERE, '..', '..', '..', 'runtime', 'bench') : HERE, 'peer_driver.py');

/** Where the peer runs: the CPU (both thread settings), or CUDA (bench/gpu.sh). */
export type PeerDevice = 'cpu' | 'cuda';

/** torch's version when python3 with torch (and CUDA, for 'cuda') runs here (e.g. "1.13.0a0+git7c98e70"), else why the peer is skipped (one line). */
export function probePeer(device: PeerDevice = 'cpu'): { torch: string } | { skipped: string } {
  const PYTHON = python();
  if (!existsSync(PYTHON)) return { skipped: `${PYTHON} not found (apt-get install python3 python3-torch; ATTNC_PYTHON names another interpreter)` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { skipped: `${PYTHON} cannot import torch: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const [version, cuda] = r.stdout.trim().split(' ');
  if (device === 'cuda' && cuda !== 'True') return { skipped: `${PYTHON}'s torch ${version} sees no CUDA device (--peer-device cuda)` };
  return { torch: version! };
}

/** Writes the package of `model` trained by `run` under `dir`; returns its folder. */
export function writePeerPackage(doc: IRDocument, model: ModelIR, run: RunIR, dir: string): string {
  const ir: IRDocument = { ...doc, models: [model], runs: [run], experiments: [] };
  const emitted = emitPytorch(ir, { model: model.name, run: run.name });
  const pkg = join(dir, emitted.name);
  mkdirSync(pkg, { recursive: true });
  for (const [name, text] of Object.entries(emitted.files)) writeFileSync(join(pkg, name), text);
  return pkg;
}

/** The steady rate from train.py's progress lines "step K/N: ... R img/s" (R is since the start): between step WARMUP_STEPS and the last. */
export function steadyRate(text: string, batch: number): number | null {
  const points = [...text.matchAll(/^step (\d+)\/\d+: .*?([\d.]+) img\/s$/gm)].map((m) => ({ k: Number(m[1]), t: (Number(m[1]) * batch) / Number(m[2]) }));
  const from = points.find((p) => p.k === WARMUP_STEPS);
  const to = points.at(-1);
  if (!from || !to || to.k <= from.k || !(to.t > from.t)) return null;
  return ((to.k - from.k) * batch) / (to.t - from.t);
}

/** Runs the driver (train.py, then the evaluation) once with torch.set_num_threads(threads). */
function runOnce(pkg: string, run: RunIR, threads: number, out: string, evalBatches: number, device: PeerDevice): PeerRun {
  const train = ['--steps', String(run.steps), '--log-every', '1', '--device', device, '--out', out, '--data-base', pkg];
  const args = [DRIVER, pkg, String(threads), String(evalBatches), device, '--', ...train];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: 'passive', OMP_NUM_THREADS: String(threads) };
  const r = spawnSync(python(), args, { cwd: pkg, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const text = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`the PyTorch peer failed (${python()} train.py, exit ${r.status}):\n${text.trim().split('\n').slice(-8).join('\n')}`);
  const rate = steadyRate(r.stdout, run.batch);
  if (rate === null) throw new Error(`the PyTorch peer printed no progress lines to time:\n${r.stdout.slice(-500)}`);
  const line = /^attnc-bench-peer (\{.*\})$/m.exec(r.stdout);
  if (!line) throw new Error(`the PyTorch peer printed no evaluation and memory line:\n${r.stdout.slice(-500)}`);
  const d = JSON.parse(line[1]!) as Omit<PeerRun, 'trainImagesPerSec'>;
  return { trainImagesPerSec: rate, evalImagesPerSec: d.evalImagesPerSec, baselineRssBytes: d.baselineRssBytes, peakRssBytes: d.peakRssBytes };
}

/**
 * The peer in every thread setting: the best training setting (with its memory) and the best
 * evaluation rate. On CUDA one run (host threads do not decide its speed); its memory is the host's.
 */
export function measurePeer(pkg: string, run: RunIR, dir: string, o: { evalBatches: number; device?: PeerDevice }): PeerFigures {
  const device = o.device ?? 'cpu';
  const settings: readonly number[] = device === 'cpu' ? PEER_THREADS : [1];
  const runs = new Map(settings.map((t) => [t, runOnce(pkg, run, t, join(dir, `out-${t}`), o.evalBatches, device)]));
  const best = (rate: (r: PeerRun) => number | null) => settings.reduce((a, b) => ((rate(runs.get(b)!) ?? -1) > (rate(runs.get(a)!) ?? -1) ? b : a));
  const threads = best((r) => r.trainImagesPerSec);
  const evalThreads = best((r) => r.evalImagesPerSec);
  const evalRate = runs.get(evalThreads)!.evalImagesPerSec;
  return {
    ...runs.get(threads)!,
    evalImagesPerSec: evalRate,
    threads,
    evalThreads: evalRate === null ? null : evalThreads,
    byThreads: Object.fromEntries(settings.map((t) => [t, runs.get(t)!.trainImagesPerSec])),
  };
}
