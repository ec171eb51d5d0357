// Linear time without a clock: the caps that keep checking and printing linear in the input are
// asserted here (identifier length compared, work per comparison, diagnostics kept per file, excerpt
// width), and the work is counted where it matters. bench/frontend.js shows the times.
import { describe, expect, it, vi } from 'vitest';
import { parse } from '../grammar/index.js';
import { parser } from '../grammar/parser.js';
import { compileFile } from '../compiler/compile.js';
import { MAX_EXTENDS_DEPTH, ModelResolver } from '../compiler/models.js';
import {
  capDiagnostics, clipExcerpt, didYouMean, diag, distanceWork, editDistance, EXCERPT_WIDTH, formatDiagnostic, lineStarts,
  MAX_DIAGNOSTICS_PER_FILE, MAX_SUGGESTION_LENGTH, type Diagnostic,
} from '../core/diagnostics.js';
import type { Span } from '../grammar/ast.js';
import { FIELD_WORDS } from '../grammar/keywords.js';

/** The full-matrix distance, as the reference for the banded one. */
function fullDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

function memoryHost(files: Record<string, string>) {
  return { readFile: (p: string) => { const t = files[p]; if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); return t; }, exists: (p: string) => p in files };
}

describe('did you mean', () => {
  it('agrees with the full-matrix distance within its band, and says "more than max" beyond it', () => {
    const words = ['kv_heads', 'kv_head', 'hedas', 'heads', 'attention', 'atention', 'ab', 'ba', 'abc', 'ca', '', 'x', 'layers', 'slayer'];
    for (const a of words) {
      for (const b of words) {
        const full = fullDistance(a, b);
        expect(editDistance(a, b)).toBe(full);
        for (const max of [0, 1, 2, 3]) expect(editDistance(a, b, max)).toBe(Math.min(full, max + 1));
      }
    }
  });

  it('agrees with the full-matrix distance on random words of a small alphabet, banded or not', () => {
    let seed = 7;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const word = () => Array.from({ length: rand(12) }, () => 'abc'[rand(3)]).join('');
    for (let k = 0; k < 3000; k++) {
      const [a, b, max] = [word(), word(), rand(6)];
      expect(editDistance(a, b, max), `${a} ${b} ${max}`).toBe(Math.min(fullDistance(a, b), max + 1));
    }
  });

  it('compares no word longer than the cap, and no candidate whose length is out of reach', () => {
    distanceWork.cells = 0;
    expect(didYouMean('k'.repeat(1_000_000), FIELD_WORDS)).toBe('');
    expect(didYouMean('kv_heads', ['k'.repeat(1_000_000)])).toBe('');
    expect(distanceWork.cells).toBe(0);
  });

  it('computes at most a band of cells per candidate: linear in the word, not quadratic', () => {
    const word = 'a'.repeat(MAX_SUGGESTION_LENGTH);
    const limit = Math.floor(MAX_SUGGESTION_LENGTH / 3);
    distanceWork.cells = 0;
    didYouMean(word, ['b'.repeat(MAX_SUGGESTION_LENGTH), 'a'.repeat(MAX_SUGGESTION_LENGTH - 1) + 'b']);
    expect(distanceWork.cells).toBeLessThanOrEqual(2 * MAX_SUGGESTION_LENGTH * (2 * limit + 1));
    expect(didYouMean('kv_head', FIELD_WORDS)).toBe("; did you mean 'kv_heads'?");
  });
});

describe('printing diagnostics', () => {
  const span = (line: number, col: number, width: number): Span => ({ file: 'f', line, col, endLine: line, endCol: col + width, offset: 0, endOffset: 0 });

  it('clips a long line around the span to at most EXCERPT_WIDTH characters', () => {
    const line = 'a'.repeat(5_000_000) + 'WRONG' + 'b'.repeat(1000);
    const d = diag('UnknownField', span(1, 5_000_001, 5), ['WRONG', 'a model', '']);
    const [, excerpt, underline] = formatDiagnostic(d, () => line).split('\n');
    expect(excerpt!.length).toBeLessThanOrEqual(EXCERPT_WIDTH + 7);
    expect(excerpt!.slice(underline!.indexOf('~'), underline!.lastIndexOf('~') + 1)).toBe('WRONG');
    expect(clipExcerpt('short', 2, 3)).toEqual({ text: 'short', col: 2, width: 3 });
  });

  it('finds lines ended by \\n, \\r\\n and a lone \\r, as the lexer counts them', () => {
    expect(lineStarts('a\nb\r\nc\rd')).toEqual([0, 2, 5, 7]);
    const d = diag('UnknownField', span(3, 1, 1), ['c', 'a model', '']);
    expect(formatDiagnostic(d, () => 'a\rb\rc\rd').split('\n')[1]).toBe('   3 | c');
  });
});

describe('diagnostics per file', () => {
  it('keeps at most MAX_DIAGNOSTICS_PER_FILE per file, then one AT2010 with the count left out', () => {
    const many: Diagnostic[] = Array.from({ length: 10_000 }, (_, i) => diag('UnknownField', { ...span(i + 1), offset: i }, [`f${i}`, 'a model', '']));
    const kept = capDiagnostics(many);
    expect(kept).toHaveLength(MAX_DIAGNOSTICS_PER_FILE + 1);
    expect(kept[kept.length - 1]!.code).toBe('AT2010');
    expect(kept[kept.length - 1]!.message).toContain(`${10_000 - MAX_DIAGNOSTICS_PER_FILE} more`);
    function span(line: number): Span { return { file: 'f', line, col: 1, endLine: line, endCol: 2, offset: 0, endOffset: 0 }; }
  });

  it('stops a file with 5000 semantic errors at the cap, as an error even when warnings came first', () => {
    const fields = Array.from({ length: 5000 }, (_, i) => `  bad_${i} 1\n`).join('');
    const text = `model m {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n${fields}}\n`;
    const r = compileFile('/m.attn', { host: memoryHost({ '/m.attn': text }), displayBase: '/' });
    expect(r.diagnostics).toHaveLength(MAX_DIAGNOSTICS_PER_FILE + 1);
    expect(r.diagnostics[MAX_DIAGNOSTICS_PER_FILE]!.severity).toBe('error');
    expect(r.ir).toBeUndefined();
  });

  it('looks for a "did you mean" only for the unknown fields it prints', () => {
    const compile = (n: number) => {
      const fields = Array.from({ length: n }, (_, i) => `  bad_${String(i).padStart(5, '0')} 1\n`).join('');
      const text = `model m {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n${fields}}\n`;
      distanceWork.cells = 0;
      compileFile('/m.attn', { host: memoryHost({ '/m.attn': text }), displayBase: '/' });
      return distanceWork.cells;
    };
    const one = compile(1);
    expect(one).toBeGreaterThan(0);
    expect(compile(5000)).toBeLessThanOrEqual(MAX_DIAGNOSTICS_PER_FILE * one);
    const r = compileFile('/m.attn', { host: memoryHost({ '/m.attn': 'model m {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n  dpeth 3\n}\n' }), displayBase: '/' });
    expect(r.diagnostics[0]!.message).toBe("unknown field 'dpeth' in a model; did you mean 'depth'?");
  });
});

describe('parsing', () => {
  it('restarts after top-level junk at an index of one input, not on a copy of the rest of the file', () => {
    // 2000 stray '}' between declarations: 2000 restarts. Copying the rest of the file for each
    // made this quadratic (a 380 KB file took minutes).
    const text = Array.from({ length: 2000 }, (_, i) => `} model m${i} { dim 1 }\n`).join('');
    const setter = vi.spyOn(parser, 'input', 'set');
    try {
      const r = parse(text, 'f.attn');
      expect(r.ast.decls).toHaveLength(2000);
      expect(r.diagnostics.filter((d) => d.code === 'AT1004')).toHaveLength(2000);
      const arrays = new Set(setter.mock.calls.map(([tokens]) => tokens));
      expect(setter.mock.calls.length).toBeGreaterThanOrEqual(2000);
      expect(arrays.size).toBe(1);
    } finally {
      setter.mockRestore();
    }
  });
});

describe('parsing many declarations', () => {
  it('keeps 130 000 declarations without exhausting the stack (they were spread into one push)', () => {
    const r = parse('train t {}\n'.repeat(130_000), 'f.attn');
    expect(r.ast.decls).toHaveLength(130_000);
    expect(r.diagnostics).toEqual([]);
  });
});

describe('many diagnostics from one file', () => {
  it('collects 150 000 syntax errors without exhausting the stack, and prints the first 100', () => {
    const r = compileFile('/m.attn', { host: memoryHost({ '/m.attn': '\u00a7 '.repeat(150_000) }), displayBase: '/' });
    expect(r.diagnostics).toHaveLength(MAX_DIAGNOSTICS_PER_FILE + 1);
    expect(r.diagnostics[0]!.code).toBe('AT1001');
  });
});

describe('resolving extends', () => {
  it('merges a chain of n models in n steps, each on top of its resolved parent, and refuses chains deeper than the limit', () => {
    const n = 300;
    const base = 'model m0 {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n}\n';
    const text = base + Array.from({ length: n }, (_, i) => `model m${i + 1} extends m${i} { dim 64 }\n`).join('');
    const blockOf = vi.spyOn(ModelResolver.prototype as unknown as { blockOf: () => unknown }, 'blockOf');
    try {
      const r = compileFile('/m.attn', { host: memoryHost({ '/m.attn': text.split('\n').slice(0, 4 + MAX_EXTENDS_DEPTH).join('\n') }), displayBase: '/' });
      expect(r.diagnostics).toEqual([]);
      expect(r.ir!.models[MAX_EXTENDS_DEPTH]!.extends).toHaveLength(MAX_EXTENDS_DEPTH);
      // Before: every model merged its whole lineage, n^2 / 2 block look-ups.
      expect(blockOf.mock.calls.length).toBeLessThanOrEqual(2 * (MAX_EXTENDS_DEPTH + 1));
      // Deeper than MAX_EXTENDS_DEPTH: refused (the IR lists every ancestor of every model).
      blockOf.mockClear();
      const deep = compileFile('/m.attn', { host: memoryHost({ '/m.attn': text }), displayBase: '/' });
      expect(deep.diagnostics[0]!.message).toBe(`model 'm${MAX_EXTENDS_DEPTH + 1}' is more than ${MAX_EXTENDS_DEPTH} levels of extends below its root model`);
      expect(deep.diagnostics.filter((d) => d.code === 'AT2012')).toHaveLength(MAX_DIAGNOSTICS_PER_FILE);
      expect(blockOf.mock.calls.length).toBeLessThanOrEqual(2 * (MAX_EXTENDS_DEPTH + 1));
    } finally {
      blockOf.mockRestore();
    }
  });
});
