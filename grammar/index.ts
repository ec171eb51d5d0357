// parse(): text in, AST and diagnostics out. Pure: no I/O, never throws.
//
// The parser stops at the first top-level token that cannot start a declaration. Here that junk is
// reported (AT1004) and skipped, a brace-balanced stretch at a time so the fields inside a stray
// block are not mistaken for declarations, and parsing resumes at the next declaration word.
import { EOF, type CstNode, type IRecognitionException, type IToken } from './chevrotain.js';
import type { Block, Comment, Decl, Field, SourceFile } from './ast.js';
import type { Span } from '../core/span.js';
import { DECLARATION_WORDS } from './keywords.js';
import { diag, sortDiagnostics, type Diagnostic } from '../core/diagnostics.js';
import { describeToken, Identifier, isRealToken, LBrace, LParen, lex, RBrace, RParen, spanAfter, tokenSpan } from './lexer.js';
import { parser, type ParseErrorInfo } from './parser.js';
import { buildDeclaration } from './visitor.js';

export interface ParseResult {
  ast: SourceFile;
  diagnostics: Diagnostic[];
}

const declarationWords = new Set<string>(DECLARATION_WORDS);
const isDeclarationWord = (t: IToken): boolean => t.tokenType === Identifier && declarationWords.has(t.image);

/**
 * How deep braces and parentheses may nest. Real files need four or five levels; the limit keeps
 * the recursive parser, AST builder and formatter far from the stack's end on hostile input.
 */
export const MAX_NESTING = 32;

export function parse(text: string, file: string): ParseResult {
  const lexed = lex(text, file);
  const diagnostics: Diagnostic[] = [...lexed.diagnostics];
  const tokens = limitNesting(lexed.tokens, file, diagnostics);
  const endSpan: Span = tokens.length > 0
    ? spanAfter(tokens[tokens.length - 1]!, file)
    : { file, line: 1, col: 1, endLine: 1, endCol: 1, offset: 0, endOffset: 0 };
  const decls: Decl[] = [];

  // One input array for every round: Chevrotain pads the array it parses with end-of-file sentinels,
  // and a round after junk starts at its index (the lexer state, as backtracking sets it) rather
  // than on a copy of the rest of the file, which made a file of many junk tokens quadratic.
  const input = tokens.slice();
  let start = 0;
  while (start < tokens.length) {
    parser.input = input;
    if (start > 0) parser.startAt(start);
    // Each declaration's AST is built as soon as it is parsed (see AttnParser.onDeclaration); a round
    // given up on (below) keeps none of them, as when the AST was built from the finished tree.
    const found: Decl[] = [];
    const treeDiagnostics: Diagnostic[] = [];
    const built = new WeakSet<CstNode>();
    const build = (node: CstNode) => {
      built.add(node);
      const decl = buildDeclaration(node, file, tokens, treeDiagnostics);
      if (decl) found.push(decl);
    };
    parser.onDeclaration = build;
    try {
      const cst = parser.file();
      // A declaration that failed (a '{' never closed) returns no node to the rule that repeats
      // declarations: recovery hands the partial tree to the file rule. Build those here, in order.
      for (const declarations of cst.children['declarations'] ?? []) {
        for (const node of (declarations as CstNode).children['declaration'] ?? []) if (!built.has(node as CstNode)) build(node as CstNode);
      }
    } catch (e) {
      // Chevrotain recovers inside a repetition by recursing once per re-synchronisation, so
      // thousands of errors in one block can exhaust the stack. Give up on the rest of the file.
      if (!(e instanceof RangeError)) throw e;
      const errors = parser.errors.filter((x) => x.name !== 'NotAllInputParsedException');
      for (const x of errors) {
        const d = toDiagnostic(x, file, endSpan);
        if (d) diagnostics.push(d);
      }
      const last = errors[errors.length - 1]?.token;
      diagnostics.push(diag('TooManySyntaxErrors', tokenSpan(isRealToken(last) ? last : tokens[start]!, file)));
      break;
    } finally {
      parser.onDeclaration = undefined;
    }
    for (const d of treeDiagnostics) diagnostics.push(d);
    for (const d of found) decls.push(d);
    let junk: IToken | undefined;
    let lastErrorOffset = -1;
    for (const e of parser.errors) {
      if (e.name === 'NotAllInputParsedException') { junk = e.token; continue; }
      const d = toDiagnostic(e, file, endSpan);
      if (d) diagnostics.push(d);
      if (isRealToken(e.token)) lastErrorOffset = Math.max(lastErrorOffset, e.token.startOffset);
    }
    if (!junk || !isRealToken(junk)) break;
    const junkIndex = tokens.indexOf(junk, start);
    if (junkIndex < 0) break; // cannot happen: the junk token came from this very array
    // Junk right after a declaration that already had an error is most likely the rest of that
    // declaration; one error for it is enough.
    const lastDecl = found[found.length - 1];
    if (!(lastDecl && lastErrorOffset >= lastDecl.span.offset)) {
      const hint = junk.tokenType === RBrace ? "this '}' closes no block; remove it" : undefined;
      diagnostics.push(diag('ExpectedDeclaration', tokenSpan(junk, file), [describeToken(junk)], hint));
    }
    start = skipJunk(tokens, junkIndex);
  }

  const ast: SourceFile = { path: file, text, decls };
  attachComments(ast, lexed.comments);
  return { ast, diagnostics: dedupe(sortDiagnostics(diagnostics)) };
}

/**
 * The tokens without what nests deeper than MAX_NESTING (reported once). Braces and parentheses
 * count alike, and a closer that matches nothing is kept for the parser to report.
 */
function limitNesting(tokens: IToken[], file: string, diagnostics: Diagnostic[]): IToken[] {
  let depth = 0;
  let kept: IToken[] | undefined;
  tokens.forEach((t, i) => {
    const opens = t.tokenType === LBrace || t.tokenType === LParen;
    const closes = t.tokenType === RBrace || t.tokenType === RParen;
    if (opens) depth++;
    const tooDeep = depth > MAX_NESTING;
    if (closes) depth = Math.max(0, depth - 1);
    if (tooDeep && !kept) {
      kept = tokens.slice(0, i);
      diagnostics.push(diag('NestedTooDeeply', tokenSpan(t, file), [MAX_NESTING]));
    } else if (!tooDeep && kept) kept.push(t);
  });
  return kept ?? tokens;
}

/** The index after the junk that starts at `from`: the next declaration word outside any braces. */
function skipJunk(tokens: IToken[], from: number): number {
  let depth = 0;
  let i = from;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (i > from && depth === 0 && isDeclarationWord(t)) break;
    if (t.tokenType === LBrace) depth++;
    else if (t.tokenType === RBrace) depth = Math.max(0, depth - 1);
  }
  return i;
}

function toDiagnostic(e: IRecognitionException, file: string, endSpan: Span): Diagnostic | undefined {
  let info: ParseErrorInfo;
  try {
    info = JSON.parse(e.message) as ParseErrorInfo;
  } catch {
    info = { expected: 'something else', found: describeToken(e.token) };
  }
  // A block still open at the end of the file is reported at its '{' (AT1005) by the AST builder.
  if (info.expectedToken === 'RBrace' && e.token.tokenType === EOF) return undefined;
  const span = isRealToken(e.token) ? tokenSpan(e.token, file) : endSpan;
  return diag('UnexpectedToken', span, [info.expected, info.found]);
}

/** Recovery can report two syntax errors at one token; the first says it. */
function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<number>();
  return diagnostics.filter((d) => {
    if (d.code !== 'AT1003' && d.code !== 'AT1004') return true;
    const at = d.span?.offset ?? -1;
    if (seen.has(at)) return false;
    seen.add(at);
    return true;
  });
}

// --- comments ---------------------------------------------------------------------------------
// Comments are not in the token stream; they are attached to the nodes afterwards, by position:
// leading (on the lines before a node), trailing (after a node, on its last line), opening (on a
// block's '{' line) and dangling (after the last node of a block or file). A comment inside a field
// (say, within a multi-line call) joins that field's leading comments, as the formatter prints a
// field on one line.

class CommentQueue {
  private next = 0;
  constructor(private readonly comments: Comment[]) {}

  /** Takes the comments that start before `offset`. */
  takeBefore(offset: number): Comment[] {
    const taken: Comment[] = [];
    while (this.next < this.comments.length && this.comments[this.next]!.span.offset < offset) taken.push(this.comments[this.next++]!);
    return taken;
  }

  /** Takes the next comment if it is on `line`, at or after `from` and before `limit`. */
  takeOnLine(line: number, from: number, limit: number): Comment | undefined {
    const c = this.comments[this.next];
    if (c && c.span.line === line && c.span.offset >= from && c.span.offset < limit) { this.next++; return c; }
    return undefined;
  }

  rest(): Comment[] {
    return this.takeBefore(Infinity);
  }
}

function attachComments(ast: SourceFile, comments: Comment[]): void {
  if (comments.length === 0) return;
  const queue = new CommentQueue(comments);
  ast.decls.forEach((decl, i) => {
    const limit = ast.decls[i + 1]?.span.offset ?? Infinity;
    const leading = queue.takeBefore(decl.span.offset);
    if (decl.kind !== 'import') {
      for (const c of queue.takeBefore(decl.body.span.offset)) leading.push(c); // comments inside the header
      attachBlock(decl.body, queue);
    }
    if (leading.length > 0) decl.leadingComments = leading;
    const trailing = queue.takeOnLine(decl.span.endLine, decl.span.endOffset, limit);
    if (trailing) decl.trailingComment = trailing;
  });
  const dangling = queue.rest();
  if (dangling.length > 0) ast.danglingComments = dangling;
}

function attachBlock(block: Block, queue: CommentQueue): void {
  const close = block.span.endOffset;
  const opening = queue.takeOnLine(block.span.line, block.span.offset, block.fields[0]?.span.offset ?? close);
  if (opening) block.openingComment = opening;
  block.fields.forEach((field, i) => attachField(field, queue, block.fields[i + 1]?.span.offset ?? close));
  const dangling = queue.takeBefore(close);
  if (dangling.length > 0) block.danglingComments = dangling;
}

function attachField(field: Field, queue: CommentQueue, limit: number): void {
  const leading = queue.takeBefore(field.span.offset);
  if (field.block) {
    for (const c of queue.takeBefore(field.block.span.offset)) leading.push(c);
    attachBlock(field.block, queue);
  } else {
    for (const c of queue.takeBefore(field.span.endOffset)) leading.push(c);
  }
  if (leading.length > 0) field.leadingComments = leading;
  const trailing = queue.takeOnLine(field.span.endLine, field.span.endOffset, limit);
  if (trailing) field.trailingComment = trailing;
}
