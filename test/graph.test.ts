// The op graph (compiler/graph): golden printed graphs, every shipped model lowered and valid against
// the schema and the catalogue, the backward covering every parameter, the memory plan never sharing
// a buffer between live tensors, verification failing on broken graphs, and `--emit graph`.
// Numerics of the graph's backward are checked where a backend executes it: test/webgpu/plan-e2e.test.ts
// and test/webgpu-runtime/parity.test.ts run the rendered graph against TensorFlow.js autodiff.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { lowerGraph, verify } from '../compiler/graph/lower.js';
import { printGraph } from '../compiler/graph/print.js';
import type { Graph } from '../compiler/graph/types.js';
import { graphProblems } from '../compiler/graph/validate.js';
import type { IRDocument } from '../compiler/ir/types.js';
import { runCli } from './helpers/cli.js';

const CASES = path.join(import.meta.dirname, 'golden-targets', 'webgpu');
const GOLDEN = path.join(import.meta.dirname, 'golden-targets', 'graph');
const SPECS = path.join(import.meta.dirname, '..', 'specs');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = fs.readdirSync(CASES).filter((f) => f.endsWith('.attn')).sort().map((f) => path.basename(f, '.attn'));

function compile(dir: string, file: string): IRDocument {
  const result = compileFile(file, { displayBase: dir });
  if (!result.ir) throw new Error(`${file} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.ir;
}

const clone = (g: Graph): Graph => JSON.parse(JSON.stringify(g));

describe('op graph: golden printed graphs (the WebGPU target\'s cases)', () => {
  it('has a golden for every case and no other', () => {
    if (UPDATE) fs.mkdirSync(GOLDEN, { recursive: true });
    const goldens = fs.existsSync(GOLDEN) ? fs.readdirSync(GOLDEN).map((f) => f.replace(/\.graph\.txt$/, '')).sort() : [];
    if (!UPDATE) expect(goldens).toEqual(cases);
  });
  for (const name of cases) {
    it(name, () => {
      const text = printGraph(lowerGraph(compile(CASES, `${name}.attn`)));
      const file = path.join(GOLDEN, `${name}.graph.txt`);
      if (UPDATE) fs.writeFileSync(file, text);
      expect(text).toBe(fs.readFileSync(file, 'utf8'));
    });
  }
});

describe('op graph: every shipped model', () => {
  const specs = fs.readdirSync(SPECS).filter((f) => f.endsWith('.attn')).sort();
  for (const spec of specs) {
    it(`${spec}: each run's graph (batch 2) is valid, differentiates every parameter, and plans memory safely`, () => {
      const ir = compile(SPECS, spec);
      const subjects = ir.runs.length ? ir.runs.map((r) => ({ run: r.name })) : ir.models.map((m) => ({ model: m.name }));
      for (const subject of subjects.slice(0, 8)) {
        const run = 'run' in subject ? ir.runs.find((r) => r.name === subject.run)! : null;
        const graph = lowerGraph(ir, { ...subject, batch: run && run.batch % 2 === 0 ? 2 : 1 });
        expect(graphProblems(JSON.parse(JSON.stringify(graph)))).toEqual([]);
        if (!graph.training) continue;
        const written = new Set(graph.phases.backward.flatMap((n) => Object.values(n.outputs)));
        for (const p of graph.params) expect(written.has(p.grad), `${spec} ${JSON.stringify(subject)}: no gradient for ${p.name}`).toBe(true);
        expectMemoryPlanSafe(graph);
      }
    });
  }
});

/** No two tensors of one buffer are live at once (lifetime: first to last node that names them). */
function expectMemoryPlanSafe(graph: Graph): void {
  const span = new Map<string, [number, number]>();
  graph.phases.backward.forEach((n, i) => {
    for (const t of [...Object.values(n.inputs), ...Object.values(n.outputs)]) {
      const s = span.get(t);
      span.set(t, s ? [s[0], i] : [i, i]);
    }
  });
  const byBuffer = new Map<string, string[]>();
  for (const [t, b] of Object.entries(graph.memory.assignment)) byBuffer.set(b, [...(byBuffer.get(b) ?? []), t]);
  const elements = new Map(graph.tensors.map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
  for (const [buffer, tensors] of byBuffer) {
    const size = graph.memory.buffers.find((b) => b.name === buffer)!.elements;
    for (const t of tensors) expect(elements.get(t)!).toBeLessThanOrEqual(size);
    for (let i = 0; i < tensors.length; i++) {
      for (let j = i + 1; j < tensors.length; j++) {
        const [a, b] = [span.get(tensors[i]!)!, span.get(tensors[j]!)!];
        expect(a[1] < b[0] || b[1] < a[0], `${tensors[i]} and ${tensors[j]} share ${buffer} while both live`).toBe(true);
      }
    }
  }
}

describe('op graph: verification', () => {
  const graph = lowerGraph(compile(CASES, 'dgqa_pgqa.attn'));

  it('accepts the lowered graph and shares the backward\'s gradients', () => {
    expect(() => verify(graph)).not.toThrow();
    expect(graph.memory.buffers.length).toBeLessThan(Object.keys(graph.memory.assignment).length);
  });

  it('refuses a node without a role its op needs, an unknown op, and a read before any write', () => {
    const missing = clone(graph);
    delete missing.phases.forward[1]!.inputs.weight;
    expect(() => verify(missing)).toThrow(/op linear needs role 'weight'/);
    const unknown = clone(graph);
    unknown.phases.eval[0]!.op = 'conv3d';
    expect(() => verify(unknown)).toThrow(/unknown op 'conv3d'/);
    const early = clone(graph);
    early.phases.forward.reverse();
    expect(() => verify(early)).toThrow(/reads .* before anything writes it/);
  });

  it('reports schema problems by JSON path', () => {
    const bad = clone(graph) as unknown as { tensors: { shape: number[] }[] };
    bad.tensors[0]!.shape = [0];
    expect(graphProblems(bad)[0]).toMatch(/^\/tensors\/0\/shape\/0: must be >= 1/);
    expect(graphProblems({ graphVersion: 99 })).toEqual(['graphVersion must be 1']);
  });
});

describe('op graph: eval taps for the PGQA analysis', () => {
  const ir = compile(CASES, 'dgqa_pgqa.attn');

  it('names each attention layer\'s probabilities, outputs and table, and applies the noise asked for', () => {
    const plain = lowerGraph(ir);
    expect(plain.taps).toBeUndefined();
    const noisy = lowerGraph(ir, { taps: true, evalNoise: 'training' });
    const clean = lowerGraph(ir, { taps: true, evalNoise: 'off' });
    expect(graphProblems(noisy)).toEqual([]);
    const m = ir.models.find((x) => x.name === noisy.model)!;
    expect(noisy.taps!.map((t) => t.layer)).toEqual(m.layers.map((l) => l.index));
    for (const t of noisy.taps!) {
      const attn = noisy.phases.eval.find((n) => n.op === 'attention' && n.outputs.p === t.probs)!;
      expect(attn.outputs.out).toBe(t.out);
      expect(attn.inputs.table).toBe(t.table);
    }
    // Every perturbed layer is perturbed in the noisy eval phase, none in the clean one.
    const perturbed = m.layers.filter((l) => l.attention.perturb && l.attention.perturb.scale > 0).map((l) => l.index);
    expect(perturbed.length).toBeGreaterThan(0);
    expect(noisy.taps!.filter((t) => t.noise !== 'none').map((t) => t.layer)).toEqual(perturbed);
    expect(clean.taps!.every((t) => t.noise === 'none')).toBe(true);
    expect(clean.phases.eval.some((n) => n.op === 'noise')).toBe(false);
    expect(noisy.phases.eval.filter((n) => n.op === 'noise').length).toBe(perturbed.length);
  });
});

describe('attnc compile --emit graph', () => {
  const spec = path.join(SPECS, 'quickstart.attn');

  it('prints the graph, or its JSON, which validates', async () => {
    const text = await runCli(['compile', spec, '--emit', 'graph']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^graph v1 of model mnist_tiny, run quickstart, 128 images per pass/);
    expect(text.stdout).toMatch(/^backward \(\d+ nodes\)$/m);
    const json = await runCli(['compile', spec, '--emit', 'graph', '--json', '--batch', '4']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as Graph;
    expect(doc.batch).toBe(4);
    expect(graphProblems(doc)).toEqual([]);
  });

  it('explains what is wrong', async () => {
    const bad = await runCli(['compile', spec, '--emit', 'plan']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown --emit 'plan'; the one form is --emit graph/);
    const batch = await runCli(['compile', spec, '--emit', 'graph', '--batch', '3']);
    expect(batch.code).toBe(1);
    expect(batch.stderr).toMatch(/--batch 3 must divide run 'quickstart''s batch of 128/);
    const target = await runCli(['compile', spec, '--emit', 'graph', '--target', 'webgpu']);
    expect(target.code).toBe(1);
    expect(target.stderr).toMatch(/leave out --target/);
  });
});
