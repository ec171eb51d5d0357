// What the language server knows about one open document: the same compilation as `attnc check`
// (compiler/compile.ts, imports followed through a host that reads open documents before the disk),
// its diagnostics turned into LSP ones, and the lookups the editor features share (the block around
// a position, the declaration a name refers to). No second parser: everything reads the AST of
// grammar/ and the Program of compiler/resolve.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic as AttncDiagnostic } from '../core/diagnostics.js';
import type { Span } from '../core/span.js';
import type { Block, Decl, Field, ImportDecl, SourceFile, Value } from '../grammar/ast.js';
import { analyzeModel, type ModelSummary } from '../compiler/analyze.js';
import { compileFile } from '../compiler/compile.js';
import type { IRDocument, ModelIR } from '../compiler/ir/types.js';
import { resolveImport, type Host, type Program } from '../compiler/resolve.js';
import { SCHEMA, type BlockKind } from '../compiler/schema.js';
import { DiagnosticSeverity, type Diagnostic, type Range } from 'vscode-languageserver/node.js';

/** An LSP range from a span (1-based lines and columns, end exclusive, to 0-based positions). */
export function rangeOf(span: Span | undefined): Range {
  if (!span) return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return { start: { line: span.line - 1, character: span.col - 1 }, end: { line: span.endLine - 1, character: span.endCol - 1 } };
}

export function contains(span: Span | undefined, offset: number): boolean {
  return span !== undefined && span.offset <= offset && offset <= span.endOffset;
}

/** A host that reads the editor's open documents first, then the disk. */
export function overlayHost(open: (absolutePath: string) => string | undefined): Host {
  return {
    readFile: (p) => open(p) ?? fs.readFileSync(p, 'utf8'),
    exists: (p) => open(p) !== undefined || fs.existsSync(p),
  };
}

export interface Analysis {
  /** The document's absolute path. */
  file: string;
  program: Program;
  /** The IR when the document and its imports have no errors (the summary figures need it). */
  ir?: IRDocument;
  /** The compiler's diagnostics, as `attnc check` prints them. */
  raw: AttncDiagnostic[];
  /** LSP diagnostics by absolute path: the document's own, and those of the files it imports. */
  diagnostics: Map<string, Diagnostic[]>;
  host: Host;
  /** Display path (as in spans) -> absolute path. */
  absolute(display: string): string;
  /** The document's own AST. */
  ast: SourceFile;
}

/** Compiles `file` (whose text the host serves) as `attnc check` does, and sorts its diagnostics by file. */
export function analyze(file: string, host: Host): Analysis {
  const base = path.dirname(file);
  const result = compileFile(file, { host, displayBase: base });
  const absolute = (display: string) => path.resolve(base, display);
  const program = result.program;
  const rootAst = program.files.get(program.root) ?? { path: program.root, text: '', decls: [] };
  const diagnostics = new Map<string, Diagnostic[]>([[file, []]]);
  for (const d of result.diagnostics) {
    const where = d.span?.file ?? d.file ?? program.root;
    const abs = absolute(where);
    const lsp = toLsp(d, absolute);
    if (!diagnostics.has(abs)) diagnostics.set(abs, []);
    diagnostics.get(abs)!.push(lsp);
    if (abs !== file) {
      // A problem in an imported file is also shown at the import that brings it in, so it is seen
      // where the user is typing (`attnc check` reports it in the imported file, with the same code).
      const via = importReaching(program, where, host, absolute);
      if (via) {
        const loc = d.span ? `${d.span.file}(${d.span.line},${d.span.col})` : where;
        diagnostics.get(file)!.push({
          ...lsp, range: rangeOf(via.pathSpan), message: `${loc}: ${lsp.message}`,
          relatedInformation: [{ location: { uri: uriOf(abs), range: lsp.range }, message: d.message }, ...(lsp.relatedInformation ?? [])],
        });
      }
    }
  }
  return { file, program, ir: result.ir, raw: result.diagnostics, diagnostics, host, absolute, ast: rootAst };
}

export function uriOf(absolutePath: string): string {
  return new URL(`file://${absolutePath.split(path.sep).map(encodeURIComponent).join('/')}`).href;
}

function toLsp(d: AttncDiagnostic, absolute: (display: string) => string): Diagnostic {
  const out: Diagnostic = {
    range: rangeOf(d.span),
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: 'attnc',
    message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
  };
  if (d.related?.length) {
    out.relatedInformation = d.related.map((r) => ({ location: { uri: uriOf(absolute(r.span.file)), range: rangeOf(r.span) }, message: r.message }));
  }
  return out;
}

/** The root file's import through which `display` (a file of the program) is reached, directly or not. */
function importReaching(program: Program, display: string, host: Host, absolute: (d: string) => string): ImportDecl | undefined {
  const root = program.files.get(program.root);
  if (!root) return undefined;
  const target = absolute(display);
  const importsOf = (f: SourceFile, abs: string) =>
    f.decls.filter((d): d is ImportDecl => d.kind === 'import' && d.path.trim() !== '').map((d) => ({ decl: d, abs: resolveImport(abs, d.path, host) }));
  const byAbs = new Map([...program.files].map(([shown, f]) => [absolute(shown), f]));
  for (const first of importsOf(root, absolute(program.root))) {
    const seen = new Set<string>();
    const queue = [first.abs];
    while (queue.length) {
      const next = queue.shift()!;
      if (next === target) return first.decl;
      if (seen.has(next)) continue;
      seen.add(next);
      const f = byAbs.get(next);
      if (f) queue.push(...importsOf(f, next).map((i) => i.abs));
    }
  }
  return undefined;
}

/** Where a position is: the chain of blocks around it, innermost last, with their kinds. */
export interface BlockContext {
  decl?: Decl;
  /** The kind of the innermost block, or undefined at the top level. */
  kind?: BlockKind;
  block?: Block;
  /** The field whose name or values the position is on, in the innermost block. */
  field?: Field;
}

/** True when `offset` is between a block's braces (an unclosed block runs to the end of what was parsed, and on). */
function inside(block: Block, offset: number, text: string): boolean {
  const closed = text[block.span.endOffset - 1] === '}';
  return offset > block.span.offset && (closed ? offset < block.span.endOffset : true);
}

/** The innermost block containing `offset` and the field there, from the AST. */
export function blockAt(ast: SourceFile, offset: number): BlockContext {
  const text = ast.text;
  // The last declaration starting before the offset whose block is open there.
  const candidates = ast.decls.filter((d) => d.kind !== 'import' && d.body.span.offset < offset);
  const decl = candidates[candidates.length - 1];
  if (!decl || decl.kind === 'import' || !inside(decl.body, offset, text)) return {};
  let kind: BlockKind = decl.kind;
  let block = decl.body;
  for (;;) {
    const inner = block.fields.find((f) => f.block && inside(f.block, offset, text));
    const innerKind: BlockKind | undefined = inner ? SCHEMA[kind][inner.name]?.block : undefined;
    if (!inner || !innerKind) break;
    kind = innerKind;
    block = inner.block!;
  }
  const field = block.fields.find((f) => f.span.offset <= offset && offset <= (f.block ? f.block.span.offset : f.span.endOffset));
  return { decl, kind, block, field };
}

/** Every field of a file with the kind of the block it is in, depth first. */
export function* fieldsOf(ast: SourceFile): Generator<{ field: Field; kind: BlockKind; decl: Decl }> {
  function* walk(block: Block, kind: BlockKind, decl: Decl): Generator<{ field: Field; kind: BlockKind; decl: Decl }> {
    for (const field of block.fields) {
      yield { field, kind, decl };
      const inner = SCHEMA[kind][field.name]?.block;
      if (field.block && inner) yield* walk(field.block, inner, decl);
    }
  }
  for (const decl of ast.decls) if (decl.kind !== 'import') yield* walk(decl.body, decl.kind, decl);
}

/** Every value of a field, call arguments included, depth first. */
export function* valuesOf(values: readonly Value[]): Generator<Value> {
  for (const v of values) {
    yield v;
    if (v.kind === 'call') yield* valuesOf(v.args.map((a) => a.value));
  }
}

/** The model IR and its `compile --summary` analysis, by model name (when the file compiles). */
export function summaries(a: Analysis): Map<string, { model: ModelIR; summary: ModelSummary }> {
  const out = new Map<string, { model: ModelIR; summary: ModelSummary }>();
  for (const model of a.ir?.models ?? []) out.set(model.name, { model, summary: analyzeModel(model) });
  return out;
}

/** One line of figures for a model: parameters, FLOPs per image, K/V cache per token. */
export function figuresLine(s: ModelSummary): string {
  const params = s.params.total >= 1e6 ? `${(s.params.total / 1e6).toFixed(2)} M` : `${s.params.total.toLocaleString('en-US')}`;
  const flops = s.flops.total >= 1e9 ? `${(s.flops.total / 1e9).toFixed(3)} GFLOPs` : `${(s.flops.total / 1e6).toFixed(3)} MFLOPs`;
  const kv = s.kvCache;
  const share = kv.mhaBytesPerToken === 0 ? '' : ` (${((100 * kv.bytesPerToken) / kv.mhaBytesPerToken).toFixed(2)}% of MHA)`;
  return `${params} params · ${flops} per image · K/V cache ${kv.bytesPerToken.toLocaleString('en-US')} B/token${share}`;
}
