// Turns the parser's concrete syntax tree into the plain AST of grammar/ast.ts.
//
// After error recovery the CST may be partial: a rule that failed keeps the children it had, and a
// token Chevrotain inserted to recover has no position. The builder therefore takes positions only
// from real tokens, skips values that never parsed, and reports here the errors that are easiest to
// see on the tree: a name left out after `model`/`train`/`extends`, a '{' never closed, and
// dimensions that are not whole numbers.
import type { CstElement, CstNode, IToken } from './chevrotain.js';
import { unescapeString, type Arg, type Block, type CallValue, type Decl, type Field, type ImportDecl, type ModelDecl, type RunDecl, type Value } from './ast.js';
import type { Span } from '../core/span.js';
import { diag, type Diagnostic } from '../core/diagnostics.js';
import { BadNumber, DimsLiteral, describeToken, isRealToken, spanAfter, StringLiteral, tokenSpan } from './lexer.js';
import { parser } from './parser.js';

type Children = Record<string, CstElement[] | undefined>;

const tokensOf = (ctx: Children, key: string): IToken[] => (ctx[key] ?? []) as IToken[];
const tokenOf = (ctx: Children, key: string): IToken | undefined => tokensOf(ctx, key)[0];
const nodesOf = (ctx: Children, key: string): CstNode[] => (ctx[key] ?? []) as CstNode[];
const nodeOf = (ctx: Children, key: string): CstNode | undefined => nodesOf(ctx, key)[0];

/** The span from the start of `from` to the end of `to`. */
export function cover(from: Span, to: Span): Span {
  return { file: from.file, line: from.line, col: from.col, endLine: to.endLine, endCol: to.endCol, offset: from.offset, endOffset: to.endOffset };
}

/** Decodes a string literal's text: `\"` and `\\` are escapes; any other backslash is kept as written. */
export function decodeString(token: IToken): string {
  const inner = token.tokenType === StringLiteral ? token.image.slice(1, -1) : token.image.slice(1);
  return unescapeString(inner);
}

/** A terminated string literal's text as written (undefined for an unterminated one). */
function literalText(token: IToken): string | undefined {
  return token.tokenType === StringLiteral ? token.image : undefined;
}

interface BuildState {
  file: string;
  /** Every token of the file, in order, to name the token that follows a missing one. */
  tokens: IToken[];
  diagnostics: Diagnostic[];
}

const BaseVisitor = parser.getBaseCstVisitorConstructor();

class AstBuilder extends BaseVisitor {
  private state: BuildState = { file: '', tokens: [], diagnostics: [] };

  constructor() {
    super();
    this.validateVisitor();
  }

  build(cst: CstNode, state: BuildState): Decl[] {
    this.state = state;
    return this.visit(cst) as Decl[];
  }

  buildOne(declaration: CstNode, state: BuildState): Decl | undefined {
    this.state = state;
    return this.visit(declaration) as Decl | undefined;
  }

  file(ctx: Children): Decl[] {
    const declarations = nodeOf(ctx, 'declarations');
    return declarations ? (this.visit(declarations) as Decl[]) : [];
  }

  /** Declarations whose name is missing are dropped: nothing can refer to them, and checking their bodies would only add noise to the syntax error. */
  declarations(ctx: Children): Decl[] {
    return nodesOf(ctx, 'declaration').map((n) => this.visit(n) as Decl | undefined).filter((d): d is Decl => d !== undefined);
  }

  declaration(ctx: Children): Decl | undefined {
    const node = nodeOf(ctx, 'importDecl') ?? nodeOf(ctx, 'modelDecl') ?? nodeOf(ctx, 'runDecl');
    return node ? (this.visit(node) as Decl | undefined) : undefined;
  }

  /** An import whose path is missing is dropped: there is nothing to import, and the parser said so. */
  importDecl(ctx: Children): ImportDecl | undefined {
    const keyword = tokenOf(ctx, 'keyword')!;
    const path = tokenOf(ctx, 'path');
    if (!isRealToken(path)) return undefined;
    const pathSpan = this.span(path);
    return { kind: 'import', path: decodeString(path), pathText: literalText(path), pathSpan, span: cover(this.span(keyword), pathSpan) };
  }

  modelDecl(ctx: Children): ModelDecl | undefined {
    const keyword = tokenOf(ctx, 'keyword')!;
    const name = tokenOf(ctx, 'name');
    const extendsKeyword = tokenOf(ctx, 'extendsKeyword');
    const base = tokenOf(ctx, 'base');
    if (!name) this.reportMissing('a name', keyword);
    if (extendsKeyword && !base) this.reportMissing('a name', extendsKeyword);
    const header = base ?? extendsKeyword ?? name ?? keyword;
    const body = this.body(ctx, header);
    if (!name) return undefined;
    const decl: ModelDecl = {
      kind: 'model', name: name.image, nameSpan: this.span(name), body, span: cover(this.span(keyword), this.endOf(body.span, header)),
    };
    // A missing base keeps `extends` with an empty name, so the model is not checked as if it stood alone.
    if (extendsKeyword) decl.extends = base ? { name: base.image, span: this.span(base) } : { name: '', span: spanAfter(extendsKeyword, this.state.file) };
    return decl;
  }

  runDecl(ctx: Children): RunDecl | undefined {
    const keyword = tokenOf(ctx, 'keyword')!;
    const name = tokenOf(ctx, 'name');
    if (!name) this.reportMissing('a name', keyword);
    const body = this.body(ctx, name ?? keyword);
    if (!name) return undefined;
    return {
      kind: keyword.image === 'train' ? 'train' : 'experiment', name: name.image, nameSpan: this.span(name), body,
      span: cover(this.span(keyword), this.endOf(body.span, name)),
    };
  }

  /** `anchor` places an empty block whose '{' is missing: just after the token before it. */
  block(ctx: Children, anchor: Span): Block {
    const open = tokenOf(ctx, 'open');
    const close = tokenOf(ctx, 'close');
    const fields = nodesOf(ctx, 'field').map((n) => this.visit(n) as Field);
    if (isRealToken(open) && !isRealToken(close)) this.state.diagnostics.push(diag('UnclosedBlock', this.span(open)));
    const first = isRealToken(open) ? this.span(open) : (fields[0]?.span ?? anchor);
    const last = isRealToken(close) ? this.span(close) : (fields[fields.length - 1]?.span ?? first);
    return { fields, span: cover(first, last) };
  }

  field(ctx: Children): Field {
    const name = tokenOf(ctx, 'name')!;
    const nameSpan = this.span(name);
    const values = nodesOf(ctx, 'value').map((n) => this.visit(n) as Value | undefined).filter((v): v is Value => v !== undefined);
    const blockNode = nodeOf(ctx, 'block');
    const lastValue = values[values.length - 1];
    const block = blockNode ? (this.visit(blockNode, spanAfter(name, this.state.file)) as Block) : undefined;
    const field: Field = { kind: 'field', name: name.image, nameSpan, values, span: cover(nameSpan, block?.span ?? lastValue?.span ?? nameSpan) };
    if (tokensOf(ctx, 'comma').length > 0) field.commaSeparated = true;
    if (block) field.block = block;
    return field;
  }

  value(ctx: Children): Value | undefined {
    const numeric = nodeOf(ctx, 'numeric');
    if (numeric) return this.visit(numeric) as Value;
    const call = nodeOf(ctx, 'wordOrCall');
    if (call) return this.visit(call) as Value;
    const ratio = tokenOf(ctx, 'ratio');
    if (ratio) return { kind: 'ratio', value: Number(ratio.image.slice(0, -1)), text: ratio.image, span: this.span(ratio) };
    const range = tokenOf(ctx, 'range');
    if (range) {
      const [from, to] = range.image.split('..').map((n) => Number(n) + 0); // + 0 turns -0 into 0
      return { kind: 'range', from: from!, to: to!, span: this.span(range) };
    }
    const string = tokenOf(ctx, 'string');
    if (string) return { kind: 'string', value: decodeString(string), text: literalText(string), span: this.span(string) };
    return undefined; // a value that failed to parse; the parser reported it
  }

  numeric(ctx: Children): Value {
    const parts = tokensOf(ctx, 'part');
    const unit = tokenOf(ctx, 'unit');
    const first = parts[0]!;
    const span = cover(this.span(first), this.span(unit ?? parts[parts.length - 1]!));
    if (parts.length === 1 && first.tokenType !== DimsLiteral) {
      const value = first.tokenType === BadNumber ? NaN : Number(first.image);
      const number: Value = { kind: 'number', value, text: first.image, span };
      if (unit) number.unit = unit.image;
      return number;
    }
    // A malformed part was already reported as a bad number; anything else not a whole number is here.
    const badPart = parts.some((p) => p.tokenType !== BadNumber && !/^\d+(x\d+)*$/.test(p.image));
    if (badPart) this.state.diagnostics.push(diag('BadDims', span));
    return { kind: 'dims', values: parts.flatMap((p) => p.image.split('x').map(Number)), span };
  }

  wordOrCall(ctx: Children): Value {
    const name = tokenOf(ctx, 'name')!;
    const nameSpan = this.span(name);
    const open = tokenOf(ctx, 'open');
    if (!open) return { kind: 'ident', name: name.image, span: nameSpan };
    const argsNode = nodeOf(ctx, 'args');
    const args = argsNode ? (this.visit(argsNode) as Arg[]) : [];
    const close = tokenOf(ctx, 'close');
    const end = isRealToken(close) ? this.span(close) : (args[args.length - 1]?.span ?? this.span(open));
    const call: CallValue = { kind: 'call', name: name.image, nameSpan, args, span: cover(nameSpan, end) };
    return call;
  }

  args(ctx: Children): Arg[] {
    return nodesOf(ctx, 'arg').map((n) => this.visit(n) as Arg | undefined).filter((a): a is Arg => a !== undefined);
  }

  arg(ctx: Children): Arg | undefined {
    const valueNode = nodeOf(ctx, 'value');
    const value = valueNode ? (this.visit(valueNode) as Value | undefined) : undefined;
    if (!value) return undefined;
    const name = tokenOf(ctx, 'name');
    if (!name) return { value, span: value.span };
    const nameSpan = this.span(name);
    return { name: name.image, nameSpan, value, span: cover(nameSpan, value.span) };
  }

  private span(token: IToken): Span {
    return tokenSpan(token, this.state.file);
  }

  private body(ctx: Children, header: IToken): Block {
    const node = nodeOf(ctx, 'block');
    const anchor = spanAfter(header, this.state.file);
    return node ? (this.visit(node, anchor) as Block) : { fields: [], span: anchor };
  }

  /** The end of a declaration: its body's end, unless the body is only a placeholder before the header ends. */
  private endOf(body: Span, header: IToken): Span {
    const headerSpan = this.span(header);
    return body.endOffset >= headerSpan.endOffset ? body : headerSpan;
  }

  /** "expected a name but found X", at the token after `after` (or at the end of the file). */
  private reportMissing(what: string, after: IToken): void {
    const next = this.tokenAfter(after);
    const span = next ? this.span(next) : spanAfter(this.state.tokens[this.state.tokens.length - 1] ?? after, this.state.file);
    this.state.diagnostics.push(diag('UnexpectedToken', span, [what, next ? describeToken(next) : 'end of file']));
  }

  private tokenAfter(token: IToken): IToken | undefined {
    const tokens = this.state.tokens;
    let lo = 0;
    let hi = tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tokens[mid]!.startOffset <= token.startOffset) lo = mid + 1;
      else hi = mid;
    }
    return tokens[lo];
  }
}

const builder = new AstBuilder();

/** The declarations of one parsed stretch of the file; `diagnostics` receives the errors found on the tree. */
export function buildDeclarations(cst: CstNode, file: string, tokens: IToken[], diagnostics: Diagnostic[]): Decl[] {
  return builder.build(cst, { file, tokens, diagnostics });
}

/** One declaration's AST from its CST node (undefined when its name is missing); `diagnostics` receives the errors found on the tree. */
export function buildDeclaration(node: CstNode, file: string, tokens: IToken[], diagnostics: Diagnostic[]): Decl | undefined {
  return builder.buildOne(node, { file, tokens, diagnostics });
}
