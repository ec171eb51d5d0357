// The tokens of the .attn language and the lexer that produces them.
//
// Every word is an Identifier: `model`, `extends`, `x` and the field words are told apart by the
// parser from their text and position. Keeping them one token type matters for error recovery: when
// Chevrotain re-synchronises after an error it looks for the next token that may follow the rules on
// its stack, and a separate `model` token type would make it abandon the current block at a `model`
// field inside a train block.
//
// Numeric literals (`42`, `1e-3`, `4x`, `28x28x1`, `0..5`) are scanned as one run of characters and
// then classified, so `0..5` never splits into `0.` and `.5`, and `300steps` is one bad number
// rather than a number followed by a word.
import { createToken, EOF, Lexer, type IToken, type TokenType } from './chevrotain.js';
import type { Comment } from './ast.js';
import type { Span } from '../core/span.js';
import { diag, type Diagnostic } from '../core/diagnostics.js';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED, line_breaks: true });
export const CommentToken = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: 'comments' });
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*"/ });
/** A string that reaches the end of its line: reported, then parsed as a string so the rest parses. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*\\?/, categories: [StringLiteral],
});
export const LBrace = createToken({ name: 'LBrace', pattern: '{' });
export const RBrace = createToken({ name: 'RBrace', pattern: '}' });
export const LParen = createToken({ name: 'LParen', pattern: '(' });
export const RParen = createToken({ name: 'RParen', pattern: ')' });
export const Comma = createToken({ name: 'Comma', pattern: ',' });
export const Colon = createToken({ name: 'Colon', pattern: ':' });
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

type NumericKind = 'number' | 'ratio' | 'dims' | 'range' | 'bad';

/** Decides what a numeric run is; a literal whose value is not a finite number is 'bad'. */
export function classifyNumeric(run: string): NumericKind {
  if (/^\d{1,15}$/.test(run)) return 'number'; // the common case, decided at once
  if (/^-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(run)) return Number.isFinite(Number(run)) ? 'number' : 'bad';
  if (/^-?(?:\d+(?:\.\d+)?|\.\d+)x$/.test(run)) return Number.isFinite(Number(run.slice(0, -1))) ? 'ratio' : 'bad';
  if (/^\d+(?:x\d+)+$/.test(run)) return run.split('x').every((p) => Number.isSafeInteger(Number(p))) ? 'dims' : 'bad';
  if (/^-?\d+\.\.-?\d+$/.test(run)) return run.split('..').every((p) => Number.isSafeInteger(Number(p))) ? 'range' : 'bad';
  return 'bad';
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isWordChar = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c === '_';

/**
 * The numeric run starting at `offset`, or '' when none starts there. A run starts with a digit, or
 * with '-' or '.' before a digit, and takes in word characters, single dots, `..` (followed by an
 * optional '-'), and a sign right after an exponent's 'e'.
 */
export function scanNumericRun(text: string, offset: number): string {
  let i = offset;
  if (text[i] === '-') i++;
  if (!(isDigit(text[i]) || (text[i] === '.' && isDigit(text[i + 1])))) return '';
  while (i < text.length) {
    const c = text[i]!;
    if (isWordChar(c)) i++;
    else if (c === '.' && text[i + 1] === '.') i += text[i + 2] === '-' ? 3 : 2;
    else if (c === '.') i++;
    else if ((c === '+' || c === '-') && (text[i - 1] === 'e' || text[i - 1] === 'E') && isDigit(text[i + 1])) i++;
    else break;
  }
  return text.slice(offset, i);
}

// The lexer tries the numeric token types one after another at the same offset; remembering the last
// scan keeps that to one scan per literal.
let lastScan = { text: '', offset: -1, run: '', kind: 'bad' as NumericKind };
function numericMatcher(kind: NumericKind) {
  return (text: string, offset: number): [string] | null => {
    if (lastScan.text !== text || lastScan.offset !== offset) {
      const run = scanNumericRun(text, offset);
      lastScan = { text, offset, run, kind: run ? classifyNumeric(run) : 'bad' };
    }
    return lastScan.run !== '' && lastScan.kind === kind ? [lastScan.run] : null;
  };
}
const numericStart = ['-', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
function numericToken(name: string, kind: NumericKind, categories: TokenType[] = []): TokenType {
  return createToken({ name, pattern: numericMatcher(kind), start_chars_hint: numericStart, line_breaks: false, categories });
}

export const NumberLiteral = numericToken('NumberLiteral', 'number');
/** A malformed numeric literal: reported by the lexer, then parsed as a number so the rest parses. */
export const BadNumber = numericToken('BadNumber', 'bad', [NumberLiteral]);
export const RatioLiteral = numericToken('RatioLiteral', 'ratio');
export const DimsLiteral = numericToken('DimsLiteral', 'dims');
export const RangeLiteral = numericToken('RangeLiteral', 'range');

export const allTokens: TokenType[] = [
  WhiteSpace, CommentToken, StringLiteral, UnterminatedString, LBrace, RBrace, LParen, RParen, Comma, Colon,
  NumberLiteral, RatioLiteral, DimsLiteral, RangeLiteral, BadNumber, Identifier,
];

const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: true });

/** How a token type is named in "expected X" messages. */
const TOKEN_TYPE_NAMES: Record<string, string> = {
  Identifier: 'a name', StringLiteral: 'a string', UnterminatedString: 'a string', NumberLiteral: 'a number',
  BadNumber: 'a number', RatioLiteral: 'a ratio', DimsLiteral: 'dimensions', RangeLiteral: 'a range',
  LBrace: "'{'", RBrace: "'}'", LParen: "'('", RParen: "')'", Comma: "','", Colon: "':'", EOF: 'end of file',
};

export function describeTokenType(type: TokenType): string {
  return TOKEN_TYPE_NAMES[type.name] ?? type.name;
}

/** How a token found in the input is named in "but found Y" messages: its text, quoted and shortened. */
export function describeToken(token: IToken): string {
  if (token.tokenType === EOF) return 'end of file';
  const image = token.image.length > 24 ? `${token.image.slice(0, 21)}...` : token.image;
  return `'${image}'`;
}

export function isRealToken(token: IToken | undefined): token is IToken {
  return token !== undefined && token.tokenType !== EOF && !token.isInsertedInRecovery && !Number.isNaN(token.startOffset);
}

export function tokenSpan(token: IToken, file: string): Span {
  return {
    file, line: token.startLine!, col: token.startColumn!, endLine: token.endLine!, endCol: token.endColumn! + 1,
    offset: token.startOffset, endOffset: token.endOffset! + 1,
  };
}

/** A zero-width span just after `token`: where something missing after it was expected. */
export function spanAfter(token: IToken, file: string): Span {
  const s = tokenSpan(token, file);
  return { ...s, line: s.endLine, col: s.endCol, offset: s.endOffset };
}

/** A printable rendering of one character for "unexpected character 'c'". */
function showCharacter(text: string, offset: number): string {
  const ch = String.fromCodePoint(text.codePointAt(offset)!);
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase()}}`;
}

/** Line and column (1-based) of a character offset, for lexer errors. */
function positionSpan(file: string, offset: number, length: number, line: number, col: number): Span {
  return { file, line, col, endLine: line, endCol: col + length, offset, endOffset: offset + length };
}

export interface LexResult {
  tokens: IToken[];
  comments: Comment[];
  diagnostics: Diagnostic[];
}

export function lex(text: string, file: string): LexResult {
  const result = lexer.tokenize(text);
  const diagnostics: Diagnostic[] = [];
  for (const e of result.errors) {
    // Chevrotain reports a run of unknown characters as one error; the run never spans a line break
    // because whitespace always lexes.
    const span = positionSpan(file, e.offset, e.length, e.line ?? 1, e.column ?? 1);
    diagnostics.push(diag('UnexpectedCharacter', span, [showCharacter(text, e.offset)]));
  }
  for (const token of result.tokens) {
    if (token.tokenType === UnterminatedString) diagnostics.push(diag('UnterminatedString', tokenSpan(token, file)));
    else if (token.tokenType === BadNumber) diagnostics.push(diag('BadNumber', tokenSpan(token, file), [token.image]));
  }
  const comments = (result.groups['comments'] ?? []).map((t): Comment => {
    const trimmed = t.image.trimEnd();
    const span = tokenSpan(t, file);
    return { text: trimmed, span: { ...span, endCol: span.col + trimmed.length, endOffset: span.offset + trimmed.length } };
  });
  return { tokens: result.tokens, comments, diagnostics };
}
