// The canonical formatter: exact output for messy input, idempotence, comments and layout rules.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { format } from '../compiler/fmt.js';
import { parse } from '../grammar/index.js';
import type { Field, SourceFile } from '../grammar/ast.js';
import type { Span } from '../core/span.js';

function formatText(text: string): string {
  const { ast, diagnostics } = parse(text, 'test.attn');
  expect(diagnostics).toEqual([]);
  return format(ast);
}

/** The AST without spans and comments: what formatting must never change. */
function structure(ast: SourceFile): unknown {
  const drop = ['span', 'nameSpan', 'pathSpan', 'leadingComments', 'trailingComment', 'danglingComments', 'openingComment', 'text'];
  return JSON.parse(JSON.stringify(ast.decls, function (this: Record<string, unknown>, key, value) {
    // `text` is a comment's text, but also a number's: keep the number's.
    if (key === 'text' && this['kind'] !== undefined) return value;
    return drop.includes(key) ? undefined : value;
  }));
}

const MESSY = `# The header comment.


import   "b.attn"   # first

import "a.attn"
model   small   extends   base {  # ViT-S
  image 28x28x1   patch 7   dim 64 # three on a line
  mlp 4x


  classes 10
  attention { heads 4  kv_heads 2
     allocate key_norm( track : ema( decay:0.9 ) ,
        # inside the call
        window: 300   steps , ) }
  layers 0..1, 3 { attention { kv_heads 4 } }  # override
  norm layernorm(eps: 1e-6)
   # dangling in model
}
train   t   { model small
  data cifar10 "data/\\"quoted\\" dir"  seeds 1,2,3
  eval {}
}
experiment e {
}



# the end
`;

const CANONICAL = `# The header comment.

import "b.attn" # first
import "a.attn"

model small extends base { # ViT-S
  image   28 x 28 x 1
  patch   7
  dim     64 # three on a line
  mlp     4x

  classes 10
  attention {
    heads    4
    kv_heads 2
    # inside the call
    allocate key_norm(track: ema(decay: 0.9), window: 300 steps)
  }
  layers 0..1, 3 {
    attention {
      kv_heads 4
    }
  } # override
  norm    layernorm(eps: 1e-6)
  # dangling in model
}

train t {
  model small
  data  cifar10 "data/\\"quoted\\" dir"
  seeds 1, 2, 3
  eval {
  }
}

experiment e {
}

# the end
`;

describe('format', () => {
  it('prints messy input in canonical form', () => {
    expect(formatText(MESSY)).toBe(CANONICAL);
  });

  it('changes nothing in canonical text, and keeps the meaning of the messy text', () => {
    expect(formatText(CANONICAL)).toBe(CANONICAL);
    expect(structure(parse(CANONICAL, 'a').ast)).toEqual(structure(parse(MESSY, 'b').ast));
  });

  it('aligns the values of a block in one column after the longest field name, whatever the spacing was', () => {
    const text = 'train t {\n  model m\n  epochs    1   batch 128\n  optimizer sgd\n  eval { every 1 epochs }\n}\n';
    const want = 'train t {\n  model     m\n  epochs    1\n  batch     128\n  optimizer sgd\n  eval {\n    every 1 epochs\n  }\n}\n';
    expect(formatText(text)).toBe(want);
    expect(formatText(text.replace(/ +/g, ' '))).toBe(want);
  });

  it('keeps commas where the source had them, between every value of that field', () => {
    expect(formatText('experiment e {\n  seeds 1, 2 3\n  models a b\n}\n')).toBe('experiment e {\n  seeds  1, 2, 3\n  models a b\n}\n');
  });

  it('prints every kind of value as written', () => {
    const text = 'model m {\n  f 1e-3 -0.50 .5 4x 0.5x 28x28 3 x 4 0..5 -2..-1 "a\\\\b\\"c" ident call() g(1, k: h(v: 2 steps),)\n}\n';
    expect(formatText(text)).toBe(
      'model m {\n  f 1e-3 -0.50 .5 4x 0.5x 28 x 28 3 x 4 0..5 -2..-1 "a\\\\b\\"c" ident call() g(1, k: h(v: 2 steps))\n}\n',
    );
  });

  it('keeps one blank line where the source had several, but none at the start of a block', () => {
    const text = 'model m {\n\n\n  a 1\n\n\n\n  b 2\n  # note\n\n\n  c 3\n}\n';
    expect(formatText(text)).toBe('model m {\n  a 1\n\n  b 2\n  # note\n\n  c 3\n}\n');
  });

  it('separates declarations by exactly one blank line and keeps imports together', () => {
    expect(formatText('import "a"\n\n\nimport "b"\nmodel m {\n}\n\n\n\ntrain t {\n}')).toBe(
      'import "a"\nimport "b"\n\nmodel m {\n}\n\ntrain t {\n}\n',
    );
  });

  it('prints an empty file as nothing, and a file of comments as those comments', () => {
    expect(formatText('')).toBe('');
    expect(formatText('  # a\n\n\n# b  \n')).toBe('# a\n\n# b\n');
  });

  it('keeps string literals as written, escapes included: "\\d" stays "\\d", "\\\\d" stays "\\\\d"', () => {
    const text = 'import "lib\\d.attn"\n\ntrain t {\n  data folder "a\\d" "b\\\\d" "c\\"q"\n}\n';
    expect(formatText(text)).toBe(text);
  });

  it('quotes a hand-built string (no literal text) with only the escapes it needs', () => {
    const zero: Span = { file: '', line: 0, col: 0, endLine: 0, endCol: 0, offset: 0, endOffset: 0 };
    const data: Field = { kind: 'field', name: 'data', nameSpan: zero, span: zero, values: [{ kind: 'string', value: 'a\\b"c', span: zero }] };
    const ast: SourceFile = { path: 'x.attn', text: '', decls: [{ kind: 'train', name: 't', nameSpan: zero, span: zero, body: { fields: [data], span: zero } }] };
    expect(format(ast)).toBe('train t {\n  data "a\\\\b\\"c"\n}\n');
  });

  it('prints a hand-built AST (all spans zero) without alignment or blank lines', () => {
    const zero: Span = { file: '', line: 0, col: 0, endLine: 0, endCol: 0, offset: 0, endOffset: 0 };
    const heads: Field = { kind: 'field', name: 'heads', nameSpan: zero, span: zero, values: [{ kind: 'number', value: 4, text: '4', span: zero }] };
    const seeds: Field = {
      kind: 'field', name: 'seeds', nameSpan: zero, span: zero, commaSeparated: true,
      values: [{ kind: 'number', value: 1, text: '1', span: zero }, { kind: 'range', from: 3, to: 4, span: zero }],
    };
    const ast: SourceFile = {
      path: 'x.attn', text: '',
      decls: [{ kind: 'model', name: 'm', nameSpan: zero, span: zero, body: { fields: [heads, seeds], span: zero }, trailingComment: { text: '# m', span: zero } }],
    };
    expect(format(ast)).toBe('model m {\n  heads 4\n  seeds 1, 3..4\n} # m\n');
  });
});

describe('format on every spec and golden input', () => {
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : p.endsWith('.attn') ? [p] : [];
  });
  const files = ['specs', 'test/golden'].flatMap(walk);

  it('finds the inputs', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it('is idempotent and keeps the AST of every file that parses', () => {
    let checked = 0;
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const first = parse(text, file);
      if (first.diagnostics.length > 0) continue;
      const once = format(first.ast);
      const again = parse(once, file);
      expect(again.diagnostics, file).toEqual([]);
      expect(format(again.ast), file).toBe(once);
      expect(structure(again.ast), file).toEqual(structure(first.ast));
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });
});
