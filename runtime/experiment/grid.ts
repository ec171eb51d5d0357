// Trains the runs of a grid one after another, skipping finished ones and resuming stopped ones.
// Training itself is `attnc train` (passed in as `train`), so a grid run is exactly the run that
// `attnc train SPEC --run exp/model/seedN` would give, checkpoints and metrics included.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../train/index.js';
import { pct, seconds } from './format.js';
import type { GridRun, RunState } from './plan.js';

export interface PlannedRun extends GridRun {
  /** The run's folder (absolute), and as messages show it. */
  absDir: string;
  shown: string;
  state: RunState;
}

export interface GridHooks {
  /** Trains one run (resuming its last.safetensors when `resume`); returns attnc train's exit code. */
  train(run: PlannedRun, resume: boolean): Promise<number>;
  say(line: string): void;
  /** The wall time of one training session of the run; `fresh` when the run started from scratch. */
  recordWall(run: PlannedRun, seconds: number, fresh: boolean): void;
  now?: () => number;
}

export interface GridOutcome {
  trained: string[];
  skipped: string[];
  /** Runs that failed after making progress (diverged): the grid went on. */
  failed: string[];
  /** The run that ended the grid early and its exit code: Ctrl-C (130/143), or a failure before any step. */
  stoppedAt: { run: string; code: number } | null;
}

export async function runGrid(runs: readonly PlannedRun[], hooks: GridHooks): Promise<GridOutcome> {
  const now = hooks.now ?? (() => performance.now());
  const out: GridOutcome = { trained: [], skipped: [], failed: [], stoppedAt: null };
  for (const [i, run] of runs.entries()) {
    const tag = `[${i + 1}/${runs.length}] ${run.name}`;
    if (run.state.kind === 'complete') {
      hooks.say(`${tag}: complete at step ${run.state.step} in ${run.shown}/, skipped`);
      out.skipped.push(run.name);
      continue;
    }
    const resume = run.state.kind === 'partial';
    hooks.say(`${tag}: ${run.state.kind === 'partial' ? `resuming from step ${run.state.step}` : 'training'} into ${run.shown}/`);
    const before = resume ? lastStep(run.absDir) : 0;
    const started = now();
    const code = await hooks.train(run, resume);
    const wall = (now() - started) / 1000;
    hooks.recordWall(run, wall, !resume);
    const after = lastStep(run.absDir);
    if (code === 0) {
      hooks.say(`${tag}: done at step ${after}: ${evalText(run.absDir)} (${seconds(wall)})`);
      out.trained.push(run.name);
      continue;
    }
    if (code === 130 || code === 143) {
      hooks.say(`${tag}: stopped at step ${after}; the rest of the grid was not run (continue with --resume)`);
      out.stoppedAt = { run: run.name, code };
      break;
    }
    // No step at all: the data, backend or memory plan failed, which would fail every run alike.
    if (after <= before) {
      hooks.say(`${tag}: failed before its first step (exit ${code}); the rest of the grid was not run`);
      out.stoppedAt = { run: run.name, code };
      break;
    }
    hooks.say(`${tag}: failed at step ${after} (exit ${code}); going on with the next run`);
    out.failed.push(run.name);
  }
  return out;
}

function records(dir: string) {
  const file = join(dir, 'metrics.jsonl');
  return existsSync(file) ? readMetrics(file) : [];
}

function lastStep(dir: string): number {
  return records(dir).reduce((s, r) => (r.kind === 'step' ? r.step : s), 0);
}

function evalText(dir: string): string {
  const evals = records(dir).flatMap((r) => (r.kind === 'eval' ? [r.acc] : []));
  return evals.length ? `test top-1 ${pct(evals.at(-1))}% (best ${pct(Math.max(...evals))}%)` : 'no evaluation';
}
