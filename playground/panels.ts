// The panels beside the editor: the `attnc compile --summary` table of the document, the allocation
// `attnc alloc --policy key_norm` gives for norms the user types, and the allocation per layer while
// training. Every figure comes from compiler/ (summary-format.ts, alloc.ts).
import { allocateFromScores, type KeyNormOptions } from '../compiler/alloc.js';
import { formatDocumentSummary } from '../compiler/summary-format.js';
import type { Checked } from './check.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The summary panel: the table of `compile --summary`, or why there is none. */
export function showSummary(c: Checked): void {
  const errors = c.result.diagnostics.filter((d) => d.severity === 'error').length;
  $('summary').textContent = c.result.ir
    ? (c.result.ir.models.length ? formatDocumentSummary(c.result.ir) : 'the file declares no model')
    : `${errors} error(s): the summary needs a file that compiles`;
  $('diagnostics').textContent = c.report || 'no diagnostics';
  $('diagnostics').className = errors ? 'bad' : 'good';
}

/** The options of `attnc alloc --policy key_norm` for a --compat value, as the command defaults them. */
function keyNormDefaults(compat: string): Omit<KeyNormOptions, 'heads'> {
  return compat === 'paper' ? { scale: 'minmax', rounding: 'paper', minPerGroup: 0 } : { scale: 'none', rounding: 'largest_remainder', minPerGroup: 1 };
}

/** `attnc alloc --policy key_norm --heads H --norms ...` on the form's values, printed as the command prints it. */
export function showAllocation(): void {
  const out = $('alloc-out');
  try {
    const heads = Number($<HTMLInputElement>('alloc-heads').value);
    const text = $<HTMLInputElement>('alloc-norms').value;
    const norms = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
    if (!norms.length || norms.some((n) => !Number.isFinite(n))) throw new Error(`the norms must be comma-separated numbers, one per K/V group, got '${text}'`);
    if (!Number.isInteger(heads) || heads < 1) throw new Error(`the query heads must be a whole number >= 1, got '${$<HTMLInputElement>('alloc-heads').value}'`);
    const opts: KeyNormOptions = { heads, ...keyNormDefaults($<HTMLSelectElement>('alloc-compat').value) };
    const r = allocateFromScores(norms, opts);
    out.className = 'good';
    out.textContent = `${JSON.stringify(r)}\n\n${bars(r.counts)}`;
  } catch (e) {
    out.className = 'bad';
    out.textContent = (e as Error).message;
  }
}

/** Query heads per K/V group as rows of blocks: "g0 ███ 3". */
export function bars(counts: readonly number[]): string {
  return counts.map((n, g) => `g${g} ${'█'.repeat(n)} ${n}`).join('\n');
}

/** The allocation per layer during training: each layer's query heads per K/V group. */
export function showLayerAllocation(allocation: number[][]): void {
  $('layers').textContent = allocation.map((counts, l) => `layer ${l}: [${counts.join(', ')}]  ${counts.map((n) => '█'.repeat(n)).join(' │ ')}`).join('\n');
}
