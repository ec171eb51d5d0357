// Chevrotain for a bundler (the playground, playground/vite.config.ts): the package's own entry point,
// which the bundler reduces to what the grammar uses. grammar/chevrotain.ts loads the single-file
// bundle in Node instead, for start-up time; the playground's build resolves `./chevrotain.js` of
// grammar/ to this module. Both export the same names.
export { CstParser, EOF, Lexer, createToken, tokenMatcher } from 'chevrotain';
export type { CstElement, CstNode, IParserErrorMessageProvider, IRecognitionException, IToken, TokenType } from 'chevrotain';
