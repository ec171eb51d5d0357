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

  // --- AT3xxx: fields and values ---
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
  TrackedScopeSample: { code: 'AT4012', severity: 'warning', message: "scope: sample has no effect on a tracked allocation, which keeps one score per group", hint: 'drop scope: sample, or drop track for a per-image allocation' },
  DataClassesMismatch: { code: 'AT4011', severity: 'error', message: "model '{0}' has {1} classes but {2} has {3}", hint: 'set classes {3} in the model, or derive a model for this data: model NAME extends {0} {{ classes {3} }' },

  // --- AT5xxx: IR documents ---
  IrNotJson: { code: 'AT5001', severity: 'error', message: 'not valid JSON: {0}' },
  IrVersion: { code: 'AT5002', severity: 'error', message: 'IR version {0} is not supported (this attnc reads version {1})', hint: 'recompile the .attn file with this attnc' },
  IrSchema: { code: 'AT5003', severity: 'error', message: 'IR does not match its schema at {0}: {1}' },
} as const satisfies Record<string, DiagnosticDef>;

export type DiagnosticName = keyof typeof Diagnostics;

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  span?: Span;
  /** A file the diagnostic is about when no span applies (a missing file, a JSON document). */
  file?: string;
}

function fill(template: string, args: readonly (string | number)[]): string {
  return template.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? '')).replace(/\{\{/g, '{');
}

/** Builds a diagnostic from the catalogue. Pass `hint` to replace the catalogue's hint. */
export function diag(name: DiagnosticName, span: Span | undefined, args: readonly (string | number)[] = [], hint?: string): Diagnostic {
  const def: DiagnosticDef = Diagnostics[name];
  const d: Diagnostic = { code: def.code, severity: def.severity, message: fill(def.message, args) };
  const h = hint ?? (def.hint ? fill(def.hint, args) : undefined);
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

/** `file(line,col): error CODE: message`, then the source line with the span underlined, then the hint. */
export function formatDiagnostic(d: Diagnostic, sourceOf: (file: string) => string | undefined): string {
  const where = d.span ? `${d.span.file}(${d.span.line},${d.span.col})` : (d.file ?? 'attnc');
  const lines = [`${where}: ${d.severity} ${d.code}: ${d.message}`];
  const text = d.span ? sourceOf(d.span.file) : undefined;
  if (d.span && text !== undefined) {
    const srcLine = text.split(/\r?\n/)[d.span.line - 1] ?? '';
    const end = d.span.endLine === d.span.line ? d.span.endCol : srcLine.length + 1;
    const width = Math.max(1, end - d.span.col);
    const gutter = String(d.span.line).padStart(4);
    lines.push(`${gutter} | ${srcLine}`);
    lines.push(`${' '.repeat(gutter.length)} | ${' '.repeat(d.span.col - 1)}${'~'.repeat(width)}`);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** "did you mean" for a misspelt word, by edit distance; '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  let best = '';
  let bestDist = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDist) { best = c; bestDist = dist; }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestDist <= limit ? `; did you mean '${best}'?` : '';
}

/** Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
