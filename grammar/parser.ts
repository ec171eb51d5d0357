// The .attn grammar as a Chevrotain CST parser (see docs/grammar.md for the grammar in EBNF).
//
// The language is line-sensitive in one place only: a field's values run until the end of its line
// (a token on a later line than the previous token ends them), a '{', a '}', or a field word on the
// same line. That rule lives in one gate, `valuesContinue`; inside parentheses values are parsed by
// `args`, which has no such gate, so newlines there are free and field words are plain names.
//
// Error recovery is Chevrotain's (single-token insertion and deletion, re-synchronisation, and
// recovery inside repetitions). Top-level junk is not left to it: the file rule only parses
// declarations and stops at anything else, and grammar/index.ts skips the junk and parses on.
import { CstParser, EOF, tokenMatcher, type CstNode, type IParserErrorMessageProvider, type IToken, type TokenType } from './chevrotain.js';
import { DECLARATION_WORDS, FIELD_WORDS, UNIT_WORDS } from './keywords.js';
import {
  allTokens, Colon, Comma, DimsLiteral, describeToken, describeTokenType, Identifier, LBrace, LParen, NumberLiteral,
  RangeLiteral, RatioLiteral, RBrace, RParen, StringLiteral,
} from './lexer.js';

const declarationWords = new Set<string>(DECLARATION_WORDS);
const fieldWords = new Set<string>(FIELD_WORDS);
const unitWords = new Set<string>(UNIT_WORDS);

/** What a parse error carries from the message provider to grammar/index.ts: JSON of this shape. */
export interface ParseErrorInfo {
  expected: string;
  found: string;
  /** The expected token type's name, when one token type was expected. */
  expectedToken?: string;
}

function encode(info: ParseErrorInfo): string {
  return JSON.stringify(info);
}

/** "expected X": a token type's readable name, refined where the rule makes a better one obvious. */
function expectedText(expected: TokenType, ruleName: string, previous: IToken | undefined): string {
  if (expected === RBrace && ruleName === 'block') return "a field or '}'";
  if (expected === RParen && ruleName === 'wordOrCall') return previous?.tokenType === LParen ? "an argument or ')'" : "',' or ')'";
  return describeTokenType(expected);
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous, ruleName }) {
    return encode({ expected: expectedText(expected, ruleName, previous), found: describeToken(actual), expectedToken: expected.name });
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return encode({ expected: 'end of file', found: describeToken(firstRedundant) });
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const expected = ruleName === 'value' ? 'a value' : firstTokenNames(expectedPathsPerAlt.flat());
    return encode({ expected, found: describeToken(actual[0]!) });
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual }) {
    return encode({ expected: firstTokenNames(expectedIterationPaths), found: describeToken(actual[0]!) });
  },
};

function firstTokenNames(paths: TokenType[][]): string {
  const names = [...new Set(paths.map((p) => describeTokenType(p[0] ?? EOF)))];
  return names.length <= 1 ? (names[0] ?? 'end of file') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

const isWord = (token: IToken, words: Set<string>): boolean => token.tokenType === Identifier && words.has(token.image);

export class AttnParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 3 });
    this.performSelfAnalysis();
  }

  // The file rule only delegates: Chevrotain attempts recovery inside a repetition of the top-most
  // rule (skipping tokens one by one up to the next declaration word, even inside braces); one level
  // down it does not, and grammar/index.ts skips top-level junk a block at a time instead.
  file = this.RULE('file', () => {
    this.SUBRULE(this.declarations);
  });

  /**
   * Called with each declaration's CST as soon as it is parsed: grammar/index.ts builds its AST there
   * and then, and the node's children are dropped, so the CST of a large file dies young instead of
   * the whole tree living (and being copied by the garbage collector) until the end of the parse.
   */
  onDeclaration: ((node: CstNode) => void) | undefined;

  declarations = this.RULE('declarations', () => {
    this.MANY({
      GATE: () => isWord(this.LA(1), declarationWords),
      DEF: () => {
        const node = this.SUBRULE(this.declaration);
        this.ACTION(() => {
          if (!this.onDeclaration) return;
          this.onDeclaration(node);
          (node as { children: CstNode['children'] }).children = {};
        });
      },
    });
  });

  declaration = this.RULE('declaration', () => {
    // Every alternative starts with a name; the gates pick by its text, and looking further ahead
    // would only let a broken declaration (`import vit`) fail to be recognised at all.
    this.OR({
      IGNORE_AMBIGUITIES: true,
      MAX_LOOKAHEAD: 1,
      DEF: [
        { GATE: () => this.nextIs('import'), ALT: () => this.SUBRULE(this.importDecl) },
        { GATE: () => this.nextIs('model'), ALT: () => this.SUBRULE(this.modelDecl) },
        { ALT: () => this.SUBRULE(this.runDecl) },
      ],
    });
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(Identifier, { LABEL: 'keyword' });
    this.CONSUME(StringLiteral, { LABEL: 'path' });
  });

  // Names are optional in the grammar so that a missing one (`model {`, `model extends base {`) is
  // reported by the visitor at the right token without recovery inventing a token; `extends` right
  // after `model` is the keyword unless another `extends` or a `{` follows it (`model extends extends
  // base` and `model extends {` name a model 'extends': it is an ordinary word).
  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(Identifier, { LABEL: 'keyword' });
    this.OPTION({ GATE: () => !this.nextIs('extends') || this.nextIs('extends', 2) || this.LA(2).tokenType === LBrace, MAX_LOOKAHEAD: 1, DEF: () => this.CONSUME2(Identifier, { LABEL: 'name' }) });
    this.OPTION2({
      GATE: () => this.nextIs('extends'),
      MAX_LOOKAHEAD: 1,
      DEF: () => {
        this.CONSUME3(Identifier, { LABEL: 'extendsKeyword' });
        this.OPTION3({ MAX_LOOKAHEAD: 1, DEF: () => this.CONSUME4(Identifier, { LABEL: 'base' }) });
      },
    });
    this.SUBRULE(this.block);
  });

  runDecl = this.RULE('runDecl', () => {
    this.CONSUME(Identifier, { LABEL: 'keyword' });
    this.OPTION({ MAX_LOOKAHEAD: 1, DEF: () => this.CONSUME2(Identifier, { LABEL: 'name' }) });
    this.SUBRULE(this.block);
  });

  block = this.RULE('block', () => {
    this.CONSUME(LBrace, { LABEL: 'open' });
    this.MANY(() => this.SUBRULE(this.field));
    this.CONSUME(RBrace, { LABEL: 'close' });
  });

  field = this.RULE('field', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.OPTION({
      GATE: () => this.valuesContinue(),
      DEF: () => {
        this.SUBRULE(this.value);
        this.MANY({
          GATE: () => this.valuesContinue(),
          DEF: () => {
            this.OPTION2(() => this.CONSUME(Comma, { LABEL: 'comma' }));
            this.SUBRULE2(this.value);
          },
        });
      },
    });
    this.OPTION3(() => this.SUBRULE(this.block));
  });

  value = this.RULE('value', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.numeric) },
      { ALT: () => this.CONSUME(RatioLiteral, { LABEL: 'ratio' }) },
      { ALT: () => this.CONSUME(RangeLiteral, { LABEL: 'range' }) },
      { ALT: () => this.CONSUME(StringLiteral, { LABEL: 'string' }) },
      { ALT: () => this.SUBRULE(this.wordOrCall) },
    ]);
  });

  // A number with an optional unit (`300 steps`), or dimensions: parts joined by the word x on one
  // line (`28 x 28 x 1`), where a part may itself be written joined (`28x28`).
  numeric = this.RULE('numeric', () => {
    const first = this.OR([
      { ALT: () => this.CONSUME(NumberLiteral, { LABEL: 'part' }) },
      { ALT: () => this.CONSUME(DimsLiteral, { LABEL: 'part' }) },
    ]);
    let isDims = first.tokenType === DimsLiteral;
    this.MANY({
      GATE: () => this.dimsContinue(),
      MAX_LOOKAHEAD: 1,
      DEF: () => {
        this.CONSUME(Identifier, { LABEL: 'times' });
        this.OR2([
          { ALT: () => this.CONSUME2(NumberLiteral, { LABEL: 'part' }) },
          { ALT: () => this.CONSUME2(DimsLiteral, { LABEL: 'part' }) },
        ]);
        isDims = true;
      },
    });
    this.OPTION({ GATE: () => !isDims && this.unitFollows(), MAX_LOOKAHEAD: 1, DEF: () => this.CONSUME2(Identifier, { LABEL: 'unit' }) });
  });

  wordOrCall = this.RULE('wordOrCall', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(LParen, { LABEL: 'open' });
      this.OPTION2(() => this.SUBRULE(this.args));
      this.CONSUME(RParen, { LABEL: 'close' });
    });
  });

  args = this.RULE('args', () => {
    this.SUBRULE(this.arg);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.SUBRULE2(this.arg);
    });
    this.OPTION(() => this.CONSUME2(Comma));
  });

  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(Identifier, { LABEL: 'name' });
      this.CONSUME(Colon);
    });
    this.SUBRULE(this.value);
  });

  /**
   * Chevrotain recovers a missing token by inventing it when the token after it may follow; when the
   * expected token is right behind one stray token, deleting that token says what happened better
   * (`adamw(lr: 1 2)`: '2' is extra, not a ')' missing before it).
   */
  override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return !tokenMatcher(this.LA(2), tokType);
  }

  /**
   * Makes the next parse of the current input start at token `index`: Chevrotain's lexer state is
   * the index of the last consumed token (what backtracking saves and restores). Set after `input`.
   */
  startAt(index: number): void {
    (this as unknown as { importLexerState(state: number): void }).importLexerState(index - 1);
  }

  private nextIs(word: string, ahead = 1): boolean {
    const next = this.LA(ahead);
    return next.tokenType === Identifier && next.image === word;
  }

  /** Whether the next token may continue the current field's values (see the header comment). */
  private valuesContinue(): boolean {
    const next = this.LA(1);
    const previous = this.LA(0);
    if (next.tokenType === EOF) return false;
    if (previous.tokenType === Comma) return true; // after a comma a value must follow, on any line
    if (next.startLine! > previous.endLine!) return false;
    return !isWord(next, fieldWords);
  }

  /** `x` then a number, all on the previous token's line. */
  private dimsContinue(): boolean {
    const times = this.LA(1);
    const part = this.LA(2);
    return times.tokenType === Identifier && times.image === 'x' && times.startLine === this.LA(0).endLine
      && (tokenMatcher(part, NumberLiteral) || part.tokenType === DimsLiteral) && part.startLine === times.endLine;
  }

  private unitFollows(): boolean {
    const next = this.LA(1);
    return isWord(next, unitWords) && next.startLine === this.LA(0).endLine;
  }
}

/** One parser for the process: building it runs Chevrotain's grammar analysis, which is slow. */
export const parser = new AttnParser();
