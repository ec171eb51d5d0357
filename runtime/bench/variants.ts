// What attnc bench measures: the models (the spec's model as GQA, KDGQA and DGQA, or the models named)
// and the run they train (the spec's run on synthetic data of the same shape: the same images for
// every backend and for the PyTorch peer, nothing read from disk, no augmentation).
import { compileFile } from '../../compiler/compile.js';
import type { AllocationIR, AttentionVariant, DataIR, IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';

/** A bench error the user acts on (a spec without a run, a model that cannot be made GQA): printed as is. */
export class BenchError extends Error {}

/** The variants derived from a model, with the language's defaults for each (specs/vit_28px.attn writes them so). */
const VARIANT_SPEC = `model g {
  image 8 x 8 x 1  patch 4  dim 8  depth 1  classes 2
  attention { heads 2  kv_heads 1 }
}
model kdgqa extends g { attention { allocate key_norm(min: 1) } }
model dgqa extends g { attention { allocate key_norm(track: ema(decay: 0.9), window: 50 steps) } }
`;

export const DERIVED_VARIANTS = ['gqa', 'kdgqa', 'dgqa'] as const;
export type DerivedVariant = (typeof DERIVED_VARIANTS)[number];

/** Where each derived variant's allocation is written, in source form (for the docs and --help). */
export const DERIVED_ALLOCATION: Record<DerivedVariant, string> = {
  gqa: 'allocate uniform',
  kdgqa: 'allocate key_norm(min: 1)',
  dgqa: 'allocate key_norm(track: ema(decay: 0.9), window: 50 steps)',
};

let templates: Record<string, AllocationIR> | null = null;

function allocationOf(variant: DerivedVariant): AllocationIR {
  if (!templates) {
    const file = '/attnc-bench/variants.attn';
    const { ir, diagnostics } = compileFile(file, { host: { readFile: () => VARIANT_SPEC, exists: (p) => p === file }, displayBase: '/' });
    if (!ir) throw new Error(`the bench's variant spec does not compile: ${diagnostics.map((d) => d.message).join('; ')}`);
    templates = Object.fromEntries(ir.models.map((m) => [m.name, m.layers[0]!.attention.allocation]));
  }
  return variant === 'gqa' ? { policy: 'uniform' } : structuredClone(templates[variant === 'kdgqa' ? 'kdgqa' : 'dgqa']!);
}

/** `model` with every layer's attention allocated as `variant` (its heads and K/V heads kept), named model_variant. */
export function deriveVariant(model: ModelIR, variant: DerivedVariant): ModelIR {
  for (const l of model.layers) {
    const a = l.attention;
    if (variant === 'gqa' && a.heads % a.kvHeads !== 0) {
      throw new BenchError(`cannot bench ${model.name} as GQA: layer ${l.index} has kv_heads ${a.kvHeads}, which does not divide heads ${a.heads} (name the models to bench with --models)`);
    }
  }
  const allocation = allocationOf(variant);
  return {
    ...model,
    name: `${model.name}_${variant}`,
    layers: model.layers.map((l) => ({
      ...l,
      attention: { ...l.attention, variant: variant as AttentionVariant, allocation: structuredClone(allocation), perturb: null },
    })),
  };
}

/** Steps run before the timed ones: the first steps carry one-time set-up (graphs, the GEMM choice per shape). */
export const WARMUP_STEPS = 2;

/**
 * The run a bench trains: the spec's run (optimizer, schedule, seed, label smoothing, clipping) at
 * `batch` images (one pass: micro-batch = batch) for `steps` timed steps after the warm-up, on
 * synthetic data with one epoch covering them all and a test set of one batch.
 */
export function benchRun(run: RunIR, model: ModelIR, o: { batch?: number; steps: number }): RunIR {
  const batch = o.batch ?? run.batch;
  const total = WARMUP_STEPS + o.steps;
  const data: DataIR = { kind: 'synthetic', train: batch * total, test: batch };
  return {
    ...run, name: `bench_${model.name}`, model: model.name, data, augment: [], epochs: null, steps: total,
    batch, microBatch: batch, eval: { everyEpochs: 1, batch },
  };
}

/** The spec's run: --run NAME, else its only one; a spec without a train block cannot be benched. */
export function selectBenchRun(doc: IRDocument, name: string | undefined, file: string): RunIR {
  if (doc.runs.length === 0) throw new BenchError(`${file} has no train block: attnc bench needs one (its optimizer, batch and seed) to time training; add a 'train NAME { model ... }' block`);
  if (name !== undefined) {
    const run = doc.runs.find((r) => r.name === name);
    if (!run) throw new BenchError(`${file} has no run '${name}' (its runs: ${doc.runs.map((r) => r.name).join(', ')})`);
    return run;
  }
  if (doc.runs.length > 1) throw new BenchError(`${file} has ${doc.runs.length} runs (${doc.runs.map((r) => r.name).join(', ')}): choose one with --run NAME`);
  return doc.runs[0]!;
}

/** The models to bench: those named (each must be in the spec), else the run's model as GQA, KDGQA and DGQA. */
export function benchModels(doc: IRDocument, run: RunIR, named: string[] | undefined, file: string): ModelIR[] {
  if (named && named.length > 0) {
    return named.map((n) => {
      const m = doc.models.find((x) => x.name === n);
      if (!m) throw new BenchError(`${file} has no model '${n}' (its models: ${doc.models.map((x) => x.name).join(', ')})`);
      return m;
    });
  }
  const base = doc.models.find((m) => m.name === run.model);
  if (!base) throw new BenchError(`${file}: run ${run.name} names model '${run.model}', which the spec does not define`);
  return DERIVED_VARIANTS.map((v) => deriveVariant(base, v));
}
