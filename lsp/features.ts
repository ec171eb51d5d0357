// The editor features over an Analysis (lsp/analysis.ts): completion from the schema, hover with a
// field's doc and default, go-to-definition, formatting with `attnc fmt`'s formatter, and the
// `compile --summary` figures of each model as a code lens and in its hover.
import { editDistance, hasErrors } from '../core/diagnostics.js';
import type { Decl, Field, Value } from '../grammar/ast.js';
import { parse } from '../grammar/index.js';
import { DECLARATION_WORDS } from '../grammar/keywords.js';
import { format } from '../compiler/fmt.js';
import { resolveImport } from '../compiler/resolve.js';
import { BLOCK_TITLES, blockFields, type ArgSpec, type BlockKind, type FieldSpec, type OptionSpec, type ValueSpec } from '../compiler/schema.js';
import { formatSummary } from '../compiler/summary-format.js';
import {
  CompletionItemKind, MarkupKind,
  type CodeLens, type CompletionItem, type Hover, type Location, type Range, type TextEdit,
} from 'vscode-languageserver/node.js';
import { blockAt, contains, fieldsOf, figuresLine, rangeOf, summaries, uriOf, valuesOf, type Analysis } from './analysis.js';

// ---------------------------------------------------------------------------------------------------
// Describing the schema

function describeSpec(spec: ValueSpec): string {
  switch (spec.t) {
    case 'int': return `a whole number${spec.min !== undefined ? ` >= ${spec.min}` : ''}${spec.max !== undefined ? ` <= ${spec.max}` : ''}${spec.unit ? ` (${spec.unit})` : ''}`;
    case 'number': return 'a number';
    case 'bool': return '`true` or `false`';
    case 'word': return spec.words.map((w) => `\`${w}\``).join(', ');
    case 'name': return 'a name';
    case 'string': return 'a string';
    case 'dims': return 'dimensions such as `28 x 28 x 1`';
    case 'layers': return 'layer indices or ranges such as `0..5, 8`';
    case 'width': return 'a multiple of dim (`4x`) or a width (`1536`)';
    case 'choice': return Object.keys(spec.options).map((o) => `\`${o}\``).join(', ');
    case 'init': return '`run NAME` or a checkpoint path, then optionally `convert(kv_heads: N)`';
  }
}

function fieldDoc(name: string, kind: BlockKind, spec: FieldSpec): string {
  const lines = [`**${name}** (${BLOCK_TITLES[kind]})`, '', spec.doc, ''];
  if (spec.values.length) lines.push(`takes: ${spec.values.map(describeSpec).join(' then ')}${spec.repeat ? ' (a list)' : ''}`);
  if (spec.block) lines.push(`takes a block: \`${name} { ... }\``);
  lines.push(spec.required ? 'required' : `default: ${spec.default ?? 'none'}`);
  return lines.join('  \n').replace(/ {2}\n {2}\n/g, '\n\n');
}

function argDoc(name: string, arg: ArgSpec): string {
  return `\`${name}\`: ${arg.doc}${arg.required ? ' (required)' : arg.default !== undefined ? ` (default ${arg.default})` : ''}`;
}

function optionDoc(name: string, option: OptionSpec): string {
  const args = Object.entries(option.args ?? {});
  return [`**${name}**: ${option.doc}`, ...(args.length ? ['', ...args.map(([n, a]) => `- ${argDoc(n, a)}`)] : [])].join('\n');
}

/** The option `name` among a field's choice specs (`adamw` of optimizer). */
function optionOf(spec: FieldSpec | undefined, name: string): OptionSpec | undefined {
  for (const v of spec?.values ?? []) if (v.t === 'choice' && v.options[name]) return v.options[name];
  return undefined;
}

/** The argument spec `arg` of the option `option` of a field, looking into nested choices (`track: ema(...)`). */
function argOf(spec: FieldSpec | undefined, option: string, arg: string): ArgSpec | undefined {
  return optionOf(spec, option)?.args?.[arg];
}

/** Which declarations a name field refers to: train runs for an experiment's `train`, models otherwise. */
function nameTable(kind: BlockKind, field: string): 'models' | 'runs' {
  return kind === 'experiment' && field === 'train' ? 'runs' : 'models';
}

// ---------------------------------------------------------------------------------------------------
// Completion

const WORD_AT_END = /[A-Za-z_][A-Za-z0-9_]*$/;

function distanceLimit(word: string): number {
  return Math.max(1, Math.floor(word.length / 3));
}

/**
 * Items for `candidates` given the word typed so far: all of them, and those within the "did you mean"
 * distance of a misspelt word first and preselected (their filterText is the typed word, so the
 * editor keeps them although they do not start with it).
 */
function ranked(items: CompletionItem[], typed: string, range: Range): CompletionItem[] {
  const exact = items.some((i) => i.label.startsWith(typed));
  return items.map((item, n) => {
    const out: CompletionItem = { ...item, textEdit: { range, newText: item.insertText ?? item.label } };
    delete out.insertText;
    out.sortText = `1${String(n).padStart(4, '0')}`;
    if (typed && !exact) {
      const d = editDistance(typed.toLowerCase(), item.label.toLowerCase(), distanceLimit(typed));
      if (d <= distanceLimit(typed)) {
        out.sortText = `0${d}${item.label}`;
        out.filterText = typed;
        out.preselect = true;
        out.detail = `did you mean '${item.label}'?${item.detail ? ` ${item.detail}` : ''}`;
      }
    }
    return out;
  });
}

function fieldItems(kind: BlockKind): CompletionItem[] {
  return Object.entries(blockFields(kind)).map(([name, spec]) => ({
    label: name, kind: CompletionItemKind.Field, detail: spec.doc,
    documentation: { kind: MarkupKind.Markdown, value: fieldDoc(name, kind, spec) },
  }));
}

function valueItems(spec: FieldSpec, kind: BlockKind, fieldName: string, a: Analysis): CompletionItem[] {
  const items: CompletionItem[] = [];
  for (const v of spec.values) items.push(...specItems(v, a, nameTable(kind, fieldName)));
  return items;
}

function specItems(v: ValueSpec, a: Analysis, names: 'models' | 'runs'): CompletionItem[] {
  if (v.t === 'word') return v.words.map((w) => ({ label: w, kind: CompletionItemKind.EnumMember }));
  if (v.t === 'bool') return ['true', 'false'].map((w) => ({ label: w, kind: CompletionItemKind.Keyword }));
  if (v.t === 'choice') {
    return Object.entries(v.options).map(([name, o]) => ({
      label: name, kind: CompletionItemKind.EnumMember, detail: o.doc,
      documentation: { kind: MarkupKind.Markdown, value: optionDoc(name, o) },
    }));
  }
  // `init run NAME convert(kv_heads: N)`: the word run, the train runs, and convert.
  if (v.t === 'init') return [{ label: 'run', kind: CompletionItemKind.Keyword, detail: 'start from the output of a train run' }, ...specItems({ t: 'name' }, a, 'runs'), ...specItems(v.convert, a, names)];
  if (v.t === 'name') {
    const table = names === 'runs' ? a.program.runs : a.program.models;
    return [...table].map(([name, found]) => ({ label: name, kind: names === 'runs' ? CompletionItemKind.Function : CompletionItemKind.Class, detail: `${names === 'runs' ? 'train run' : 'model'} in ${found.file}` }));
  }
  return [];
}

/** The innermost unclosed '(' of a line prefix, or -1. */
function openParen(prefix: string): number {
  let depth = 0;
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] === ')') depth++;
    else if (prefix[i] === '(') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** Completion at `offset` of `text` (the analysed document's text). */
export function complete(a: Analysis, text: string, offset: number, position: { line: number; character: number }): CompletionItem[] {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let prefix = text.slice(lineStart, offset);
  const brace = Math.max(prefix.lastIndexOf('{'), prefix.lastIndexOf('}'));
  if (brace >= 0) prefix = prefix.slice(brace + 1);
  // Nothing to complete in a comment or a string.
  if (prefix.includes('#') || (prefix.match(/"/g)?.length ?? 0) % 2 === 1) return [];
  const typed = WORD_AT_END.exec(prefix)?.[0] ?? '';
  const range: Range = { start: { line: position.line, character: position.character - typed.length }, end: position };
  const before = prefix.slice(0, prefix.length - typed.length);
  const ctx = blockAt(a.ast, offset);

  if (!ctx.kind) {
    if (/\bextends\s+$/.test(before)) return ranked(specItems({ t: 'name' }, a, 'models'), typed, range);
    if (/^\s*$/.test(before)) return ranked(DECLARATION_WORDS.map((w) => ({ label: w, kind: CompletionItemKind.Keyword })), typed, range);
    return [];
  }
  const kind = ctx.kind;
  const words = before.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  const fields = blockFields(kind);
  const fieldName = [...words].reverse().find((w) => w in fields);
  const paren = openParen(before);
  if (paren >= 0 && fieldName) {
    // Inside `option(...)`: argument names, or an argument's value after `name:`.
    const option = WORD_AT_END.exec(before.slice(0, paren).trimEnd())?.[0] ?? '';
    const spec = fields[fieldName];
    const opt = optionOf(spec, option);
    if (!opt?.args) return [];
    const argText = before.slice(paren + 1).split(',').pop()!;
    const named = /^\s*([A-Za-z_]\w*)\s*:\s*$/.exec(argText);
    if (named) {
      const arg = opt.args[named[1]!];
      return arg ? ranked(specItems(arg.spec, a, 'models'), typed, range) : [];
    }
    if (!/^\s*$/.test(argText)) return [];
    const given = new Set([...before.slice(paren + 1).matchAll(/([A-Za-z_]\w*)\s*:/g)].map((m) => m[1]));
    const items = Object.entries(opt.args).filter(([n]) => !given.has(n)).map(([n, arg]) => ({
      label: n, kind: CompletionItemKind.Property, detail: arg.doc, insertText: `${n}: `,
      documentation: { kind: MarkupKind.Markdown, value: argDoc(n, arg) },
    }));
    return ranked(items, typed, range);
  }
  if (!fieldName || /^\s*$/.test(before)) return ranked(fieldItems(kind), typed, range);
  const values = valueItems(fields[fieldName]!, kind, fieldName, a);
  // After a field's values another field may start on the same line (`image 28 x 28 x 1 patch 7`).
  return ranked(values.length ? values : fieldItems(kind), typed, range);
}

// ---------------------------------------------------------------------------------------------------
// Hover

function markdown(value: string, range: Range): Hover {
  return { contents: { kind: MarkupKind.Markdown, value }, range };
}

function modelHover(a: Analysis, name: string, range: Range): Hover {
  const found = summaries(a).get(name);
  if (!found) {
    const declared = a.program.models.get(name);
    const why = hasErrors(a.raw) ? 'the file has errors; the figures appear when `attnc check` passes' : 'the model is not compiled by this file';
    return markdown(`**model ${name}**${declared ? ` (${declared.file})` : ''}\n\n${why}`, range);
  }
  const { model, summary } = found;
  return markdown(`**model ${name}**: ${figuresLine(summary)}\n\n\`\`\`text\n${formatSummary(summary, model)}\`\`\``, range);
}

export function hover(a: Analysis, offset: number): Hover | null {
  for (const decl of a.ast.decls) {
    if (decl.kind === 'model' && contains(decl.nameSpan, offset)) return modelHover(a, decl.name, rangeOf(decl.nameSpan));
    if (decl.kind === 'model' && decl.extends && contains(decl.extends.span, offset)) return modelHover(a, decl.extends.name, rangeOf(decl.extends.span));
  }
  for (const { field, kind } of fieldsOf(a.ast)) {
    const spec = blockFields(kind)[field.name];
    if (contains(field.nameSpan, offset)) {
      return spec ? markdown(fieldDoc(field.name, kind, spec), rangeOf(field.nameSpan)) : null;
    }
    if (!spec || !contains(field.span, offset)) continue;
    const found = valueHover(a, spec, kind, field, offset);
    if (found) return found;
  }
  return null;
}

function valueHover(a: Analysis, spec: FieldSpec, kind: BlockKind, field: Field, offset: number): Hover | null {
  for (const v of field.values) {
    if (!contains(v.span, offset)) continue;
    if (v.kind === 'ident') {
      if (spec.values.some((s) => s.t === 'name')) {
        return nameTable(kind, field.name) === 'models' ? modelHover(a, v.name, rangeOf(v.span)) : null;
      }
      const opt = optionOf(spec, v.name);
      return opt ? markdown(optionDoc(v.name, opt), rangeOf(v.span)) : null;
    }
    if (v.kind === 'call') {
      if (contains(v.nameSpan, offset)) {
        const opt = optionOf(spec, v.name);
        return opt ? markdown(optionDoc(v.name, opt), rangeOf(v.nameSpan)) : null;
      }
      for (const arg of v.args) {
        if (arg.name && contains(arg.nameSpan, offset)) {
          const as = argOf(spec, v.name, arg.name);
          return as ? markdown(argDoc(arg.name, as), rangeOf(arg.nameSpan)) : null;
        }
      }
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Go to definition

function declLocation(a: Analysis, found: { decl: Decl & { nameSpan: { line: number } }; file: string } | undefined): Location | null {
  if (!found || found.decl.kind === 'import') return null;
  return { uri: uriOf(a.absolute(found.file)), range: rangeOf(found.decl.nameSpan) };
}

export function definition(a: Analysis, offset: number): Location | null {
  for (const decl of a.ast.decls) {
    if (decl.kind === 'import' && contains(decl.pathSpan, offset) && decl.path.trim()) {
      const target = resolveImport(a.file, decl.path, a.host);
      return a.host.exists(target) ? { uri: uriOf(target), range: rangeOf(undefined) } : null;
    }
    if (decl.kind === 'model' && decl.extends && contains(decl.extends.span, offset)) return declLocation(a, a.program.models.get(decl.extends.name));
  }
  for (const { field, kind } of fieldsOf(a.ast)) {
    const spec = blockFields(kind)[field.name];
    if (!spec?.values.some((s) => s.t === 'name') || !contains(field.span, offset)) continue;
    for (const v of valuesOf(field.values) as Iterable<Value>) {
      if (v.kind !== 'ident' || !contains(v.span, offset)) continue;
      const table = nameTable(kind, field.name) === 'runs' ? a.program.runs : a.program.models;
      return declLocation(a, table.get(v.name));
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Formatting and code lenses

/** `attnc fmt` as edits: one edit replacing the whole text, none when it is canonical or does not parse. */
export function formatEdits(text: string, file: string): { edits: TextEdit[]; parses: boolean } {
  const { ast, diagnostics } = parse(text, file);
  if (hasErrors(diagnostics)) return { edits: [], parses: false };
  const formatted = format(ast);
  if (formatted === text) return { edits: [], parses: true };
  const lines = text.split(/\r\n|\r|\n/);
  const end = { line: lines.length - 1, character: lines[lines.length - 1]!.length };
  return { edits: [{ range: { start: { line: 0, character: 0 }, end }, newText: formatted }], parses: true };
}

/** One lens over each model of the document: its parameters, FLOPs and K/V cache, as `compile --summary` computes them. */
export function codeLenses(a: Analysis): CodeLens[] {
  const figures = summaries(a);
  const lenses: CodeLens[] = [];
  for (const decl of a.ast.decls) {
    if (decl.kind !== 'model') continue;
    const found = figures.get(decl.name);
    if (found) lenses.push({ range: rangeOf(decl.nameSpan), command: { title: figuresLine(found.summary), command: '' } });
  }
  return lenses;
}

