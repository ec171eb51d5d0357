// Chevrotain, loaded from the single-file bundle it ships (lib/chevrotain.mjs). Its package entry point
// is the unbundled lib/src/, which pulls in some 600 modules of lodash-es: about 0.65 s of every
// command's start-up, against 20 ms for the bundle. The package's "exports" do not name the bundle,
// so it is found next to the entry point. Every module of the grammar imports chevrotain from here.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

async function load(): Promise<Chevrotain> {
  const entry = createRequire(import.meta.url).resolve('chevrotain');
  // lib/src/api.js -> lib/chevrotain.mjs; fall back to the entry point should a release move it.
  const bundle = path.join(path.dirname(entry), '..', 'chevrotain.min.mjs');
  try {
    return (await import(pathToFileURL(bundle).href)) as Chevrotain;
  } catch {
    return import('chevrotain');
  }
}

const chevrotain = await load();

export const { CstParser, EOF, Lexer, createToken, tokenMatcher } = chevrotain;
export type { CstElement, CstNode, IParserErrorMessageProvider, IRecognitionException, IToken, TokenType } from 'chevrotain';
