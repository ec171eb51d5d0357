// `attnc bench SPEC`: training and evaluation speed of the spec's model as GQA, KDGQA and DGQA (or of
// the models named) on each backend asked for, against the emitted PyTorch package on the same run,
// interleaved round by round so that the ratios come from the same moments (docs/benchmarks.md).
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { BACKEND_NAMES, isBackendUserError, openBackend, type Backend, type BackendName } from '../../runtime/backends.js';
import { stepFlops } from '../../runtime/bench/flops.js';
import { measureIsolated } from '../../runtime/bench/isolated.js';
import type { Figures } from '../../runtime/bench/measure.js';
import { measurePeer, probePeer, writePeerPackage, type PeerFigures } from '../../runtime/bench/peer.js';
import { bestOf, formatReport, withRatios, type BenchReport } from '../../runtime/bench/table.js';
import { benchModels, benchRun, BenchError, DERIVED_ALLOCATION, selectBenchRun, WARMUP_STEPS } from '../../runtime/bench/variants.js';
import { parseCommandArgs, threadsOption } from '../args.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';

export const BENCH_USAGE = `Usage: attnc bench SPEC [--run NAME] [--backend B ...] [--models A,B,...] [--batch N] [--steps N]
                   [--rounds N] [--threads N] [--no-peer | --peer-device cpu|cuda] [--json]

Times training (images/s, ms per step and per phase: forward, backward, optimizer), evaluation
(images/s) and memory (the peak RSS of a process that runs only that measurement, and how much of it
came after the backend had loaded) of the run's model, derived three ways:
  GQA    ${DERIVED_ALLOCATION.gqa}
  KDGQA  ${DERIVED_ALLOCATION.kdgqa}
  DGQA   ${DERIVED_ALLOCATION.dgqa}
(or of the models named with --models), and the PyTorch peer: the emitted package's train.py on the
same run, seed, batch and synthetic data, in its better torch.set_num_threads setting (1 or 2).
Everything runs in rounds, each model on each backend then the peer; the best round counts. The table
gives each model's step time over GQA's on the same backend, attnc's training and evaluation rates and
peak memory over PyTorch's, and the training step's GFLOP/s (its FLOPs from the op graph) as a share
of the GEMM rate the native backend reaches alone on this machine.
  --run NAME      the spec's run to take the optimizer, seed and batch from (needed when it has several)
  --backend B     native, wasm, cpu, ... (repeatable, or B1,B2; default: native when built, and wasm)
  --models A,B    bench these models of the spec instead of the run's model's variants
  --batch N       images per step (default: the run's batch)
  --steps N       timed training steps (default 10), after ${WARMUP_STEPS} warm-up steps; as many eval batches
  --rounds N      rounds (default 2)
  --threads N     the native backend's threads (default: the cores available)
  --no-peer       leave out the PyTorch peer (it is skipped with a message when python3 or torch is missing)
  --peer-device D where the peer runs: cpu (default; both thread settings) or cuda (a GPU machine)
  --json          print the report as JSON on stdout (progress goes to stderr)`;

function wholeNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new UserError(`attnc bench: ${flag} needs a whole number >= 1, got '${value}'`);
  return n;
}

const list = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/**
 * The backends to bench: those asked for (each must open), else native when its addon is built, and
 * wasm. Opened here to check them and say what runs; each measurement opens its own in a child process.
 */
async function openBackends(asked: BackendName[], threads: number | undefined, say: (l: string) => void): Promise<Backend[]> {
  const opened: Backend[] = [];
  try {
    if (asked.length === 0) {
      try {
        opened.push(await openBackend('native', { threads }));
      } catch (e) {
        if (!isBackendUserError(e)) throw e;
        say(`attnc bench: native left out: ${e.message}`);
      }
      opened.push(await openBackend('wasm'));
    } else {
      for (const name of asked) opened.push(await openBackend(name, { threads }));
    }
    return opened;
  } catch (e) {
    for (const b of opened) b.close();
    if (isBackendUserError(e)) throw new UserError(`attnc bench: ${e.message}`);
    throw e;
  }
}

export async function benchCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('bench', {
    args, allowPositionals: true,
    options: {
      run: { type: 'string' }, backend: { type: 'string', multiple: true }, models: { type: 'string', multiple: true },
      batch: { type: 'string' }, steps: { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' },
      'no-peer': { type: 'boolean' }, 'peer-device': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return io.out(BENCH_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc bench: give exactly one spec file\n\n${BENCH_USAGE}`);
  const asked = [...new Set(list(values.backend))];
  for (const b of asked) {
    if (b === 'auto' || !BACKEND_NAMES.includes(b as BackendName)) throw new UserError(`attnc bench: unknown --backend '${b}'; use one or more of ${BACKEND_NAMES.filter((n) => n !== 'auto').join(', ')}`);
  }
  // The TensorFlow.js backends share one tfjs whose active backend is global: one of them per bench.
  const tfjs = asked.filter((b) => !['native', 'webgpu'].includes(b));
  if (new Set(tfjs).size > 1) throw new UserError(`attnc bench: one TensorFlow.js backend per bench (they share one active backend), got ${tfjs.join(', ')}`);
  const steps = wholeNumber('--steps', values.steps, 10);
  const rounds = wholeNumber('--rounds', values.rounds, 2);
  const batch = values.batch === undefined ? undefined : wholeNumber('--batch', values.batch, 1);
  const threads = threadsOption('bench', values.threads);
  const say = values.json ? (t: string) => io.err(t) : (t: string) => io.out(t);

  const file = positionals[0]!;
  const doc = loadSpec(file, io);
  let plan: { specRun: RunIR; items: { model: ModelIR; run: RunIR }[] };
  try {
    const specRun = selectBenchRun(doc, values.run, file);
    plan = { specRun, items: benchModels(doc, specRun, list(values.models), file).map((model) => ({ model, run: benchRun(specRun, model, { batch, steps }) })) };
  } catch (e) {
    if (e instanceof BenchError) throw new UserError(`attnc bench: ${e.message}`);
    throw e;
  }
  const peerDevice = values['peer-device'] ?? 'cpu';
  if (peerDevice !== 'cpu' && peerDevice !== 'cuda') throw new UserError(`attnc bench: --peer-device is cpu or cuda, got '${peerDevice}'`);
  const probe = values['no-peer'] ? { skipped: '--no-peer' } : probePeer(peerDevice);
  if ('skipped' in probe && !values['no-peer']) say(`attnc bench: the PyTorch peer is skipped: ${probe.skipped}`);
  const backends = await openBackends(asked as BackendName[], threads, say);
  const opened = backends.map((b) => ({ name: b.name, why: b.why }));
  // The machine's GEMM ceiling, measured before anything else runs, then every backend is let go.
  const gemm = backends.find((b) => b.gemmPeak)?.gemmPeak?.() ?? null;
  for (const b of backends) b.close();
  const dir = mkdtempSync(join(os.tmpdir(), 'attnc-bench-'));
  try {
    const figures = new Map<string, Figures[]>();
    const peers = new Map<string, PeerFigures[]>();
    const packages = new Map<string, string>();
    for (let round = 0; round < rounds; round++) {
      for (const { model, run } of plan.items) {
        for (const b of opened) {
          const f = await measureIsolated({ backend: b.name, threads: threads ?? null, model, run, evalBatches: steps });
          figures.set(`${model.name}\0${b.name}`, [...(figures.get(`${model.name}\0${b.name}`) ?? []), f]);
          say(`round ${round + 1}/${rounds}: ${model.name} on ${b.name}: ${f.trainImagesPerSec.toFixed(1)} train images/s, ${f.evalImagesPerSec?.toFixed(1) ?? '-'} eval images/s`);
        }
        if ('torch' in probe) {
          const pkg = packages.get(model.name) ?? writePeerPackage(doc, model, run, join(dir, model.name));
          packages.set(model.name, pkg);
          const p = measurePeer(pkg, run, join(dir, `${model.name}-runs-${round}`), { evalBatches: steps, device: peerDevice });
          peers.set(model.name, [...(peers.get(model.name) ?? []), p]);
          say(`round ${round + 1}/${rounds}: ${model.name} on pytorch: ${Object.entries(p.byThreads).map(([t, v]) => `${v.toFixed(1)} (${t} thread(s))`).join(', ')} train images/s, ${p.evalImagesPerSec?.toFixed(1) ?? '-'} eval images/s (${p.evalThreads ?? '-'} thread(s))`);
        }
      }
    }
    const variantOf = (name: string) => plan.items.find((i) => i.model.name === name)!.model.layers[0]?.attention.variant ?? 'gqa';
    const rows = plan.items.flatMap(({ model }) => opened.map((b) => ({ model: model.name, variant: variantOf(model.name), backend: b.name, figures: bestOf(figures.get(`${model.name}\0${b.name}`)!) })));
    const peerRows = 'torch' in probe ? plan.items.map(({ model }) => ({ model: model.name, variant: variantOf(model.name), figures: bestPeer(peers.get(model.name)!) })) : null;
    const rated = withRatios(rows, peerRows);
    const cpus = os.cpus();
    const report: BenchReport = {
      date: new Date().toISOString(), spec: file, run: plan.specRun.name, batch: plan.items[0]!.run.batch, steps, warmupSteps: WARMUP_STEPS, rounds, threads: threads ?? null,
      machine: { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? '?', loadAverage: os.loadavg() },
      backends: opened,
      peerDevice,
      gemm,
      flopsPerStep: Object.fromEntries(plan.items.map(({ model, run }) => [model.name, stepFlops(model, run)])),
      rows: rated.rows,
      peer: rated.peer && 'torch' in probe ? { torch: probe.torch, rows: rated.peer } : { skipped: 'skipped' in probe ? probe.skipped : 'no peer' },
    };
    io.out(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return EXIT_OK;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The peer's best round (its better thread setting in each). */
function bestPeer(rounds: PeerFigures[]): PeerFigures {
  return rounds.reduce((a, b) => (b.trainImagesPerSec > a.trainImagesPerSec ? b : a));
}
