// What a person watching training sees. On a terminal: one line rewritten in place (loss, accuracy,
// images/s, ETA, learning rate), with epoch and evaluation results printed above it. Elsewhere (CI,
// a log file, tests): the same line printed plainly every `plainEvery` steps. Quiet: nothing.

export type ProgressMode = 'tty' | 'plain' | 'quiet';

export interface StepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  totalEpochs: number;
  loss: number;
  acc: number;
  lr: number;
  /** Images per second over the recent steps. */
  imagesPerSec: number;
  /** Seconds left at the recent pace, training steps only. */
  etaSec: number;
}

export interface Progress {
  step(p: StepProgress): void;
  /** A line that stays (epoch summary, evaluation, checkpoint); not shown when quiet. */
  line(text: string): void;
  /** Clears the updating line before other output (errors, the final summary). */
  finish(): void;
}

export interface ProgressOptions {
  mode: ProgressMode;
  /** Writes text as is (no newline added). */
  write: (text: string) => void;
  /** Plain mode: print every this many steps (and the last). */
  plainEvery: number;
  /** TTY mode: redraw at most this often. */
  minIntervalMs?: number;
  now?: () => number;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export function formatStep(p: StepProgress): string {
  return [
    `epoch ${p.epoch}/${p.totalEpochs}`,
    `step ${p.step}/${p.totalSteps}`,
    `loss ${p.loss.toFixed(4)}`,
    `acc ${(p.acc * 100).toFixed(1)}%`,
    `${p.imagesPerSec.toFixed(0)} img/s`,
    `ETA ${formatDuration(p.etaSec)}`,
    `lr ${p.lr.toExponential(2)}`,
  ].join('  ');
}

const CLEAR_LINE = '\r\x1b[2K';

export function createProgress(o: ProgressOptions): Progress {
  const now = o.now ?? Date.now;
  const minInterval = o.minIntervalMs ?? 200;
  let shown = '';
  let lastDraw = -Infinity;
  if (o.mode === 'quiet') return { step() {}, line() {}, finish() {} };
  if (o.mode === 'plain') {
    return {
      step(p) {
        if (p.step % o.plainEvery === 0 || p.step === p.totalSteps) o.write(formatStep(p) + '\n');
      },
      line(text) {
        o.write(text + '\n');
      },
      finish() {},
    };
  }
  return {
    step(p) {
      const t = now();
      if (t - lastDraw < minInterval && p.step !== p.totalSteps) return;
      lastDraw = t;
      shown = formatStep(p);
      o.write(CLEAR_LINE + shown);
    },
    line(text) {
      o.write(CLEAR_LINE + text + '\n' + shown);
    },
    finish() {
      if (shown) o.write(CLEAR_LINE);
      shown = '';
    },
  };
}

/** Images per second over the last `window` steps, for the progress line and the ETA. */
export class RecentPace {
  private readonly times: number[] = [];
  constructor(private readonly window = 20) {}

  add(seconds: number): void {
    this.times.push(seconds);
    if (this.times.length > this.window) this.times.shift();
  }

  secondsPerStep(): number {
    if (this.times.length === 0) return NaN;
    return this.times.reduce((a, b) => a + b, 0) / this.times.length;
  }
}
