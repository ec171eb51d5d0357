// The catalogue of diagnostics: every message attnc can print about a user's input, with a stable code.
// Codes never change meaning once shipped; add new ones at the end of their range.
//   AT1xxx  lexing and parsing
//   AT2xxx  files, imports and names
//   AT3xxx  fields and values (the schema of each block)
//   AT4xxx  shapes and model consistency
//   AT5xxx  IR documents (loading JSON back)
// Templates use {0}, {1}, ... for arguments. docs/language.md lists the catalogue (a test keeps it in sync).
import type { Span } from './span.js';

export type Severity = 'error' | 'warning';

export interface DiagnosticDef {
  code: string;
  severity: Severity;
  message: string;
  /** What the user can do about it. */
  hint?: string;
}

export const Diagnostics = {
  // --- AT1xxx: lexing and parsing ---
  UnexpectedCharacter: { code: 'AT1001', severity: 'error', message: "unexpected character '{0}'", hint: 'remove it; comments start with #' },
  UnterminatedString: { code: 'AT1002', severity: 'error', message: 'unterminated string', hint: 'close the string with " on the same line' },
  UnexpectedToken: { code: 'AT1003', severity: 'error', message: 'expected {0} but found {1}' },
  ExpectedDeclaration: { code: 'AT1004', severity: 'error', message: "expected 'import', 'model', 'train' or 'experiment' but found {0}", hint: 'fields belong inside a { ... } block' },
  UnclosedBlock: { code: 'AT1005', severity: 'error', message: "'{' is never closed", hint: "add the missing '}'" },
  BadNumber: { code: 'AT1006', severity: 'error', message: "'{0}' is not a valid number" },
  BadDims: { code: 'AT1007', severity: 'error', message: "dimensions must be whole numbers joined by 'x', as in 28 x 28 x 1" },
  NestedTooDeeply: { code: 'AT1008', severity: 'error', message: 'braces and parentheses nest more than {0} levels deep here', hint: 'the part nested deeper is skipped' },
  TooManySyntaxErrors: { code: 'AT1009', severity: 'error', message: 'too many syntax errors to parse further', hint: 'fix the errors above; the rest of the file was not read' },

  // --- AT2xxx: files, imports and names ---
  FileNotFound: { code: 'AT2001', severity: 'error', message: "cannot read '{0}': {1}", hint: 'import paths are relative to the importing file' },
  ImportCycle: { code: 'AT2002', severity: 'error', message: 'import cycle: {0}', hint: 'move the shared definitions into a file that both import' },
  DuplicateDefinition: { code: 'AT2003', severity: 'error', message: "{0} '{1}' is already defined at {2}", hint: 'rename one of them' },
  UnknownModel: { code: 'AT2004', severity: 'error', message: "unknown model '{0}'{1}" },
  UnknownRun: { code: 'AT2005', severity: 'error', message: "unknown train run '{0}'{1}" },
  ExtendsCycle: { code: 'AT2006', severity: 'error', message: 'models extend each other in a cycle: {0}' },
  NoRuns: { code: 'AT2007', severity: 'error', message: "'{0}' defines no train run{1}", hint: 'add a train NAME { model ... data ... } block, or pass --run' },
  ImportNotAtTop: { code: 'AT2008', severity: 'warning', message: 'imports should come before other declarations' },
  EmptyImport: { code: 'AT2009', severity: 'error', message: 'the import path is empty', hint: 'name the file to import, as in import "vit.attn"' },
  ImportNotSpec: { code: 'AT2011', severity: 'error', message: "only .attn files can be imported, not '{0}'", hint: 'import a spec such as "vit.attn"; an IR document (.json) is given to attnc commands directly, not imported' },
  ExtendsTooDeep: { code: 'AT2012', severity: 'error', message: "model '{0}' is more than {1} levels of extends below its root model", hint: 'extend a model nearer the root: every level is copied into the IR' },
  TooManyDiagnostics: { code: 'AT2010', severity: 'error', message: '{0} more diagnostics in this file are not shown (at most {1} per file)', hint: 'fix the ones above and check again' },

  // --- AT3xxx: fields and values ---
  NotSweepable: { code: 'AT3019', severity: 'error', message: "'{0}' cannot be swept: {1}", hint: 'sweep fields that take one value (dim, kv_heads, allocate, epochs, batch, data, lr, warmup, ...); list models and seeds with the experiment\'s models and seeds' },
  UnknownField: { code: 'AT3001', severity: 'error', message: "unknown field '{0}' in {1}{2}" },
  DuplicateField: { code: 'AT3002', severity: 'error', message: "field '{0}' is set twice in this block (first at {1})", hint: 'keep one of them' },
  MissingField: { code: 'AT3003', severity: 'error', message: "{0} '{1}' is missing the field '{2}'", hint: '{3}' },
  WrongValueKind: { code: 'AT3004', severity: 'error', message: "'{0}' expects {1} but got {2}" },
  WrongValueCount: { code: 'AT3005', severity: 'error', message: "'{0}' takes {1} but got {2}" },
  UnknownOption: { code: 'AT3006', severity: 'error', message: "unknown {0} '{1}' for '{2}'{3}" },
  OutOfRange: { code: 'AT3007', severity: 'error', message: "'{0}' must be {1}, got {2}" },
  WrongUnit: { code: 'AT3008', severity: 'error', message: "'{0}' is measured in {1}, not '{2}'" },
  NotAnInteger: { code: 'AT3009', severity: 'error', message: "'{0}' must be a whole number, got {1}" },
  UnexpectedBlock: { code: 'AT3010', severity: 'error', message: "'{0}' does not take a {{ ... }} block" },
  MissingBlock: { code: 'AT3011', severity: 'error', message: "'{0}' needs a {{ ... }} block" },
  DuplicateArgument: { code: 'AT3012', severity: 'error', message: "argument '{0}' is given twice" },
  MissingArgument: { code: 'AT3013', severity: 'error', message: "'{0}' needs the argument '{1}'" },
  ConflictingFields: { code: 'AT3014', severity: 'error', message: '{0}' },
  OptionNeedsPolicy: { code: 'AT3015', severity: 'error', message: "'{0}' only applies to {1}" },
  UnexpectedUnit: { code: 'AT3016', severity: 'error', message: "'{0}' takes a plain number, not a number of {1}", hint: 'write {2} without a unit' },

  // --- AT4xxx: shapes and model consistency ---
  HeadsDoNotDivideDim: { code: 'AT4001', severity: 'error', message: 'heads ({0}) must divide dim ({1}){2}' },
  KvHeadsOutOfRange: { code: 'AT4002', severity: 'error', message: 'kv_heads ({0}) must be between 1 and heads ({1})' },
  KvHeadsDoNotDivideHeads: { code: 'AT4003', severity: 'error', message: 'uniform grouping needs kv_heads ({0}) to divide heads ({1}){2}', hint: 'choose kv_heads from {3}, or allocate key_norm, which allows uneven groups' },
  PatchDoesNotDivideImage: { code: 'AT4004', severity: 'error', message: 'patch ({0}) must divide the image {1} ({2}){3}' },
  LayerRangeOutsideDepth: { code: 'AT4005', severity: 'error', message: 'layers {0} is outside the model, whose layers are 0..{1} (depth {2})' },
  EmptyLayerRange: { code: 'AT4006', severity: 'error', message: 'layer range {0}..{1} is empty', hint: 'ranges are inclusive and go upwards, as in 0..5' },
  MinQueriesTooLarge: { code: 'AT4007', severity: 'error', message: 'min {0} queries per group x {1} groups needs {2} query heads, but there are {3}' },
  OverlappingLayerOverride: { code: 'AT4008', severity: 'warning', message: 'layers {0} overrides {1} that layers {2} (at {3}) already set; the later block wins' },
  BatchNotDivisible: { code: 'AT4009', severity: 'error', message: 'micro_batch ({0}) must divide batch ({1})' },
  MlpTooSmall: { code: 'AT4010', severity: 'error', message: 'the MLP hidden width must be at least 1, got {0}' },
  GradientScoreScopeSample: { code: 'AT4016', severity: 'error', message: "{0} is one statistic per training step, of the key projection's gradient, not one per image: scope: sample cannot apply", hint: 'drop scope: sample (the allocation is one per batch), or choose a statistic of the keys for a per-image allocation' },
  GradientScoreFirstBatch: { code: 'AT4017', severity: 'warning', message: '{0} has no statistic before the first backward: init: first_batch allocates from zeros, the equal share, as init: uniform does', hint: 'drop init: first_batch; the first re-allocation from a gradient comes at step window' },
  TrackedScopeSample: { code: 'AT4012', severity: 'warning', message: "scope: sample has no effect on a tracked allocation, which keeps one score per group", hint: 'drop scope: sample, or drop track for a per-image allocation' },
  DataClassesMismatch: { code: 'AT4011', severity: 'error', message: "model '{0}' has {1} classes but {2} has {3}", hint: 'set classes {3} in the model, or derive a model for this data: model NAME extends {0} {{ classes {3} }}' },
  DuplicateGridEntry: { code: 'AT4013', severity: 'warning', message: "{0} '{1}' is listed twice in this experiment (first at {2})", hint: 'the grid would train the same run twice; remove one' },
  CompatPaperNoise: { code: 'AT4015', severity: 'warning', message: 'compat paper: the reference code subtracts uniform noise at the attention output at every forward pass, in training and evaluation; {0} differs', hint: 'attnc keeps what is written; remove it to follow the reference, or drop compat paper' },
  WarmupTooLong: { code: 'AT4014', severity: 'warning', message: 'warmup ({0} steps) is not shorter than the run ({1} steps)', hint: 'the learning rate never gets past warmup; shorten warmup or train longer' },
  InitCycle: { code: 'AT4018', severity: 'error', message: 'runs start from each other in a cycle: {0}', hint: 'a run can start from the output of a run that does not start from it, directly or further down the chain' },
  InitNotMha: { code: 'AT4019', severity: 'error', message: "convert pools multi-head attention, but run '{0}' trains model '{1}', whose layer {2} has kv_heads {3} for {4} heads", hint: 'start from a run whose model has kv_heads equal to heads (MHA), or drop convert' },
  InitConvertKvHeads: { code: 'AT4020', severity: 'error', message: "convert(kv_heads: {0}) makes {0} K/V heads per layer, but model '{1}' has kv_heads {2} in layer {3}", hint: 'write convert(kv_heads: {2}), or plain convert (which converts to the model\'s kv_heads)' },
  InitConvertDivides: { code: 'AT4021', severity: 'error', message: "convert needs kv_heads ({0}) to divide the {1} heads of run '{2}''s model '{3}'", hint: 'choose kv_heads from {4}' },
  InitIncompatible: { code: 'AT4022', severity: 'error', message: "run '{0}' (model '{1}') cannot start from run '{2}' (model '{3}'{4}): {5}", hint: 'the two models must have the same parameter shapes but the head; when only kv_heads differ from an MHA source, add convert(kv_heads: N)' },
  SweepArgNotTaken: { code: 'AT4023', severity: 'error', message: "'{0}' is an argument of {1}, but run '{2}' uses {3} {4}", hint: 'sweep it on a run whose {3} takes it, or set {3} {1}(...) in the run' },

  // --- AT5xxx: IR documents ---
  IrNotJson: { code: 'AT5001', severity: 'error', message: 'not valid JSON: {0}' },
  IrVersion: { code: 'AT5002', severity: 'error', message: 'IR version {0} is not supported (this attnc reads version {1})', hint: 'recompile the .attn file with this attnc' },
  IrSchema: { code: 'AT5003', severity: 'error', message: 'IR does not match its schema at {0}: {1}' },
  IrInconsistent: { code: 'AT5004', severity: 'error', message: 'IR is inconsistent at {0}: {1}', hint: 'IR documents are written by attnc compile; recompile the .attn file rather than editing the IR' },
} as const satisfies Record<string, DiagnosticDef>;

export type DiagnosticName = keyof typeof Diagnostics;

/** Another place that explains a diagnostic (the parent's field a child's value conflicts with). */
export interface RelatedInformation {
  span: Span;
  message: string;
}

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  span?: Span;
  /** A file the diagnostic is about when no span applies (a missing file, a JSON document). */
  file?: string;
  related?: RelatedInformation[];
}

/** The longest argument shown in full in a message; a longer one (a 1 MB identifier) is cut, saying so. */
export const MAX_ARGUMENT_LENGTH = 100;

function clipArgument(text: string): string {
  return text.length <= MAX_ARGUMENT_LENGTH ? text : `${text.slice(0, MAX_ARGUMENT_LENGTH - 20)}... (${text.length} characters)`;
}

/** Fills `{0}`, `{1}`, ... in one pass; `{{` and `}}` stand for literal braces. Arguments are never re-read. */
function fill(template: string, args: readonly (string | number)[]): string {
  return template.replace(/\{\{|\}\}|\{(\d+)\}/g, (m, i: string | undefined) => (i === undefined ? m[0]! : clipArgument(String(args[Number(i)] ?? ''))));
}

/** Builds a diagnostic from the catalogue. Pass `hint` to replace the catalogue's hint. */
export function diag(name: DiagnosticName, span: Span | undefined, args: readonly (string | number)[] = [], hint?: string): Diagnostic {
  const def: DiagnosticDef = Diagnostics[name];
  const d: Diagnostic = { code: def.code, severity: def.severity, message: fill(def.message, args) };
  // A hint written by the caller may quote the input too: cut it at a few lines' worth.
  const h = hint !== undefined ? (hint.length > 3 * MAX_ARGUMENT_LENGTH ? `${hint.slice(0, 3 * MAX_ARGUMENT_LENGTH - 3)}...` : hint) : def.hint ? fill(def.hint, args) : undefined;
  if (h) d.hint = h;
  if (span) d.span = span;
  return d;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** Orders diagnostics by file, then position, so output is stable whatever order the checks ran in. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return [...diags].sort((a, b) => {
    const fa = a.span?.file ?? a.file ?? '';
    const fb = b.span?.file ?? b.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.span?.offset ?? 0) - (b.span?.offset ?? 0);
  });
}

/**
 * Work that only a printed diagnostic needs (a "did you mean", comparing a word with every candidate),
 * left for capDiagnostics to do on the diagnostics it keeps: a file with 100 000 unknown fields then
 * compares 100 of them, not all. `complete` may change the message and hint; the rest stays.
 */
const DEFERRED = Symbol('deferred detail');

/** Kept on the diagnostic itself, non-enumerable (no copy, JSON or comparison sees it): a WeakMap of 100 000 entries slowed the garbage collector. */
export function deferDetail(d: Diagnostic, complete: () => void): Diagnostic {
  Object.defineProperty(d, DEFERRED, { value: complete, configurable: true, enumerable: false, writable: false });
  return d;
}

function completeDetail(d: Diagnostic): void {
  const complete = (d as { [DEFERRED]?: () => void })[DEFERRED];
  if (complete) {
    delete (d as { [DEFERRED]?: () => void })[DEFERRED];
    complete();
  }
}

/** The most diagnostics kept per file; the rest are counted in one AT2010. */
export const MAX_DIAGNOSTICS_PER_FILE = 100;

/** Drops repeats, keeps the first MAX_DIAGNOSTICS_PER_FILE diagnostics of each file (sorted), then says how many more there were. */
export function capDiagnostics(sorted: readonly Diagnostic[], max = MAX_DIAGNOSTICS_PER_FILE): Diagnostic[] {
  const out: Diagnostic[] = [];
  const kept = new Map<string, number>();
  const dropped = new Map<string, { count: number; errors: boolean; after: Diagnostic }>();
  const seen = new Set<string>();
  for (const d of sorted) {
    const file = d.span?.file ?? d.file ?? '';
    // The same problem found twice (a parent's field, checked with the parent and with its child) prints once.
    const key = `${d.code}\u0000${file}\u0000${d.span?.offset ?? -1}\u0000${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const n = kept.get(file) ?? 0;
    if (n < max) {
      kept.set(file, n + 1);
      completeDetail(d);
      out.push(d);
      continue;
    }
    const entry = dropped.get(file);
    if (entry) { entry.count++; entry.errors ||= d.severity === 'error'; }
    else dropped.set(file, { count: 1, errors: d.severity === 'error', after: out[out.length - 1]! });
  }
  for (const { count, errors, after } of dropped.values()) {
    const d = diag('TooManyDiagnostics', undefined, [count, max]);
    // A warning when only warnings were left out, so that leaving them out never hides an error.
    if (!errors) d.severity = 'warning';
    d.file = after.span?.file ?? after.file;
    out.splice(out.indexOf(after) + 1, 0, d);
  }
  return out;
}

/** Start offsets of the lines of a text; a line ends at \n, \r\n or a lone \r, as the lexer counts them. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return starts;
}

// Printing many diagnostics of one file indexes its lines once (a few texts are remembered).
const lineIndexCache = new Map<string, number[]>();
function lineOf(text: string, line: number): string {
  let starts = lineIndexCache.get(text);
  if (!starts) {
    if (lineIndexCache.size >= 4) lineIndexCache.delete(lineIndexCache.keys().next().value!);
    starts = lineStarts(text);
    lineIndexCache.set(text, starts);
  }
  const from = starts[line - 1];
  if (from === undefined) return '';
  const to = starts[line] ?? text.length;
  return text.slice(from, to).replace(/\r?\n$|\r$/, '');
}

/** The widest source excerpt printed: longer lines are clipped around the span, with '...' marking the cut. */
export const EXCERPT_WIDTH = 120;

/** The part of `line` shown for a span from column `col` (1-based) `width` characters wide, and where the span starts in it. */
export function clipExcerpt(line: string, col: number, width: number): { text: string; col: number; width: number } {
  if (line.length <= EXCERPT_WIDTH) return { text: line, col, width };
  const shownWidth = Math.min(width, EXCERPT_WIDTH - 40);
  const from = Math.max(0, Math.min(col - 1 - 30, line.length - (EXCERPT_WIDTH - 6)));
  const to = Math.min(line.length, from + EXCERPT_WIDTH - 6);
  const head = from > 0 ? '...' : '';
  const tail = to < line.length ? '...' : '';
  return { text: head + line.slice(from, to) + tail, col: col - from + head.length, width: shownWidth };
}

function where(span: Span | undefined, file: string | undefined): string {
  return span ? `${span.file}(${span.line},${span.col})` : (file ?? 'attnc');
}

/** `file(line,col): error CODE: message`, then the source line with the span underlined, then related places and the hint. */
export function formatDiagnostic(d: Diagnostic, sourceOf: (file: string) => string | undefined): string {
  const lines = [`${where(d.span, d.file)}: ${d.severity} ${d.code}: ${d.message}`];
  const text = d.span ? sourceOf(d.span.file) : undefined;
  if (d.span && text !== undefined) {
    const srcLine = lineOf(text, d.span.line);
    const end = d.span.endLine === d.span.line ? d.span.endCol : srcLine.length + 1;
    const shown = clipExcerpt(srcLine, d.span.col, Math.max(1, end - d.span.col));
    const gutter = String(d.span.line).padStart(4);
    lines.push(`${gutter} | ${shown.text}`);
    lines.push(`${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, shown.col - 1))}${'~'.repeat(shown.width)}`);
  }
  for (const r of d.related ?? []) lines.push(`  related: ${where(r.span, undefined)}: ${r.message}`);
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** Words longer than this get no "did you mean": no field, option or name a user misspells is this long. */
export const MAX_SUGGESTION_LENGTH = 64;

/** Work done by editDistance (cells of the band computed), for tests that check it stays linear. */
export const distanceWork = { cells: 0 };

/** "did you mean" for a misspelt word, by edit distance; '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const best = closestWord(word, candidates);
  return best === null ? '' : `; did you mean '${best}'?`;
}

/** The candidate nearest to `word` within a third of its length in edits (didYouMean's choice), or null. */
export function closestWord(word: string, candidates: Iterable<string>): string | null {
  if (word.length > MAX_SUGGESTION_LENGTH) return null;
  const limit = Math.max(1, Math.floor(word.length / 3));
  const lower = word.toLowerCase();
  let best = '';
  let bestDist = limit + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const dist = editDistance(lower, c.toLowerCase(), bestDist - 1);
    if (dist < bestDist) { best = c; bestDist = dist; }
  }
  return bestDist <= limit ? best : null;
}

/**
 * Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment).
 * With `max`, only the band of cells within `max` of the diagonal is computed and any distance above
 * `max` is returned as max + 1: O(length x max) time, three rows of memory reused between calls.
 */
export function editDistance(a: string, b: string, max = Math.max(a.length, b.length)): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const big = max + 1;
  const width = b.length + 1;
  if (rows[0]!.length < width) rows = [0, 1, 2].map(() => new Int32Array(width * 2));
  let [prev2, prev, row] = rows as [Int32Array, Int32Array, Int32Array];
  for (let j = 0; j < width; j++) prev[j] = j <= max ? j : big;
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - max);
    const hi = Math.min(b.length, i + max);
    // Cells just outside the band read as "too far"; the first column is i while i is within reach.
    row[lo - 1] = lo === 1 && i <= max ? i : big;
    if (hi < b.length) row[hi + 1] = big;
    let rowMin = row[lo - 1]!;
    const ai = a.charCodeAt(i - 1);
    for (let j = lo; j <= hi; j++) {
      const bj = b.charCodeAt(j - 1);
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (ai === bj ? 0 : 1));
      if (i > 1 && j > 1 && ai === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === bj) d = Math.min(d, prev2[j - 2]! + 1);
      row[j] = d < big ? d : big;
      if (d < rowMin) rowMin = d;
    }
    distanceWork.cells += hi - lo + 1;
    if (rowMin > max) return big;
    const spare = prev2;
    prev2 = prev;
    prev = row;
    row = spare;
  }
  return Math.min(prev[b.length]!, big);
}

let rows: Int32Array[] = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];
