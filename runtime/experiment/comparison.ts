// What an experiment can claim (docs/experiments.md, "Statistics"): each model's top-1 with a
// bootstrap 95% interval over its seeds, and against the reference model (summary.reference), paired
// by seed, the mean difference with its bootstrap interval, a paired t-test and a Wilcoxon
// signed-rank test. The t-tests of all comparisons of a summary are Holm-corrected, and a model is
// called better or worse than the reference only when its corrected p is below ALPHA.
import { bootstrapCI, holm, mean, pairedTTest, wilcoxonSignedRank } from './stats.js';

/** What a comparison reads of a run (summary.ts RunSummary). */
interface RunFigures {
  model: string;
  seed: number;
  status: string;
  finalTop1: number | null;
}

/** What it fills in of a model's statistics (summary.ts ModelStats). */
interface ModelFigures {
  model: string;
  top1CI: [number, number] | null;
  comparison: Comparison | null;
}

export const ALPHA = 0.05;
/** Fewer seeds than this and a summary warns that its intervals and tests are weak. */
export const MIN_SEEDS = 5;

export interface Comparison {
  reference: string;
  /** Seeds where both models have a complete run: the pairs. */
  seeds: number[];
  /** Mean over the pairs of top-1 minus the reference's (fractions), and its bootstrap 95% interval. */
  meanDiff: number;
  ci95: [number, number] | null;
  tTest: { t: number; p: number } | null;
  wilcoxon: { w: number; p: number; exact: boolean } | null;
  /** The t-test's p after Holm's correction over every comparison of the summary. */
  pHolm: number | null;
  verdict: 'better' | 'worse' | 'no significant difference' | 'too few pairs';
}

/** FNV-1a of a name: the bootstrap stream of one figure, so intervals do not share draws. */
function keyOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const top1BySeed = (runs: readonly RunFigures[], model: string) =>
  new Map(runs.filter((r) => r.model === model && r.status === 'complete' && r.finalTop1 !== null).map((r) => [r.seed, r.finalTop1!]));

/** Fills each model's top1CI and comparison; returns the summary's warnings. */
export function compareModels(models: ModelFigures[], runs: readonly RunFigures[], reference: string | null): string[] {
  const warnings: string[] = [];
  for (const m of models) {
    const values = [...top1BySeed(runs, m.model).values()];
    m.top1CI = bootstrapCI(values, keyOf(`${m.model}/top1`));
    if (values.length > 0 && values.length < MIN_SEEDS) warnings.push(`${m.model}: ${values.length} seed${values.length === 1 ? '' : 's'}; intervals and tests need at least ${MIN_SEEDS} to mean much`);
  }
  if (!reference) return warnings;
  const ref = top1BySeed(runs, reference);
  const compared = models.filter((m) => m.model !== reference);
  for (const m of compared) {
    const mine = top1BySeed(runs, m.model);
    const seeds = [...mine.keys()].filter((s) => ref.has(s)).sort((a, b) => a - b);
    const a = seeds.map((s) => mine.get(s)!);
    const b = seeds.map((s) => ref.get(s)!);
    const diffs = a.map((x, i) => x - b[i]!);
    const t = seeds.length >= 2 ? pairedTTest(a, b) : null;
    const w = seeds.length >= 1 ? wilcoxonSignedRank(a, b) : null;
    m.comparison = {
      reference, seeds,
      meanDiff: diffs.length ? mean(diffs) : NaN,
      ci95: bootstrapCI(diffs, keyOf(`${m.model}-${reference}/top1`)),
      tTest: t && { t: t.statistic, p: t.p },
      wilcoxon: w && { w: w.statistic, p: w.p, exact: w.exact },
      pHolm: null,
      verdict: 'too few pairs',
    };
  }
  const tested = compared.filter((m) => m.comparison?.tTest);
  holm(tested.map((m) => m.comparison!.tTest!.p)).forEach((p, i) => {
    const c = tested[i]!.comparison!;
    c.pHolm = p;
    c.verdict = p < ALPHA ? (c.meanDiff > 0 ? 'better' : 'worse') : 'no significant difference';
  });
  return warnings;
}
