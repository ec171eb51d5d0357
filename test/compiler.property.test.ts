// Properties of the whole front end: it never throws on any input, every IR it emits is valid, and
// random valid specs compile to the same IR after a trip through the formatter.
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { format } from '../compiler/fmt.js';
import { validateIrDocument } from '../compiler/ir/validate.js';
import type { Host } from '../compiler/resolve.js';
import { parse } from '../grammar/index.js';
import { FIELD_WORDS } from '../grammar/keywords.js';

function memoryHost(files: Record<string, string>): Host {
  return {
    readFile: (p) => {
      const key = p.replace(/^\/mem\//, '');
      if (!(key in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return files[key]!;
    },
    exists: (p) => p.replace(/^\/mem\//, '') in files,
  };
}

const compileText = (text: string, extra: Record<string, string> = {}) =>
  compileFile('main.attn', { host: memoryHost({ 'main.attn': text, ...extra }), displayBase: '/mem' });

const VOCAB = [...FIELD_WORDS, 'model', 'train', 'experiment', 'import', 'extends', '{', '}', '(', ')', ',', ':', 'x', '..',
  '4x', '0..3', '"p"', '"vit.attn"', '1e-3', '0', '1', '2', '3', '7', '28', '-1', '0.5', 'steps', 'epochs', 'uniform', 'key_norm',
  'ema', 'diff', 'track', 'window', 'min', 'paper', 'gaussian', 'cls', 'mean', 'true', 'm', 'n', '\n', '#c\n'];

describe('front-end properties', () => {
  it('never throws on arbitrary text, and any IR it emits is schema-valid', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      const r = compileText(text);
      if (r.ir) expect(validateIrDocument(r.ir, 'main.attn')).toEqual([]);
    }), { numRuns: 300 });
  });

  it('never throws on token soups of the language, imports included', () => {
    const soup = fc.array(fc.constantFrom(...VOCAB), { maxLength: 80 }).map((ts) => ts.join(' '));
    fc.assert(fc.property(soup, soup, (a, b) => {
      const r = compileText(a, { 'vit.attn': b });
      if (r.ir) expect(validateIrDocument(r.ir, 'main.attn')).toEqual([]);
      for (const d of r.diagnostics) expect(d.code).toMatch(/^AT\d{4}$/);
    }), { numRuns: 300 });
  });

  const validSpec = fc.record({
    heads: fc.constantFrom(1, 2, 3, 4, 6, 8),
    headDim: fc.constantFrom(8, 16, 32),
    groupsIndex: fc.nat(10),
    patch: fc.constantFrom(2, 4, 7, 8),
    grid: fc.integer({ min: 1, max: 8 }),
    channels: fc.constantFrom(1, 3),
    depth: fc.integer({ min: 1, max: 6 }),
    classes: fc.integer({ min: 1, max: 1000 }),
    mlp: fc.constantFrom('4x', '2x', '0.5x', '100'),
    pool: fc.constantFrom('cls', 'mean'),
    allocate: fc.constantFrom('uniform', 'key_norm', 'key_norm(min: 0, scale: minmax)', 'key_norm(track: ema(0.8), window: 7 steps)', 'key_norm(track: diff, rounding: paper)'),
    perturb: fc.constantFrom('', 'perturb gaussian(0.5)', 'perturb uniform(scale: 1, during: always)'),
    compat: fc.boolean(),
    override: fc.boolean(),
    oneLine: fc.boolean(),
    seed: fc.nat(1000),
  }).map((s) => {
    const divisors = Array.from({ length: s.heads }, (_, i) => i + 1).filter((d) => s.heads % d === 0);
    const kv = s.allocate === 'uniform' ? divisors[s.groupsIndex % divisors.length]! : 1 + (s.groupsIndex % s.heads);
    const size = s.patch * s.grid;
    const sep = s.oneLine ? '   ' : '\n  ';
    const attention = [`heads ${s.heads}`, `kv_heads ${kv}`, `allocate ${s.allocate}`, s.perturb, s.compat ? 'compat paper' : ''].filter(Boolean).join(sep + '  ');
    const override = s.override && s.depth > 1 ? `\n  layers 0..${s.depth - 2} { attention { kv_heads ${s.heads} } mlp 2x }` : '';
    return `# generated\nmodel m {\n  image ${size} x ${size} x ${s.channels}${sep}patch ${s.patch}${sep}dim ${s.heads * s.headDim}${sep}depth ${s.depth}` +
      `${sep}mlp ${s.mlp}${sep}classes ${s.classes}${sep}pool ${s.pool}\n  attention {\n    ${attention}\n  }${override}\n}\n\n` +
      `train t {\n  model m\n  data synthetic(train: 64, test: 16)\n  seed ${s.seed}\n}\n`;
  });

  const stripSpans = (ir: unknown): unknown => JSON.parse(JSON.stringify(ir, (k, v) => (k === 'span' ? undefined : v)));

  it('random valid specs compile, and compile to the same IR after formatting (which is idempotent)', () => {
    // Warnings are allowed (e.g. AT4015: compat paper with a perturbation the reference does not use); errors are not.
    const errors = (ds: { severity: string; code: string; message: string }[]) => ds.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.message}`);
    fc.assert(fc.property(validSpec, (text) => {
      const r = compileText(text);
      expect(errors(r.diagnostics), text).toEqual([]);
      const formatted = format(parse(text, 'main.attn').ast);
      expect(format(parse(formatted, 'main.attn').ast)).toBe(formatted);
      const again = compileText(formatted);
      expect(again.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`));
      expect(stripSpans(again.ir)).toEqual(stripSpans(r.ir));
    }), { numRuns: 150 });
  });
});
