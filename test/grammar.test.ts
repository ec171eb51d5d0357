// The lexer, parser and AST builder on real inputs: structure, spans, comments, and error recovery.
import { describe, expect, it } from 'vitest';
import { parse } from '../grammar/index.js';
import type { Block, CallValue, Decl, Field, ModelDecl, Value } from '../grammar/ast.js';
import type { Span } from '../core/span.js';

/** Parses text that must have no diagnostics. */
function parseClean(text: string) {
  const result = parse(text, 'test.attn');
  expect(result.diagnostics).toEqual([]);
  return result.ast;
}

/** `line:col-endLine:endCol CODE message`, one per diagnostic: compact and exact. */
function errorsOf(text: string): string[] {
  return parse(text, 'test.attn').diagnostics.map((d) => `${d.span!.line}:${d.span!.col}-${d.span!.endLine}:${d.span!.endCol} ${d.code} ${d.message}`);
}

/** Removes every span, leaving the structure to compare. */
function stripSpans<T>(node: T): T {
  return JSON.parse(JSON.stringify(node, (key, value) => (['span', 'nameSpan', 'pathSpan'].includes(key) ? undefined : value))) as T;
}

function body(decl: Decl | undefined): Block {
  if (!decl || decl.kind === 'import') throw new Error('not a block declaration');
  return decl.body;
}

function field(block: Block, name: string, nth = 0): Field {
  const found = block.fields.filter((f) => f.name === name)[nth];
  if (!found) throw new Error(`no field ${name}`);
  return found;
}

function valuesOf(text: string): Value[] {
  return stripSpans(field(body(parseClean(`model m {\n  f ${text}\n}\n`).decls[0]), 'f').values);
}

function span(line: number, col: number, endLine: number, endCol: number, offset: number, endOffset: number): Span {
  return { file: 'test.attn', line, col, endLine, endCol, offset, endOffset };
}

const SAMPLE = `# comment to end of line
import "vit.attn"
model vit_s_dgqa extends vit_s16 {
  classes 100
  attention {
    heads     6
    kv_heads  3
    allocate  key_norm(track: ema(decay: 0.9), window: 300 steps, min: 1)
    perturb   gaussian(scale: 1.0, during: train)
    compat    paper
  }
  layers 0..5 { attention { kv_heads 6 } }
  layers 8, 10..11 { mlp 2x }
}
model mnist_tiny {
  image 28 x 28 x 1   patch 7   dim 64   depth 4   mlp 4x   classes 10
  attention { heads 4  kv_heads 2  allocate uniform }
  norm layernorm(eps: 1e-6)
}
train quickstart {
  model     mnist_tiny
  data      mnist
  data      cifar10 "data/cifar-10-batches-bin"
  augment   flip crop(padding: 4) randaugment(n: 2, magnitude: 9)
  epochs    1   batch 128   seed 42
  optimizer adamw(lr: 1e-3, weight_decay: 0.05)
  schedule  cosine(warmup: 100 steps)
  eval { every 1 epochs  batch 256 }
}
experiment sweep {
  train  quickstart
  models mnist_mha, mnist_gqa, mnist_kdgqa
  seeds  1, 2, 3
}
`;

describe('parse: the language sample', () => {
  const ast = parseClean(SAMPLE);

  it('reads every declaration with its header', () => {
    expect(ast.decls.map((d) => `${d.kind} ${d.kind === 'import' ? d.path : d.name}`)).toEqual([
      'import vit.attn', 'model vit_s_dgqa', 'model mnist_tiny', 'train quickstart', 'experiment sweep',
    ]);
    expect((ast.decls[1] as ModelDecl).extends?.name).toBe('vit_s16');
    expect((ast.decls[2] as ModelDecl).extends).toBeUndefined();
  });

  it('splits one-line fields at field words and ends values at the end of the line', () => {
    expect(body(ast.decls[2]).fields.map((f) => f.name)).toEqual(['image', 'patch', 'dim', 'depth', 'mlp', 'classes', 'attention', 'norm']);
    expect(stripSpans(field(body(ast.decls[2]), 'image').values)).toEqual([{ kind: 'dims', values: [28, 28, 1] }]);
    expect(field(body(ast.decls[2]), 'attention').block!.fields.map((f) => f.name)).toEqual(['heads', 'kv_heads', 'allocate']);
    const train = body(ast.decls[3]);
    expect(train.fields.map((f) => f.name)).toEqual([
      'model', 'data', 'data', 'augment', 'epochs', 'batch', 'seed', 'optimizer', 'schedule', 'eval',
    ]);
    // `every 1 epochs`: the unit word binds to the number before `batch` starts the next field.
    expect(stripSpans(field(train, 'eval').block!.fields)).toEqual([
      { kind: 'field', name: 'every', values: [{ kind: 'number', value: 1, text: '1', unit: 'epochs' }] },
      { kind: 'field', name: 'batch', values: [{ kind: 'number', value: 256, text: '256' }] },
    ]);
  });

  it('reads nested calls, named arguments, units and field words used as values inside parentheses', () => {
    const attention = field(body(ast.decls[1]), 'attention').block!;
    expect(stripSpans(field(attention, 'allocate').values)).toEqual([{
      kind: 'call', name: 'key_norm', args: [
        { name: 'track', value: { kind: 'call', name: 'ema', args: [{ name: 'decay', value: { kind: 'number', value: 0.9, text: '0.9' } }] } },
        { name: 'window', value: { kind: 'number', value: 300, text: '300', unit: 'steps' } },
        { name: 'min', value: { kind: 'number', value: 1, text: '1' } },
      ],
    }]);
    expect(stripSpans(field(attention, 'perturb').values)).toEqual([{
      kind: 'call', name: 'gaussian', args: [
        { name: 'scale', value: { kind: 'number', value: 1, text: '1.0' } },
        { name: 'during', value: { kind: 'ident', name: 'train' } },
      ],
    }]);
  });

  it('reads ranges, comma lists and nested blocks', () => {
    const model = body(ast.decls[1]);
    const first = field(model, 'layers', 0);
    expect(stripSpans(first.values)).toEqual([{ kind: 'range', from: 0, to: 5 }]);
    expect(first.block!.fields[0]!.block!.fields[0]!.name).toBe('kv_heads');
    const second = field(model, 'layers', 1);
    expect(second.commaSeparated).toBe(true);
    expect(stripSpans(second.values)).toEqual([{ kind: 'number', value: 8, text: '8' }, { kind: 'range', from: 10, to: 11 }]);
    expect(stripSpans(second.block!.fields[0]!.values)).toEqual([{ kind: 'ratio', value: 2, text: '2x' }]);
    const experiment = body(ast.decls[4]);
    expect(stripSpans(field(experiment, 'models').values).map((v) => (v as { name: string }).name)).toEqual(['mnist_mha', 'mnist_gqa', 'mnist_kdgqa']);
    expect(field(experiment, 'train').commaSeparated).toBeUndefined();
  });

  it('reads strings and several values of different kinds', () => {
    const data = field(body(ast.decls[3]), 'data', 1);
    expect(stripSpans(data.values)).toEqual([{ kind: 'ident', name: 'cifar10' }, { kind: 'string', value: 'data/cifar-10-batches-bin', text: '"data/cifar-10-batches-bin"' }]);
    const augment = field(body(ast.decls[3]), 'augment');
    expect(augment.values.map((v) => v.kind)).toEqual(['ident', 'call', 'call']);
  });
});

describe('parse: values', () => {
  it('keeps each number as written', () => {
    expect(valuesOf('42 -1 1e-3 0.05 .5 -2.5E+3')).toEqual([
      { kind: 'number', value: 42, text: '42' },
      { kind: 'number', value: -1, text: '-1' },
      { kind: 'number', value: 0.001, text: '1e-3' },
      { kind: 'number', value: 0.05, text: '0.05' },
      { kind: 'number', value: 0.5, text: '.5' },
      { kind: 'number', value: -2500, text: '-2.5E+3' },
    ]);
  });

  it('reads ratios, ranges, dims written spaced, joined and mixed', () => {
    expect(valuesOf('4x 0.5x')).toEqual([{ kind: 'ratio', value: 4, text: '4x' }, { kind: 'ratio', value: 0.5, text: '0.5x' }]);
    expect(valuesOf('0..5 -1..3')).toEqual([{ kind: 'range', from: 0, to: 5 }, { kind: 'range', from: -1, to: 3 }]);
    expect(valuesOf('28 x 28 x 1')).toEqual([{ kind: 'dims', values: [28, 28, 1] }]);
    expect(valuesOf('28x28x1')).toEqual([{ kind: 'dims', values: [28, 28, 1] }]);
    expect(valuesOf('32 x 32x3 7')).toEqual([{ kind: 'dims', values: [32, 32, 3] }, { kind: 'number', value: 7, text: '7' }]);
  });

  it('treats x as a plain word unless a number follows on the same line', () => {
    expect(valuesOf('3 x y')).toEqual([{ kind: 'number', value: 3, text: '3' }, { kind: 'ident', name: 'x' }, { kind: 'ident', name: 'y' }]);
  });

  it('decodes the two string escapes and keeps other backslashes', () => {
    expect(valuesOf(String.raw`"say \"hi\"" "a\\b" "c\d" "#not a comment"`)).toEqual([
      { kind: 'string', value: 'say "hi"', text: String.raw`"say \"hi\""` },
      { kind: 'string', value: 'a\\b', text: String.raw`"a\\b"` },
      { kind: 'string', value: 'c\\d', text: String.raw`"c\d"` },
      { kind: 'string', value: '#not a comment', text: '"#not a comment"' },
    ]);
  });

  it('reads calls with positional arguments, no arguments, trailing commas and newlines inside', () => {
    expect(valuesOf('ema(0.9) f() g(a: 1,\n    b: 2,\n  )')).toEqual([
      { kind: 'call', name: 'ema', args: [{ value: { kind: 'number', value: 0.9, text: '0.9' } }] },
      { kind: 'call', name: 'f', args: [] },
      { kind: 'call', name: 'g', args: [
        { name: 'a', value: { kind: 'number', value: 1, text: '1' } },
        { name: 'b', value: { kind: 'number', value: 2, text: '2' } },
      ] },
    ]);
  });

  it('binds a unit only on the same line and only to a plain number', () => {
    expect(valuesOf('300 steps')).toEqual([{ kind: 'number', value: 300, text: '300', unit: 'steps' }]);
    const fields = body(parseClean('train t {\n  eval {\n    every 2\n    steps 5\n  }\n}\n').decls[0]).fields[0]!.block!.fields;
    expect(stripSpans(fields)).toEqual([
      { kind: 'field', name: 'every', values: [{ kind: 'number', value: 2, text: '2' }] },
      { kind: 'field', name: 'steps', values: [{ kind: 'number', value: 5, text: '5' }] },
    ]);
  });
});

describe('parse: fields', () => {
  it('ends values at the end of the line, so a misspelt field is still a field', () => {
    const fields = body(parseClean('model m {\n  heads 4\n  kv_head 2\n}\n').decls[0]).fields;
    expect(stripSpans(fields)).toEqual([
      { kind: 'field', name: 'heads', values: [{ kind: 'number', value: 4, text: '4' }] },
      { kind: 'field', name: 'kv_head', values: [{ kind: 'number', value: 2, text: '2' }] },
    ]);
  });

  it('continues a comma list onto the next line, and takes a field word after a comma as a value', () => {
    const fields = body(parseClean('experiment e {\n  models a,\n    train\n  seeds 1, 2\n}\n').decls[0]).fields;
    expect(stripSpans(fields)).toEqual([
      { kind: 'field', name: 'models', commaSeparated: true, values: [{ kind: 'ident', name: 'a' }, { kind: 'ident', name: 'train' }] },
      { kind: 'field', name: 'seeds', commaSeparated: true, values: [{ kind: 'number', value: 1, text: '1' }, { kind: 'number', value: 2, text: '2' }] },
    ]);
  });

  it('takes a block that opens on the next line', () => {
    const decl = parseClean('model m\n{\n  attention\n  {\n    heads 2\n  }\n}\n').decls[0];
    expect(field(body(decl), 'attention').block!.fields[0]!.name).toBe('heads');
  });

  it('allows several declarations on one line and empty blocks', () => {
    const ast = parseClean('model a {} model b extends a { } train t {}');
    expect(ast.decls.map((d) => (d.kind === 'import' ? d.path : d.name))).toEqual(['a', 'b', 't']);
  });

  it('reads CRLF line endings like LF ones, with the same lines and columns', () => {
    const lf = 'model m {\n  heads 4\n  kv_heads 2 # two\n}\n';
    const crlf = parseClean(lf.replace(/\n/g, '\r\n'));
    const plain = parseClean(lf);
    expect(stripSpans(crlf.decls)).toEqual(stripSpans(plain.decls));
    const lines = (ast: typeof plain) => body(ast.decls[0]).fields.map((f) => [f.span.line, f.span.col, f.span.endCol]);
    expect(lines(crlf)).toEqual(lines(plain));
    expect(body(crlf.decls[0]).fields[1]!.trailingComment?.text).toBe('# two');
  });

  it('parses an empty file and a file of comments', () => {
    expect(parseClean('').decls).toEqual([]);
    expect(parseClean('# only\n# comments\n').danglingComments?.map((c) => c.text)).toEqual(['# only', '# comments']);
  });
});

describe('parse: spans', () => {
  const text = 'model m {\n  heads 6 # six\n  allocate key_norm(window: 300 steps)\n}\n';
  const decl = parseClean(text).decls[0] as ModelDecl;
  const [heads, allocate] = decl.body.fields as [Field, Field];

  it('are 1-based with an exclusive end and 0-based offsets', () => {
    expect(decl.span).toEqual(span(1, 1, 4, 2, 0, text.length - 1));
    expect(decl.nameSpan).toEqual(span(1, 7, 1, 8, 6, 7));
    expect(decl.body.span).toEqual(span(1, 9, 4, 2, 8, text.length - 1));
    expect(heads.span).toEqual(span(2, 3, 2, 10, 12, 19));
    expect(heads.nameSpan).toEqual(span(2, 3, 2, 8, 12, 17));
    expect(heads.values[0]!.span).toEqual(span(2, 9, 2, 10, 18, 19));
    expect(heads.trailingComment).toEqual({ text: '# six', span: span(2, 11, 2, 16, 20, 25) });
  });

  it('cover a call, its arguments and a number with its unit', () => {
    const call = allocate.values[0] as CallValue;
    const line3 = text.indexOf('allocate');
    expect(call.span).toEqual(span(3, 12, 3, 39, line3 + 9, line3 + 36));
    expect(call.nameSpan).toEqual(span(3, 12, 3, 20, line3 + 9, line3 + 17));
    expect(call.args[0]!.span).toEqual(span(3, 21, 3, 38, line3 + 18, line3 + 35));
    expect(call.args[0]!.nameSpan).toEqual(span(3, 21, 3, 27, line3 + 18, line3 + 24));
    expect(call.args[0]!.value.span).toEqual(span(3, 29, 3, 38, line3 + 26, line3 + 35));
    expect(text.slice(call.span.offset, call.span.endOffset)).toBe('key_norm(window: 300 steps)');
  });

  it('cover spaced dimensions across their parts and a field across its block', () => {
    const source = 'model m {\n  image 28 x 28 x 1\n  attention {\n    heads 2\n  }\n}\n';
    const fields = body(parseClean(source).decls[0]).fields;
    const dims = fields[0]!.values[0]!;
    expect(source.slice(dims.span.offset, dims.span.endOffset)).toBe('28 x 28 x 1');
    expect(source.slice(fields[1]!.span.offset, fields[1]!.span.endOffset)).toBe('attention {\n    heads 2\n  }');
    expect(fields[1]!.span).toMatchObject({ line: 3, col: 3, endLine: 5, endCol: 4 });
  });
});

describe('parse: comments', () => {
  const text = [
    '# about the file', //        1: leading of the import
    'import "a.attn" # why', //   2: trailing of the import
    '',
    '# about m', //               4: leading of model m
    'model m { # opening', //     5: the block's opening comment
    '  # about heads', //         6: leading of heads
    '  heads 4 # four', //        7: trailing of heads
    '  opt adamw(', //            8
    '    lr: 1, # inside', //     9: inside a call: joins the field's leading comments
    '  )',
    '  # last words', //          11: dangling in the block
    '} # closing', //             12: trailing of model m
    '# the end', //               13: dangling in the file
  ].join('\n');
  const ast = parseClean(text);
  const texts = (cs: { text: string }[] | undefined) => (cs ?? []).map((c) => c.text);

  it('attaches each comment to the node it belongs to', () => {
    const [imp, model] = ast.decls as [Decl, ModelDecl];
    expect(texts(imp.leadingComments)).toEqual(['# about the file']);
    expect(imp.trailingComment?.text).toBe('# why');
    expect(texts(model.leadingComments)).toEqual(['# about m']);
    expect(model.body.openingComment?.text).toBe('# opening');
    const [heads, opt] = model.body.fields as [Field, Field];
    expect(texts(heads.leadingComments)).toEqual(['# about heads']);
    expect(heads.trailingComment?.text).toBe('# four');
    expect(texts(opt.leadingComments)).toEqual(['# inside']);
    expect(texts(model.body.danglingComments)).toEqual(['# last words']);
    expect(model.trailingComment?.text).toBe('# closing');
    expect(texts(ast.danglingComments)).toEqual(['# the end']);
  });

  it('gives a comment after several fields on one line to the last of them', () => {
    const fields = body(parseClean('model m {\n  patch 7   dim 64 # both\n}\n').decls[0]).fields;
    expect(fields.map((f) => f.trailingComment?.text)).toEqual([undefined, '# both']);
  });

  it('gives a comment after a nested block to the field that owns the block', () => {
    const outer = body(parseClean('model m {\n  attention { heads 2 } # note\n}\n').decls[0]).fields[0]!;
    expect(outer.trailingComment?.text).toBe('# note');
    expect(outer.block!.fields[0]!.trailingComment).toBeUndefined();
  });
});

describe('parse: errors', () => {
  it('reports several errors in one run and keeps the declarations that parsed', () => {
    const text = 'model a {\n  dim 64 (\n}\nmodel {\n}\ntrain t {\n  model a\n  batch ]\n}\n';
    expect(errorsOf(text)).toEqual([
      "2:10-2:11 AT1003 expected a field or '}' but found '('",
      "4:7-4:8 AT1003 expected a name but found '{'",
      "8:9-8:10 AT1001 unexpected character ']'",
    ]);
    const { ast } = parse(text, 'test.attn');
    expect(ast.decls.map((d) => (d.kind === 'import' ? d.path : d.name))).toEqual(['a', 't']);
    expect(body(ast.decls[0]).fields.map((f) => f.name)).toEqual(['dim']);
    expect(body(ast.decls[1]).fields.map((f) => f.name)).toEqual(['model', 'batch']);
  });

  it("points at every '{' that is never closed and keeps what was inside", () => {
    const text = 'model tiny {\n  image 32 x 32 x 3\n  attention {\n    heads 4\n';
    expect(errorsOf(text)).toEqual(["1:12-1:13 AT1005 '{' is never closed", "3:13-3:14 AT1005 '{' is never closed"]);
    const fields = body(parse(text, 'test.attn').ast.decls[0]).fields;
    expect(fields.map((f) => f.name)).toEqual(['image', 'attention']);
    expect(fields[1]!.block!.fields.map((f) => f.name)).toEqual(['heads']);
  });

  it('reports an unterminated string and still reads its text', () => {
    const text = 'import "vit.attn\nmodel x {\n}\n';
    expect(errorsOf(text)).toEqual(['1:8-1:17 AT1002 unterminated string']);
    const { ast } = parse(text, 'test.attn');
    expect(ast.decls.map((d) => d.kind)).toEqual(['import', 'model']);
    expect(ast.decls[0]!.kind === 'import' && ast.decls[0]!.path).toBe('vit.attn');
  });

  it('skips junk at the top level a block at a time, with one error for each stretch', () => {
    const text = 'heads 4\nmodle foo {\n  model m\n}\nmodel tiny {\n  dim 64\n}\n}\n';
    expect(errorsOf(text)).toEqual([
      "1:1-1:6 AT1004 expected 'import', 'model', 'train' or 'experiment' but found 'heads'",
      "8:1-8:2 AT1004 expected 'import', 'model', 'train' or 'experiment' but found '}'",
    ]);
    const result = parse(text, 'test.attn');
    expect(result.diagnostics[1]!.hint).toBe("this '}' closes no block; remove it");
    expect(result.ast.decls.map((d) => (d.kind === 'import' ? d.path : d.name))).toEqual(['tiny']);
  });

  it('does not report the rest of a broken declaration as junk', () => {
    expect(errorsOf('import vit\nmodel a {}\n')).toEqual(["1:8-1:11 AT1003 expected a string but found 'vit'"]);
  });

  it('reports a missing name where it was expected', () => {
    expect(errorsOf('model extends base {\n}\n')).toEqual(["1:7-1:14 AT1003 expected a name but found 'extends'"]);
    expect(errorsOf('model a extends {\n}\n')).toEqual(["1:17-1:18 AT1003 expected a name but found '{'"]);
    expect(errorsOf('train')).toEqual(['1:6-1:6 AT1003 expected a name but found end of file']);
    expect(errorsOf('model a')).toEqual(["1:8-1:8 AT1003 expected '{' but found end of file"]);
  });

  it('names what was expected inside calls and blocks', () => {
    expect(errorsOf('model a {\n  opt adamw(lr: 1 2)\n}')).toEqual(["2:19-2:20 AT1003 expected ',' or ')' but found '2'"]);
    expect(errorsOf('model a {\n  opt adamw(lr: , wd: 1)\n}')).toEqual(["2:17-2:18 AT1003 expected a value but found ','"]);
    expect(errorsOf('model a {\n  opt adamw(\n}')).toEqual(["3:1-3:2 AT1003 expected an argument or ')' but found '}'"]);
    expect(errorsOf('model a {\n  seeds 1,\n}')).toEqual(["3:1-3:2 AT1003 expected a value but found '}'"]);
    expect(errorsOf('model a {\n  heads: 4\n  dim 8\n}')).toEqual(["2:8-2:9 AT1003 expected a field or '}' but found ':'"]);
  });

  it('reports malformed numbers and dimensions', () => {
    expect(errorsOf('model a {\n  window 300steps\n  x 1.2.3\n}')).toEqual([
      "2:10-2:18 AT1006 '300steps' is not a valid number",
      "3:5-3:10 AT1006 '1.2.3' is not a valid number",
    ]);
    expect(errorsOf('model a {\n  image 28 x 1.5 x 3\n}')).toEqual([
      "2:9-2:21 AT1007 dimensions must be whole numbers joined by 'x', as in 28 x 28 x 1",
    ]);
    const bad = field(body(parse('model a {\n  w 1e999\n}', 'test.attn').ast.decls[0]), 'w').values[0]!;
    expect(bad.kind === 'number' && Number.isNaN(bad.value)).toBe(true);
  });

  it('reports a run of unknown characters once, showing invisible ones as code points', () => {
    expect(errorsOf('model a {\n  dim 64 @@\n}\n\u0001')).toEqual([
      "2:10-2:12 AT1001 unexpected character '@'",
      "4:1-4:2 AT1001 unexpected character '\\u{1}'",
    ]);
  });

  it('refuses nesting deeper than 32 levels without overflowing the stack', () => {
    const text = `model a {\n  f ${'g('.repeat(40)}${')'.repeat(40)}\n}\n`;
    expect(errorsOf(text)).toEqual(['2:68-2:69 AT1008 braces and parentheses nest more than 32 levels deep here']);
  });

  it('gives up, with an error and without throwing, when recovery would exhaust the stack', () => {
    const result = parse(`model a {\n${'  ) b\n'.repeat(30000)}}\n`, 'test.attn');
    expect(result.diagnostics.at(-1)?.code).toBe('AT1009');
    expect(result.diagnostics[0]?.message).toBe("expected a field or '}' but found ')'");
  });
});

