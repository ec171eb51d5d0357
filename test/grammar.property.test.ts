// Properties of the parser and formatter over generated input:
//   - parse never throws, whatever the text, and its diagnostics point inside the text;
//   - a generated AST printed by format() parses back to itself (comments included), and
//     formatting that text again changes nothing.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { format } from '../compiler/fmt.js';
import { parse } from '../grammar/index.js';
import { DECLARATION_WORDS, FIELD_WORDS, UNIT_WORDS } from '../grammar/keywords.js';
import type { Arg, Block, Comment, Decl, Field, SourceFile, Value } from '../grammar/ast.js';
import type { Span } from '../core/span.js';

const ZERO: Span = { file: 'gen.attn', line: 0, col: 0, endLine: 0, endCol: 0, offset: 0, endOffset: 0 };

/** Every diagnostic's span lies in the text, its line and column agree with its offset, and the list is sorted. */
function expectWellPlaced(text: string): void {
  const { diagnostics } = parse(text, 'gen.attn');
  let previous = -1;
  for (const d of diagnostics) {
    const s = d.span!;
    expect(s.offset).toBeGreaterThanOrEqual(previous);
    expect(s.offset).toBeLessThanOrEqual(s.endOffset);
    expect(s.endOffset).toBeLessThanOrEqual(text.length);
    const before = text.slice(0, s.offset).split(/\r\n|\r|\n/);
    expect([s.line, s.col]).toEqual([before.length, before[before.length - 1]!.length + 1]);
    previous = s.offset;
  }
}

describe('parse never throws', () => {
  it('on arbitrary text, binary included', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => expectWellPlaced(text)), { numRuns: 300 });
  });

  const fragments = [
    ...DECLARATION_WORDS, 'extends', 'heads', 'kv_heads', 'image', 'layers', 'x', 'steps', 'epochs', 'a', 'b1', 'f',
    '{', '}', '(', ')', ',', ':', '..', '.', '-', '28', '-1', '1e-3', '.5', '4x', '0.5x', '28x28', '0..5', '1.2.3', '7steps',
    '"s"', '"esc\\"q"', '"open', '# note', '@', '\u0000', '\n', '\n', ' ', ' ', '\t', '\r\n',
  ];
  const soup = fc.array(fc.constantFrom(...fragments), { maxLength: 60 }).chain((parts) =>
    fc.array(fc.constantFrom(' ', '', '\n'), { minLength: parts.length, maxLength: parts.length })
      .map((seps) => parts.map((p, i) => p + seps[i]).join('')));

  // Lines of a field word and value-like fragments inside one block: closer to real files, so
  // about half of them parse and exercise the formatter.
  const line = fc.tuple(
    fc.constantFrom('heads', 'kv_heads', 'image', 'layers', 'f'),
    fc.array(fc.constantFrom(
      'heads', 'a', 'x', 'steps', '28', '-1', '1e-3', '4x', '28x28', '0..5', '"s"', 'f(a: 1)', 'g()', 'h(x, train: y,)', ',', '{ a 1 }', '# c',
    ), { maxLength: 6 }),
  ).map(([name, parts]) => [name, ...parts].join(' '));
  const blockSoup = fc.array(line, { maxLength: 8 }).map((lines) => `model m {\n${lines.join('\n')}\n}\n`);

  it('on random soups of the language vocabulary', () => {
    fc.assert(fc.property(fc.oneof(soup, blockSoup), (text) => expectWellPlaced(text)), { numRuns: 800 });
  });

  it('and what parses cleanly formats idempotently, keeping its structure', () => {
    fc.assert(fc.property(blockSoup, (text) => {
      const first = parse(text, 'gen.attn');
      if (first.diagnostics.length > 0) return;
      const once = format(first.ast);
      const again = parse(once, 'gen.attn');
      expect(again.diagnostics).toEqual([]);
      expect(shape(again.ast)).toEqual(shape(first.ast));
      expect(format(again.ast)).toBe(once);
    }), { numRuns: 500 });
  });
});

// --- generated ASTs -------------------------------------------------------------------------------
// Only ASTs the parser can produce are generated: a value word is never a field word, unit word or
// `x` (those would end the field, become a unit, or join dimensions), except after a comma, where
// field words are values.

const reserved = new Set<string>([...FIELD_WORDS, ...UNIT_WORDS, ...DECLARATION_WORDS, 'x', 'extends']);
const word = fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/);
const plainWord = word.filter((w) => !reserved.has(w));
const anyWord = fc.oneof(word, fc.constantFrom(...FIELD_WORDS, ...DECLARATION_WORDS));

const numberText = fc.oneof(
  fc.nat({ max: 100000 }).map(String),
  fc.integer({ min: -999, max: -1 }).map(String),
  fc.tuple(fc.nat({ max: 99 }), fc.nat({ max: 999 })).map(([a, b]) => `${a}.${b}`),
  fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: -9, max: 9 })).map(([a, e]) => `${a}e${e}`),
  fc.nat({ max: 99 }).map((n) => `.${n}`),
);
const numberValue = fc.record({ text: numberText, unit: fc.option(fc.constantFrom(...UNIT_WORDS), { nil: undefined }) })
  .map(({ text, unit }): Value => (unit ? { kind: 'number', value: Number(text), text, unit, span: ZERO } : { kind: 'number', value: Number(text), text, span: ZERO }));
const ratioValue = fc.oneof(fc.nat({ max: 16 }).map(String), fc.constantFrom('0.5', '1.25'))
  .map((n): Value => ({ kind: 'ratio', value: Number(n), text: `${n}x`, span: ZERO }));
const dimsValue = fc.array(fc.nat({ max: 512 }), { minLength: 2, maxLength: 4 }).map((values): Value => ({ kind: 'dims', values, span: ZERO }));
const rangeValue = fc.tuple(fc.integer({ min: -5, max: 40 }), fc.integer({ min: -5, max: 40 }))
  .map(([from, to]): Value => ({ kind: 'range', from, to, span: ZERO }));
const stringValue = fc.string({ maxLength: 12 }).filter((s) => !/[\r\n]/.test(s)).map((value): Value => ({ kind: 'string', value, span: ZERO }));
const identValue = (names: fc.Arbitrary<string>) => names.map((name): Value => ({ kind: 'ident', name, span: ZERO }));

/** `names` are the words allowed as an ident or a call's name at this place. */
function valueArb(depth: number, names: fc.Arbitrary<string>): fc.Arbitrary<Value> {
  const leaves = [numberValue, ratioValue, dimsValue, rangeValue, stringValue, identValue(names)];
  if (depth <= 0) return fc.oneof(...leaves);
  // Inside parentheses arguments are separated by commas, so any word is a value there.
  const arg = fc.record({ name: fc.option(anyWord, { nil: undefined }), value: valueArb(depth - 1, anyWord) })
    .map(({ name, value }): Arg => (name ? { name, nameSpan: ZERO, value, span: ZERO } : { value, span: ZERO }));
  const call = fc.record({ name: names, args: fc.array(arg, { maxLength: 3 }) })
    .map(({ name, args }): Value => ({ kind: 'call', name, nameSpan: ZERO, args, span: ZERO }));
  return fc.oneof(...leaves, call);
}

const commentArb = fc.string({ maxLength: 10 }).filter((s) => !/[\r\n]/.test(s) && s.trimEnd() === s)
  .map((s): Comment => ({ text: `#${s}`, span: ZERO }));
const comments = fc.array(commentArb, { maxLength: 2 });
const optionalComment = fc.option(commentArb, { nil: undefined });

/** Sets the optional comment properties only when present, as the parser does. */
function withComments<T extends object>(node: T, extra: Record<string, Comment[] | Comment | undefined>): T {
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) Object.assign(node, { [key]: value });
  }
  return node;
}

function blockArb(depth: number): fc.Arbitrary<Block> {
  return fc.record({ fields: fc.array(fieldArb(depth), { maxLength: 4 }), opening: optionalComment, dangling: comments })
    .map(({ fields, opening, dangling }) => withComments<Block>({ fields, span: ZERO }, { openingComment: opening, danglingComments: dangling }));
}

function fieldArb(depth: number): fc.Arbitrary<Field> {
  const values = fc.oneof(
    fc.array(valueArb(2, plainWord), { maxLength: 3 }).map((vs) => ({ vs, commas: false })),
    // After a comma even a field word is a value.
    fc.tuple(valueArb(2, plainWord), fc.array(valueArb(2, anyWord), { minLength: 1, maxLength: 3 }))
      .map(([first, rest]) => ({ vs: [first, ...rest], commas: true })),
  );
  const block = depth > 0 ? fc.option(blockArb(depth - 1), { nil: undefined }) : fc.constant(undefined);
  return fc.record({ name: anyWord, values, block, leading: comments, trailing: optionalComment })
    .map(({ name, values: { vs, commas }, block: b, leading, trailing }) => {
      const f: Field = { kind: 'field', name, nameSpan: ZERO, values: vs, span: ZERO };
      if (commas) f.commaSeparated = true;
      if (b) f.block = b;
      return withComments(f, { leadingComments: leading, trailingComment: trailing });
    });
}

const declArb: fc.Arbitrary<Decl> = fc.oneof(
  fc.record({ path: stringValue, leading: comments, trailing: optionalComment }).map(({ path, leading, trailing }) =>
    withComments<Decl>({ kind: 'import', path: (path as { value: string }).value, pathSpan: ZERO, span: ZERO }, { leadingComments: leading, trailingComment: trailing })),
  fc.record({ name: anyWord.filter((w) => w !== 'extends'), base: fc.option(anyWord, { nil: undefined }), body: blockArb(2), leading: comments, trailing: optionalComment })
    .map(({ name, base, body, leading, trailing }) => {
      const d: Decl = { kind: 'model', name, nameSpan: ZERO, body, span: ZERO };
      if (base) d.extends = { name: base, span: ZERO };
      return withComments(d, { leadingComments: leading, trailingComment: trailing });
    }),
  fc.record({ kind: fc.constantFrom('train' as const, 'experiment' as const), name: anyWord, body: blockArb(2), leading: comments, trailing: optionalComment })
    .map(({ kind, name, body, leading, trailing }) =>
      withComments<Decl>({ kind, name, nameSpan: ZERO, body, span: ZERO }, { leadingComments: leading, trailingComment: trailing })),
);

const fileArb = fc.record({ decls: fc.array(declArb, { maxLength: 4 }), dangling: comments })
  .map(({ decls, dangling }) => withComments<SourceFile>({ path: 'gen.attn', text: '', decls }, { danglingComments: dangling }));

/** Drops spans and strings' literal text (both record the source, not the meaning), leaving what the round trip must keep. */
function shape(ast: SourceFile): unknown {
  return JSON.parse(JSON.stringify({ decls: ast.decls, dangling: ast.danglingComments }, function (this: Record<string, unknown>, key, value) {
    if (key === 'text' && this['kind'] === 'string') return undefined;
    return ['span', 'nameSpan', 'pathSpan', 'pathText'].includes(key) ? undefined : value;
  }));
}

describe('format and parse round-trip', () => {
  it('a generated AST printed and parsed back is the same AST, and printing again changes nothing', () => {
    fc.assert(fc.property(fileArb, (ast) => {
      const text = format(ast);
      const back = parse(text, 'gen.attn');
      expect(back.diagnostics, text).toEqual([]);
      expect(shape(back.ast)).toEqual(shape(ast));
      expect(format(back.ast)).toBe(text);
    }), { numRuns: 300 });
  });
});
