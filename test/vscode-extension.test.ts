// The VS Code extension (editors/vscode/): its TextMate grammar run by vscode-textmate (with the
// Oniguruma regexes of vscode-oniguruma, as in VS Code) on the shipped specs, and its manifest.
// The .vsix is packaged by `npm run package:vscode` (in .ci/run).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';
import { FIELD_WORDS } from '../grammar/keywords.js';
import { SPECS_DIR } from '../compiler/resolve.js';

const EXT = path.resolve('editors/vscode');
const manifest = JSON.parse(fs.readFileSync(path.join(EXT, 'package.json'), 'utf8'));
const grammarPath = path.join(EXT, manifest.contributes.grammars[0].path);
let grammar: textmate.IGrammar;

beforeAll(async () => {
  const wasm = fs.readFileSync(createRequire(import.meta.url).resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (s) => new oniguruma.OnigScanner(s), createOnigString: (s) => new oniguruma.OnigString(s) }),
    loadGrammar: async (scope) => (scope === 'source.attn' ? textmate.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath) : null),
  });
  grammar = (await registry.loadGrammar('source.attn'))!;
});

/** Each token of a text as [text, innermost scope], line by line. */
function tokens(text: string): [string, string][] {
  const out: [string, string][] = [];
  let state = textmate.INITIAL;
  for (const line of text.split('\n')) {
    const r = grammar.tokenizeLine(line, state);
    for (const t of r.tokens) {
      const s = line.slice(t.startIndex, t.endIndex);
      if (s.trim()) out.push([s.trim(), t.scopes[t.scopes.length - 1]!]);
    }
    state = r.ruleStack;
  }
  return out;
}

const scopeOf = (toks: [string, string][], text: string, n = 0) => toks.filter(([t]) => t === text)[n]?.[1];

describe('VS Code grammar', () => {
  it('highlights the quickstart spec', () => {
    const toks = tokens(fs.readFileSync(path.join(SPECS_DIR, 'quickstart.attn'), 'utf8'));
    expect(toks[0]![1]).toBe('comment.line.number-sign.attn');
    expect(scopeOf(toks, 'model')).toBe('storage.type.model.attn');
    expect(scopeOf(toks, 'mnist_tiny')).toBe('entity.name.type.attn');
    expect(scopeOf(toks, 'kv_heads')).toBe('variable.other.property.field.attn');
    expect(scopeOf(toks, '2x')).toBe('constant.numeric.ratio.attn');
    expect(scopeOf(toks, 'uniform')).toBe('constant.other.word.attn');
    expect(scopeOf(toks, 'train')).toBe('storage.type.train.attn');
    // Inside a train run, `model` is a field, not a declaration.
    expect(scopeOf(toks, 'model', 1)).toBe('variable.other.property.field.attn');
    expect(scopeOf(toks, 'adamw')).toBe('support.function.option.attn');
    expect(scopeOf(toks, 'lr')).toBe('variable.parameter.attn');
    expect(scopeOf(toks, '5e-3')).toBe('constant.numeric.attn');
    expect(scopeOf(toks, 'steps')).toBe('keyword.other.unit.attn');
    expect(scopeOf(toks, 'x')).toBe('keyword.operator.dims.attn');
  });

  it('highlights imports, extends, strings, ranges and booleans', () => {
    const text = 'import "vit.attn"  # the library\n\nmodel mine extends vit_ti16 {\n  qkv_bias false\n  layers 0..5 {\n    attention { kv_heads 1 }\n  }\n}\n';
    const toks = tokens(text);
    expect(scopeOf(toks, 'import')).toBe('keyword.control.import.attn');
    expect(scopeOf(toks, '"vit.attn"')).toBe('string.quoted.double.attn');
    expect(scopeOf(toks, '# the library')).toBe('comment.line.number-sign.attn');
    expect(scopeOf(toks, 'extends')).toBe('storage.modifier.extends.attn');
    expect(scopeOf(toks, 'vit_ti16')).toBe('entity.other.inherited-class.attn');
    expect(scopeOf(toks, 'false')).toBe('constant.language.boolean.attn');
    expect(scopeOf(toks, '..')).toBe('keyword.operator.range.attn');
    expect(scopeOf(toks, 'kv_heads')).toBe('variable.other.property.field.attn');
  });

  it('a misspelt field is not highlighted as a field; an unclosed string ends with its line', () => {
    const toks = tokens('model m {\n  kv_haeds 2\n  data mnist "unclosed\n  patch 7\n}\n');
    expect(scopeOf(toks, 'kv_haeds')).toBe('constant.other.word.attn');
    expect(scopeOf(toks, '"unclosed')).toBe('string.quoted.double.attn');
    expect(scopeOf(toks, 'patch')).toBe('variable.other.property.field.attn');
  });

  it('knows every field word of the language (grammar/keywords.ts)', () => {
    const raw = JSON.parse(fs.readFileSync(grammarPath, 'utf8'));
    const words = /\\b\((.*)\)\\b/.exec(raw.repository.field.match)![1]!.split('|');
    expect([...words].sort()).toEqual([...FIELD_WORDS].sort());
  });
});

describe('VS Code extension manifest', () => {
  it('contributes the attn language with its configuration and grammar, and starts attnc lsp', () => {
    expect(manifest.contributes.languages[0]).toMatchObject({ id: 'attn', extensions: ['.attn'] });
    const config = JSON.parse(fs.readFileSync(path.join(EXT, manifest.contributes.languages[0].configuration), 'utf8'));
    expect(config.comments).toEqual({ lineComment: '#' });
    expect(config.brackets).toEqual([['{', '}'], ['(', ')']]);
    expect(manifest.contributes.grammars[0]).toMatchObject({ language: 'attn', scopeName: 'source.attn' });
    expect(manifest.main).toBe('./dist/extension.cjs');
    const client = fs.readFileSync(path.join(EXT, 'src/extension.js'), 'utf8');
    expect(client).toContain("'lsp'");
  });
});
