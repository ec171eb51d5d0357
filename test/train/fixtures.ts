// Tiny runs for the training tests: IR documents built by hand (test/helpers/model-ir.ts), written to
// a temporary folder as the JSON that `attnc compile` would write, so `attnc train x.ir.json` runs
// them through the same path as a .attn spec. Each trains in about a second on wasm.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IR_VERSION, type IRDocument, type ScoredAllocationIR, type ModelIR, type RunIR } from '../../compiler/ir/types.js';
import { span, vitModel } from '../helpers/model-ir.js';

/** 8x8x1 images, patch 4 (4 patches + class token), dim 16, depth 1, 2 heads sharing 1 K/V head, 4 classes. */
export function tinyModel(o: Partial<Parameters<typeof vitModel>[0]> = {}): ModelIR {
  return vitModel({ name: 'tiny', image: 8, channels: 1, patch: 4, dim: 16, depth: 1, heads: 2, kvHeads: 1, classes: 4, mlpRatio: 2, ...o });
}

/**
 * The tiny model (dim 24) with DGQA in its one layer: 8 query heads over 3 K/V groups in proportion
 * to key norms (scale none), tracked by an EMA unless `track` says otherwise and re-allocated every
 * `window` steps; `track: null` makes it KDGQA (allocated from every batch).
 */
export function keyNormModel(o: { window?: number; track?: ScoredAllocationIR['track']; dropout?: number } = {}): ModelIR {
  const base = tinyModel({ dim: 24, heads: 8, kvHeads: 3, dropout: o.dropout ?? 0 });
  const track = o.track === undefined ? { kind: 'ema' as const, decay: 0.9, rule: 'attnc' as const } : o.track;
  const allocation: ScoredAllocationIR = {
    policy: 'scored', score: { kind: 'key_norm', norm: 'l2' }, scale: 'none', rounding: 'largest_remainder', min: 0, scope: 'batch',
    eval: track ? 'frozen' : 'recompute', track, window: track ? (o.window ?? 3) : null, init: 'first_batch',
  };
  return { ...base, layers: base.layers.map((l) => ({ ...l, attention: { ...l.attention, variant: track ? 'dgqa' : 'kdgqa', allocation } })) };
}

export function tinyRun(o: Partial<RunIR> = {}): RunIR {
  return {
    name: 'smoke',
    span: span(),
    model: 'tiny',
    data: { kind: 'synthetic', train: 96, test: 40 },
    augment: [],
    normalize: { mean: [0.5], std: [0.5] },
    epochs: 2,
    steps: null,
    batch: 16,
    microBatch: 16,
    seed: 7,
    optimizer: { kind: 'adamw', lr: 3e-3, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    schedule: { kind: 'cosine', warmupSteps: 2, minLr: 1e-5 },
    labelSmoothing: 0,
    clipGrad: null,
    eval: { everyEpochs: 1, batch: 32 },
    ...o,
  };
}

export function irDocument(models: ModelIR[], runs: RunIR[]): IRDocument {
  return { irVersion: IR_VERSION, compiler: 'attnc test', source: 'test.attn', models, runs, experiments: [] };
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'attnc-train-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Writes the document as DIR/NAME.ir.json and returns that path. */
export function writeSpec(dir: string, doc: IRDocument, name = 'spec'): string {
  const file = path.join(dir, `${name}.ir.json`);
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

/** The records of a metrics file with the timing fields (which differ between identical runs) removed. */
export function metricsWithoutTiming(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { imagesPerSec: _a, elapsedSec: _b, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });
}
