// The canonical layout of a .attn file, printed from its AST (`attnc fmt`).
//
//   - Declarations are separated by one blank line; consecutive imports stay together.
//   - Two-space indentation, one field per line (`image 28 x 28 x 1 patch 7` becomes two lines), a
//     block's '{' on its field's line and '}' on a line of its own; an empty block is `{` then `}`.
//   - Values are separated by one space, or by ', ' when the source separated them with commas.
//     Literals print as written: numbers keep their text (`1e-3`, `1.0`), ratios `4x`, dimensions
//     `28 x 28 x 1`, ranges `0..5`, calls `name(a: 1, b: 2)`; strings keep their literal as written (`"\d"` stays `"\d"`).
//   - The values of a block's fields start in one column, one space after the longest field name
//     (gofmt-style), whatever the spacing was: `heads    4` under `kv_heads 2`. Fields that open
//     a block (`attention {`, `layers 0..5 {`) take one space.
//   - Comments stay where they were: above a node, at the end of its line (after one space), after
//     a '{', or before a '}'. A blank line (never more than one) is kept between fields, and between
//     comments and what they precede, where the source had one.
// Printing reads the spans of the AST only for the blank lines and comments, so an AST built by hand
// (spans all zero) prints without blank lines.
import { unescapeString, type Block, type Comment, type Decl, type Field, type SourceFile, type Value } from '../grammar/ast.js';

export function format(ast: SourceFile): string {
  const lines: string[] = [];
  ast.decls.forEach((decl, i) => {
    const previous = ast.decls[i - 1];
    if (previous && !(previous.kind === 'import' && decl.kind === 'import')) lines.push('');
    writeComments(lines, decl.leadingComments ?? [], '', decl.span.line);
    if (decl.kind === 'import') lines.push(`import ${literal(decl.path, decl.pathText)}${trailing(decl.trailingComment)}`);
    else writeBlock(lines, declarationHeader(decl), decl.body, '', decl.trailingComment);
  });
  const dangling = ast.danglingComments ?? [];
  const last = ast.decls[ast.decls.length - 1];
  if (last && dangling.length > 0 && isBlankBetween(endLineOf(last), dangling[0]!.span.line)) lines.push('');
  writeComments(lines, dangling, '', undefined);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function declarationHeader(decl: Exclude<Decl, { kind: 'import' }>): string {
  if (decl.kind === 'model') return `model ${decl.name}${decl.extends ? ` extends ${decl.extends.name}` : ''}`;
  return `${decl.kind} ${decl.name}`;
}

function writeBlock(lines: string[], head: string, block: Block, indent: string, trailingComment: Comment | undefined): void {
  lines.push(`${indent}${head} {${trailing(block.openingComment)}`);
  const inner = `${indent}  `;
  const column = Math.max(0, ...block.fields.filter(isAligned).map((f) => f.name.length)) + 1;
  block.fields.forEach((field, i) => {
    const previous = block.fields[i - 1];
    if (previous && isBlankBetween(endLineOf(previous), startLineOf(field))) lines.push('');
    writeField(lines, field, inner, column);
  });
  const dangling = block.danglingComments ?? [];
  const last = block.fields[block.fields.length - 1];
  if (last && dangling.length > 0 && isBlankBetween(endLineOf(last), dangling[0]!.span.line)) lines.push('');
  writeComments(lines, dangling, inner, undefined);
  lines.push(`${indent}}${trailing(trailingComment)}`);
}

/** Fields whose values line up in the block's value column: those with values and no block. */
const isAligned = (f: Field): boolean => f.values.length > 0 && !f.block;

function writeField(lines: string[], field: Field, indent: string, column: number): void {
  writeComments(lines, field.leadingComments ?? [], indent, field.span.line);
  // In a list, a string after a word is that option's path (`data cifar10 "a", cifar100 "b"`), as long
  // as a comma stays to say the field is a list.
  const isPath = (i: number) => field.values[i]!.kind === 'string' && field.values[i - 1]!.kind === 'ident';
  const keepsComma = field.values.some((_, i) => i > 0 && !isPath(i));
  const separator = (i: number) => (!field.commaSeparated || (keepsComma && isPath(i)) ? ' ' : ', ');
  const gap = isAligned(field) ? ' '.repeat(column - field.name.length) : ' ';
  const values = field.values.length > 0 ? `${gap}${field.values.map((v, i) => (i ? separator(i) : '') + formatValue(v)).join('')}` : '';
  if (field.block) writeBlock(lines, `${field.name}${values}`, field.block, indent, field.trailingComment);
  else lines.push(`${indent}${field.name}${values}${trailing(field.trailingComment)}`);
}

export function formatValue(value: Value): string {
  switch (value.kind) {
    case 'number': return value.unit ? `${value.text} ${value.unit}` : value.text;
    case 'ratio': return value.text;
    case 'dims': return value.values.join(' x ');
    case 'range': return `${value.from}..${value.to}`;
    case 'string': return literal(value.value, value.text);
    case 'ident': return value.name;
    case 'call': return `${value.name}(${value.args.map((a) => (a.name ? `${a.name}: ` : '') + formatValue(a.value)).join(', ')})`;
  }
}

/** A string as written when its literal still decodes to it, else re-quoted. */
function literal(value: string, written: string | undefined): string {
  return written !== undefined && unescapeString(written.slice(1, -1)) === value ? written : quote(value);
}

/** A string literal for `text`: only '"' and '\' need escaping (strings cannot hold line breaks). */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function trailing(comment: Comment | undefined): string {
  return comment ? ` ${comment.text}` : '';
}

/** Comments on lines of their own; a blank line between two of them, or before `nextLine`, where the source had one. */
function writeComments(lines: string[], comments: Comment[], indent: string, nextLine: number | undefined): void {
  comments.forEach((c, i) => {
    lines.push(`${indent}${c.text}`);
    const following = comments[i + 1]?.span.line ?? nextLine;
    if (following !== undefined && isBlankBetween(c.span.endLine, following)) lines.push('');
  });
}

function isBlankBetween(endLine: number, nextStartLine: number): boolean {
  return nextStartLine - endLine > 1;
}

/** Where a field's text begins: its first leading comment, unless that comment was inside the field. */
function startLineOf(field: Field): number {
  return Math.min(field.leadingComments?.[0]?.span.line ?? Infinity, field.span.line);
}

function endLineOf(node: Field | Decl): number {
  return node.trailingComment?.span.endLine ?? node.span.endLine;
}
