// `attnc eval --analyze`: the intra-group and self-similarities of attention maps and head outputs,
// against the same quantities computed in float64 from the reference ViT (test/helpers/reference-vit.ts,
// which shares no code with the runtime), on a GQA checkpoint (no noise: self-similarity exactly 1)
// and a PGQA one (noise at the scores in block 0, at the output in block 1: self-similarity below 1);
// and its errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelIR, PerturbIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../../runtime/data/batcher.js';
import { loadDataset } from '../../runtime/data/load.js';
import { referenceLogits, type ReferenceAttention } from '../helpers/reference-vit.js';
import { runCli } from '../helpers/cli.js';
import { keyNormModel, mhaModel, tempDir, writeTinyCheckpoint, type WrittenCheckpoint } from './fixtures.js';

const IMAGES = 12;

interface Paired { withNoise: number | null; withoutNoise: number | null }
interface LayerJson {
  layer: number; noise: string;
  maps: Paired & { perGroup: Paired[] }; outputs: Paired & { perGroup: Paired[] };
  self: { maps: number[]; outputs: number[]; meanMaps: number; meanOutputs: number };
  pictures: { image: number; heads: { group: number; values: number[] }[] }[];
}
interface AnalysisJson { images: number; noise: string; grid: number[]; pictureRow: string; layers: LayerJson[] }

function cos(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
  return dot / Math.sqrt(na * nb);
}

/** Head h's output over the tokens of one image: column block h of [T][H * hd]. */
const headOutput = (a: ReferenceAttention, h: number, hd: number) => a.heads.flatMap((row) => Array.from(row.subarray(h * hd, (h + 1) * hd)));

/**
 * Intra-group similarity per layer from the reference's noise-free attention: per image and group, the
 * mean cosine over pairs of heads, then the mean over groups, then over images; and per group.
 */
async function expected(w: WrittenCheckpoint): Promise<{ maps: number; outputs: number; perGroup: number[] }[]> {
  const m = w.model;
  const data = await loadDataset(w.run.data, 'test', { baseDir: '.', height: m.image.height, width: m.image.width, channels: m.image.channels, classes: m.classes });
  const traces: ReferenceAttention[] = [];
  let offset = 0;
  for (const b of BatchIterator.eval(data, { batchSize: IMAGES, normalize: w.run.normalize, prefetch: 0 })) {
    if (offset >= IMAGES) break;
    referenceLogits(m, w.params, b.x, b.size, { withoutNoise: true, trace: (a) => traces.push({ ...a, image: a.image + offset }) });
    offset += b.size;
  }
  return m.layers.map((l) => {
    const { heads: H, kvHeads: G, headDim: hd } = l.attention;
    const per = H / G;
    const ofLayer = traces.filter((t) => t.layer === l.index && t.image < IMAGES);
    const groupMean = (t: ReferenceAttention, g: number, f: (h: number) => ArrayLike<number>) => {
      const hs = Array.from({ length: per }, (_, i) => g * per + i);
      const pairs: number[] = [];
      for (let i = 0; i < hs.length; i++) for (let j = i + 1; j < hs.length; j++) pairs.push(cos(f(hs[i]!), f(hs[j]!)));
      return pairs.reduce((s, v) => s + v, 0) / pairs.length;
    };
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    const groups = Array.from({ length: G }, (_, g) => g);
    return {
      maps: mean(ofLayer.map((t) => mean(groups.map((g) => groupMean(t, g, (h) => t.probs[h]!))))),
      outputs: mean(ofLayer.map((t) => mean(groups.map((g) => groupMean(t, g, (h) => headOutput(t, h, hd)))))),
      perGroup: groups.map((g) => mean(ofLayer.map((t) => groupMean(t, g, (h) => t.probs[h]!)))),
    };
  });
}

async function analyze(w: WrittenCheckpoint, dir: string, extra: string[] = []): Promise<AnalysisJson> {
  const r = await runCli(['eval', w.file, '--json', '--backend', 'wasm', '--batch', '5', '--analyze', '--analyze-images', String(IMAGES), ...extra], dir);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { analysis: AnalysisJson }).analysis;
}

function withNoise(m: ModelIR, perLayer: (PerturbIR | null)[]): ModelIR {
  return { ...m, layers: m.layers.map((l, i) => ({ ...l, attention: { ...l.attention, variant: perLayer[i] ? 'pgqa' : l.attention.variant, perturb: perLayer[i] ?? null } })) };
}

describe('attnc eval --analyze', () => {
  const { dir, cleanup } = tempDir();
  let gqa: WrittenCheckpoint;
  let pgqa: WrittenCheckpoint;
  beforeAll(async () => {
    gqa = await writeTinyCheckpoint(dir, mhaModel({ kvHeads: 2 }), { name: 'gqa.safetensors' });
    const noise = (at: 'scores' | 'output'): PerturbIR => ({ distribution: 'gaussian', scale: 0.5, at, during: 'train' });
    pgqa = await writeTinyCheckpoint(dir, withNoise(mhaModel({ kvHeads: 2 }), [noise('scores'), noise('output')]), { name: 'pgqa.safetensors' });
  });
  afterAll(cleanup);

  it('measures a GQA checkpoint as the float64 reference does, with self-similarity exactly 1', async () => {
    const got = await analyze(gqa, dir);
    const want = await expected(gqa);
    expect(got.images).toBe(IMAGES);
    expect(got.noise).toContain('no PGQA noise');
    got.layers.forEach((l, i) => {
      expect(l.noise).toBe('none');
      expect(l.maps.withNoise).toBeCloseTo(want[i]!.maps, 5);
      expect(l.maps.withoutNoise).toBe(l.maps.withNoise);
      expect(l.outputs.withNoise).toBeCloseTo(want[i]!.outputs, 5);
      l.maps.perGroup.forEach((g, k) => expect(g.withNoise).toBeCloseTo(want[i]!.perGroup[k]!, 5));
      expect([...l.self.maps, ...l.self.outputs, l.self.meanMaps, l.self.meanOutputs].every((v) => v === 1)).toBe(true);
    });
    // The measure must discriminate: heads of a group are similar but not identical.
    expect(got.layers.some((l) => l.maps.withNoise! < 0.999)).toBe(true);
    // Pictures: the first 3 images, 4 heads each, the class token's row over the 2x2 patch grid.
    expect(got.grid).toEqual([2, 2]);
    expect(got.pictureRow).toBe('cls');
    expect(got.layers[0]!.pictures.map((p) => p.image)).toEqual([0, 1, 2]);
    expect(got.layers[0]!.pictures[0]!.heads.map((h) => h.group)).toEqual([0, 0, 1, 1]);
  });

  it('measures a PGQA checkpoint with and without its noise; self-similarity drops below 1 where the noise acts', async () => {
    const got = await analyze(pgqa, dir);
    const want = await expected(pgqa);
    expect(got.noise).toContain('training noise');
    const [scores, output] = got.layers as [LayerJson, LayerJson];
    expect([scores.noise, output.noise]).toEqual(['scores', 'output']);
    got.layers.forEach((l, i) => {
      expect(l.maps.withoutNoise).toBeCloseTo(want[i]!.maps, 5);
      expect(l.outputs.withoutNoise).toBeCloseTo(want[i]!.outputs, 5);
    });
    // Noise at the scores changes the maps and so the outputs; at the output only the outputs.
    expect(scores.self.meanMaps).toBeLessThan(0.999);
    expect(scores.self.meanOutputs).toBeLessThan(0.999);
    expect(scores.maps.withNoise).not.toBeCloseTo(scores.maps.withoutNoise!, 4);
    expect(output.self.meanOutputs).toBeLessThan(0.999);
    expect(output.outputs.withNoise).not.toBeCloseTo(output.outputs.withoutNoise!, 4);
    // Block 1's maps see block 0's noise through the residual stream, but its own noise is after them.
    expect(output.self.maps.every((v) => v > 0 && v <= 1 + 1e-6)).toBe(true);
  });

  it('writes the analysis into the text report and the HTML page', async () => {
    const r = await runCli(['eval', pgqa.file, '--backend', 'wasm', '--analyze', '--analyze-images', '4'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('analysis: 4 images');
    expect(r.stdout).toMatch(/self per head \(maps\): 0\.\d{4}/);
    const html = fs.readFileSync(path.join(dir, 'pgqa.eval-test.html'), 'utf8');
    expect(html).toContain('PGQA analysis (4 images)');
    expect(html).toContain('<polyline');
    expect((html.match(/<h3>layer /g) ?? []).length).toBe(2);
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('refuses bad input with a clear message', async () => {
    const zero = await runCli(['eval', gqa.file, '--analyze', '--analyze-images', '0'], dir);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain("--analyze-images needs a whole number of images >= 1, got '0'");
    const lone = await runCli(['eval', gqa.file, '--analyze-images', '8'], dir);
    expect(lone.stderr).toContain('--analyze-images needs --analyze');
    const spec = path.join(dir, 'model.attn');
    fs.writeFileSync(spec, 'model m { dim 8 }\n');
    const notCkpt = await runCli(['eval', 'model.attn', '--analyze'], dir);
    expect(notCkpt.code).toBe(1);
    expect(notCkpt.stderr).toContain('model.attn: this is an attnc spec, not a checkpoint');
    const native = await runCli(['eval', gqa.file, '--analyze', '--backend', 'native'], dir);
    expect(native.code).toBe(1);
    expect(native.stderr).toMatch(/--analyze is not available with --backend native \(the addon does not return the attention probabilities|--backend native: /);
  });

  it('groups the heads of a key-norm layer as its allocation did, image by image', async () => {
    const kd = await writeTinyCheckpoint(dir, keyNormModel(), { name: 'kd.safetensors', counts: { 1: [3, 1] } });
    const got = await analyze(kd, dir);
    // Block 1 keeps its stored allocation, 3 heads then 1: group 1 never serves two heads.
    const frozen = got.layers[1]!;
    expect(frozen.pictures[0]!.heads.map((h) => h.group)).toEqual([0, 0, 0, 1]);
    expect(frozen.maps.perGroup[1]).toEqual({ withNoise: null, withoutNoise: null });
    expect(frozen.maps.withNoise).toBeCloseTo(frozen.maps.perGroup[0]!.withNoise!, 12);
    // Block 0 allocates from each batch: every picture's groups are a valid allocation of 4 heads.
    for (const p of got.layers[0]!.pictures) expect(p.heads.map((h) => h.group)).toEqual([...p.heads.map((h) => h.group)].sort());
  });
});
