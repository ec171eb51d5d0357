// attnc bench's peer: the emitted PyTorch package (compiler/targets/pytorch) of the same model and
// bench run, its train.py under python3 on the CPU, in each thread setting (torch.set_num_threads 1
// and 2, OpenBLAS single-threaded and OpenMP passive, as docs/native.md found best on 2 cores); the
// better setting counts. Its rate is the steady one between its progress lines after the warm-up.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emitPytorch } from '../../compiler/targets/pytorch/emit.js';
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { WARMUP_STEPS } from './variants.js';

/** The interpreter the peer runs under: ATTNC_PYTHON, else /usr/bin/python3 (as attnc doctor checks). */
export const python = (): string => process.env.ATTNC_PYTHON ?? '/usr/bin/python3';
export const PEER_THREADS = [1, 2] as const;

export interface PeerFigures {
  trainImagesPerSec: number;
  /** The torch.set_num_threads setting that gave it. */
  threads: number;
  /** Every setting's rate, in PEER_THREADS order. */
  byThreads: Record<number, number>;
}

/** torch's version when python3 with torch runs here (e.g. "1.13.0a0+git7c98e70"), else why the peer is skipped (one line). */
export function probePeer(): { torch: string } | { skipped: string } {
  const PYTHON = python();
  if (!existsSync(PYTHON)) return { skipped: `${PYTHON} not found (apt-get install python3 python3-torch; ATTNC_PYTHON names another interpreter)` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { skipped: `${PYTHON} cannot import torch: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  return { torch: r.stdout.trim() };
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

/** Runs train.py once with torch.set_num_threads(threads); the steady training rate. */
function runOnce(pkg: string, run: RunIR, threads: number, out: string): number {
  const script = `import runpy, sys, torch\ntorch.set_num_threads(${threads})\nsys.argv = ['train.py'] + sys.argv[1:]\nsys.path.insert(0, ${JSON.stringify(pkg)})\nrunpy.run_path(${JSON.stringify(join(pkg, 'train.py'))}, run_name='__main__')\n`;
  const args = ['-c', script, '--steps', String(run.steps), '--log-every', '1', '--device', 'cpu', '--out', out, '--data-base', pkg];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: 'passive', OMP_NUM_THREADS: String(threads) };
  const r = spawnSync(python(), args, { cwd: pkg, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const text = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`the PyTorch peer failed (${python()} train.py, exit ${r.status}):\n${text.trim().split('\n').slice(-8).join('\n')}`);
  const rate = steadyRate(r.stdout, run.batch);
  if (rate === null) throw new Error(`the PyTorch peer printed no progress lines to time:\n${r.stdout.slice(-500)}`);
  return rate;
}

/** The peer in every thread setting; the best counts. */
export function measurePeer(pkg: string, run: RunIR, dir: string): PeerFigures {
  const byThreads: Record<number, number> = {};
  for (const t of PEER_THREADS) byThreads[t] = runOnce(pkg, run, t, join(dir, `out-${t}`));
  const threads = PEER_THREADS.reduce((a, b) => (byThreads[b]! > byThreads[a]! ? b : a));
  return { trainImagesPerSec: byThreads[threads]!, threads, byThreads };
}
