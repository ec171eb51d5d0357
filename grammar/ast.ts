// The plain AST of a .attn file: what the parser's visitor builds and every later stage reads.
//
// The language has a deliberately small syntax: a file is a list of declarations (import, model,
// train, experiment); a declaration's body is a block of *fields*; a field is a name, zero or more
// values and an optional nested block. Which fields exist, what values they take and what they mean
// is not grammar: it lives in compiler/schema.ts, so the parser stays small and recovers well, and
// "unknown field, did you mean ..." is a check, not a parse error.

import type { Span } from '../core/span.js';

export type Value =
  | NumberValue
  | RatioValue
  | DimsValue
  | RangeValue
  | StringValue
  | IdentValue
  | CallValue;

/** `300`, `1e-3`, `0.9`, `300 steps`: a number with an optional unit word. */
export interface NumberValue {
  kind: 'number';
  value: number;
  /** The literal as written, for diagnostics and the formatter (`1e-3` stays `1e-3`). */
  text: string;
  unit?: string;
  span: Span;
}

/** `4x`: a multiple, as in `mlp 4x`. */
export interface RatioValue {
  kind: 'ratio';
  value: number;
  text: string;
  span: Span;
}

/** `28 x 28 x 1`: two or more integers joined by `x`. */
export interface DimsValue {
  kind: 'dims';
  values: number[];
  span: Span;
}

/** `0..5`: an inclusive range of integers. */
export interface RangeValue {
  kind: 'range';
  from: number;
  to: number;
  span: Span;
}

export interface StringValue {
  kind: 'string';
  value: string;
  /** The literal as written, quotes and escapes included (absent in ASTs built by hand). */
  text?: string;
  span: Span;
}

/** A bare word: `uniform`, `cls`, `true`, `mnist`. */
export interface IdentValue {
  kind: 'ident';
  name: string;
  span: Span;
}

/** `adamw(lr: 1e-3, weight_decay: 0.05)`, `ema(0.9)`: a word applied to arguments. */
export interface CallValue {
  kind: 'call';
  name: string;
  nameSpan: Span;
  args: Arg[];
  span: Span;
}

/** A call argument, named (`lr: 1e-3`) or positional (`0.9`). */
export interface Arg {
  name?: string;
  nameSpan?: Span;
  value: Value;
  span: Span;
}

export interface Comment {
  /** The comment as written, from its '#', without trailing whitespace. */
  text: string;
  span: Span;
}

export interface Field {
  kind: 'field';
  name: string;
  nameSpan: Span;
  values: Value[];
  /** True when the source separated the values with commas (`seeds 1, 2, 3`); the formatter keeps them. */
  commaSeparated?: boolean;
  block?: Block;
  span: Span;
  /** Comments on the lines above this field (after the previous node), and at the end of its line. */
  leadingComments?: Comment[];
  trailingComment?: Comment;
}

export interface Block {
  fields: Field[];
  span: Span;
  /** A comment on the line of the opening brace, before the first field: `model tiny { # note`. */
  openingComment?: Comment;
  /** Comments after the last field, before the closing brace. */
  danglingComments?: Comment[];
}

export interface ImportDecl {
  kind: 'import';
  path: string;
  /** The path's literal as written (absent in ASTs built by hand). */
  pathText?: string;
  pathSpan: Span;
  span: Span;
  leadingComments?: Comment[];
  trailingComment?: Comment;
}

export interface ModelDecl {
  kind: 'model';
  name: string;
  nameSpan: Span;
  extends?: { name: string; span: Span };
  body: Block;
  span: Span;
  leadingComments?: Comment[];
  trailingComment?: Comment;
}

/** `train NAME { ... }` and `experiment NAME { ... }` share one shape. */
export interface RunDecl {
  kind: 'train' | 'experiment';
  name: string;
  nameSpan: Span;
  body: Block;
  span: Span;
  leadingComments?: Comment[];
  trailingComment?: Comment;
}

export type Decl = ImportDecl | ModelDecl | RunDecl;

export interface SourceFile {
  path: string;
  text: string;
  decls: Decl[];
  /** Comments after the last declaration. */
  danglingComments?: Comment[];
}

/** The value of a string literal's text between its quotes: `\"` and `\\` are escapes; any other backslash is kept as written. */
export function unescapeString(inner: string): string {
  return inner.replace(/\\(["\\])/g, '$1');
}
