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
  /**
   * What is happening between steps (start-up, evaluation: "evaluating: 2560/10000 test images").
   * On a terminal it replaces the step line; elsewhere it is printed when its topic (the text
   * before ':') changes and then at the heartbeat.
   */
  status(text: string): void;
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
  /** Plain mode: print a line at least this often however long a step takes (default 10 s). */
  heartbeatMs?: number;
  /** TTY mode: the terminal's width, read at each redraw; the step line is shortened to fit it. */
  columns?: () => number | undefined;
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
  return stepFields(p).map((f) => f.text).join('  ');
}

/** The step line's fields, each with its rank: the lower ranks are dropped first to fit a width. */
function stepFields(p: StepProgress): { text: string; rank: number }[] {
  return [
    { text: `epoch ${p.epoch}/${p.totalEpochs}`, rank: 2 },
    { text: `step ${p.step}/${p.totalSteps}`, rank: 9 },
    { text: `loss ${p.loss.toFixed(4)}`, rank: 8 },
    { text: `acc ${(p.acc * 100).toFixed(1)}%`, rank: 3 },
    { text: `${p.imagesPerSec.toFixed(0)} img/s`, rank: 4 },
    { text: `ETA ${formatDuration(p.etaSec)}`, rank: 7 },
    { text: `lr ${p.lr.toExponential(2)}`, rank: 1 },
  ];
}

/**
 * The step line in at most `width` columns (a line that wraps is redrawn below itself at every
 * step): single spaces first, then the least useful fields dropped, then cut.
 */
export function formatStepToFit(p: StepProgress, width: number | undefined): string {
  const full = formatStep(p);
  if (!width || width <= 0 || full.length <= width) return full;
  let fields = stepFields(p);
  for (;;) {
    const text = fields.map((f) => f.text).join(' ');
    if (text.length <= width) return text;
    if (fields.length <= 1) return text.slice(0, width);
    const lowest = Math.min(...fields.map((f) => f.rank));
    fields = fields.filter((f) => f.rank !== lowest);
  }
}

/** A transient line cut to the width. */
function fit(text: string, width: number | undefined): string {
  return width && width > 0 && text.length > width ? text.slice(0, width) : text;
}

const CLEAR_LINE = '\r\x1b[2K';

export function createProgress(o: ProgressOptions): Progress {
  const now = o.now ?? Date.now;
  const minInterval = o.minIntervalMs ?? 200;
  const heartbeat = o.heartbeatMs ?? 10_000;
  let shown = '';
  let lastDraw = -Infinity;
  if (o.mode === 'quiet') return { step() {}, line() {}, status() {}, finish() {} };
  if (o.mode === 'plain') {
    let lastPrint = now();
    let lastTopic = '';
    const print = (text: string) => {
      o.write(text + '\n');
      lastPrint = now();
    };
    return {
      step(p) {
        lastTopic = '';
        // Every plainEvery steps, the last, and at the heartbeat: a slow step is not silence.
        if (p.step % o.plainEvery === 0 || p.step === p.totalSteps || now() - lastPrint >= heartbeat) print(formatStep(p));
      },
      line(text) {
        print(text);
      },
      status(text) {
        const topic = text.split(':')[0]!;
        if (topic !== lastTopic || now() - lastPrint >= heartbeat) print(text);
        lastTopic = topic;
      },
      finish() {},
    };
  }
  const width = () => {
    const c = o.columns?.();
    return c && c > 1 ? c - 1 : undefined; // the last column would wrap on some terminals
  };
  return {
    step(p) {
      const t = now();
      if (t - lastDraw < minInterval && p.step !== p.totalSteps) return;
      lastDraw = t;
      shown = formatStepToFit(p, width());
      o.write(CLEAR_LINE + shown);
    },
    line(text) {
      o.write(CLEAR_LINE + text + '\n' + shown);
    },
    status(text) {
      const t = now();
      if (t - lastDraw < minInterval) return;
      lastDraw = t;
      shown = fit(text, width());
      o.write(CLEAR_LINE + shown);
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
