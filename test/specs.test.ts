// Every shipped spec compiles without a diagnostic, and the library has what the README promises.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { formatDiagnostic } from '../core/diagnostics.js';
import { analyzeModel } from '../compiler/analyze.js';
import { IR_VERSION, type IRDocument } from '../compiler/ir/types.js';

const SPECS = path.join(import.meta.dirname, '..', 'specs');
const files = fs.readdirSync(SPECS).filter((f) => f.endsWith('.attn')).sort();

function compile(file: string): IRDocument {
  const r = compileFile(path.join('specs', file), { displayBase: path.dirname(SPECS) });
  const text = r.diagnostics.map((d) => formatDiagnostic(d, (f) => r.program.sources.get(f))).join('\n');
  expect(text, `${file} has diagnostics`).toBe('');
  return r.ir!;
}

const irs = Object.fromEntries(files.map((f) => [f, compile(f)]));

describe('specs/', () => {
  it.each(files)('%s compiles cleanly', (file) => {
    expect(irs[file]!.irVersion).toBe(IR_VERSION);
  });

  it('has ViT-Ti/S/B/L at 224 px and small 28 px and 32 px models with every attention variant', () => {
    const models = Object.values(irs).flatMap((ir) => ir.models);
    const variantsOf = (prefix: string) => new Set(models.filter((m) => m.name.startsWith(prefix)).map((m) => m.layers.at(-1)!.attention.variant));
    for (const prefix of ['vit_s16_', 'vit_b16_', 'vit_l16_', 'vit_28_', 'vit_32_']) {
      expect([...variantsOf(prefix)].sort(), prefix).toEqual(['dgqa', 'gqa', 'kdgqa', 'mha', 'mqa', 'pgqa']);
    }
    // ViT-Ti's 3 heads admit no uniform grouping between MHA and MQA (see specs/vit_ti16.attn).
    expect([...variantsOf('vit_ti16_')].sort()).toEqual(['dgqa', 'kdgqa', 'mha', 'mqa', 'pgqa']);
    const ema = models.filter((m) => m.layers[0]!.attention.allocation.policy === 'scored' && (m.layers[0]!.attention.allocation as { track: { kind: string } | null }).track?.kind === 'ema');
    const diff = models.filter((m) => (m.layers[0]!.attention.allocation as { track?: { kind: string } | null }).track?.kind === 'diff');
    expect(ema.length).toBeGreaterThanOrEqual(5);
    expect(diff.length).toBeGreaterThanOrEqual(5);
    for (const [size, px] of [['vit_ti16', 224], ['vit_s16', 224], ['vit_b16', 224], ['vit_l16', 224], ['vit_28', 28], ['vit_32', 32]] as const) {
      const m = models.find((x) => x.name === `${size}_mha`)!;
      expect(m.image.height, size).toBe(px);
      if (px === 224) expect(m.patch).toBe(16);
    }
  });

  it('parameter counts of the standard ViTs equal timm (1000 classes)', () => {
    const params = Object.fromEntries(irs['vit.attn']!.models.map((m) => [m.name, analyzeModel(m).params.total]));
    // timm: vit_tiny/small/base/large_patch16_224
    expect(params).toEqual({ vit_ti16: 5_717_416, vit_s16: 22_050_664, vit_b16: 86_567_656, vit_l16: 304_326_632 });
  });

  it('the quickstart trains mnist_tiny on the shipped MNIST', () => {
    const ir = irs['quickstart.attn']!;
    expect(ir.runs.map((r) => [r.name, r.model, r.data.kind])).toEqual([['quickstart', 'mnist_tiny', 'mnist']]);
  });

  it('the experiment compares every 28 px variant over two seeds', () => {
    const e = irs['vit_28px.attn']!.experiments[0]!;
    expect(e.runs.length).toBe(16);
    expect(new Set(e.runs.map((r) => r.seed))).toEqual(new Set([0, 1]));
  });
});

describe('examples/', () => {
  const EXAMPLES = path.join(import.meta.dirname, '..', 'examples');
  const examples = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.attn')).sort();
  it('has examples', () => expect(examples.length).toBeGreaterThanOrEqual(2));
  it.each(examples)('%s compiles cleanly (imports of shipped specs resolve from anywhere)', (file) => {
    const r = compileFile(path.join('examples', file), { displayBase: path.dirname(EXAMPLES) });
    expect(r.diagnostics.map((d) => formatDiagnostic(d, (f) => r.program.sources.get(f))).join('\n')).toBe('');
    expect(r.ir!.runs.length).toBeGreaterThan(0);
  });
});
