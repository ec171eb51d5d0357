// The PGQA analysis on the host, in float64: from each attention layer's probabilities and head
// outputs as the eval phase's taps give them (compiler/graph GraphTap), the mean pairwise cosine
// similarity of query heads that share a K/V head (intra-group), with the noise the analysis applies
// and without it, and each head's similarity with itself across the two passes (self-similarity).
// Backend-independent: a backend runs the passes (runtime/tfjs/analyze.ts) and adds what it read.
import type { ModelIR } from '../../compiler/ir/types.js';

/** One layer of one pass, read back from a backend: probabilities [B, H, T, T], outputs [B * T, H * hd]. */
export interface TappedLayer {
  layer: number;
  noise: 'none' | 'scores' | 'output';
  probs: Float32Array;
  out: Float32Array;
  /** Each head's K/V group, [H] for the batch or [B, H] per image; null: uniform h / (H / G). */
  groupOf: Int32Array | null;
}

/** A similarity with and without noise; the two are equal where the layer is not perturbed. */
export interface Paired {
  withNoise: number | null;
  withoutNoise: number | null;
}

export interface Similarity extends Paired {
  /** Per K/V group: null where the group never served two heads. */
  perGroup: Paired[];
}

export interface LayerAnalysis {
  layer: number;
  heads: number;
  groups: number;
  /** Where this layer's noise acted in the noisy pass ('none': the two passes are the same here). */
  noise: 'none' | 'scores' | 'output';
  /** Intra-group similarity of the attention maps (probabilities, flattened per image) and of the head outputs. */
  maps: Similarity;
  outputs: Similarity;
  /** Per head: cosine similarity of its map and output with noise vs without, averaged over images. */
  self: { maps: number[]; outputs: number[]; meanMaps: number; meanOutputs: number };
  /** The first images' attention over the patch grid, per head (pictures for the report). */
  pictures: Picture[];
}

export interface Picture {
  image: number;
  /** Per head: its group and one value per patch, row-major over the grid. */
  heads: { group: number; values: number[] }[];
}

export interface AnalysisReport {
  images: number;
  /** Patch grid of the pictures: rows, columns. */
  grid: [number, number];
  /** 'cls': the class token's row of the map; 'mean': the mean over the queries. */
  pictureRow: 'cls' | 'mean';
  layers: LayerAnalysis[];
}

function cosine(a: Float32Array, aOff: number, aStride: number, b: Float32Array, bOff: number, bStride: number, n: number, width: number): number {
  // n rows of `width` values each, rows `stride` apart: lets a head's slice of [B*T, H*hd] be read in place.
  let dot = 0, na = 0, nb = 0;
  for (let r = 0; r < n; r++) {
    const ia = aOff + r * aStride, ib = bOff + r * bStride;
    for (let j = 0; j < width; j++) {
      const x = a[ia + j]!, y = b[ib + j]!;
      dot += x * y; na += x * x; nb += y * y;
    }
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

class Mean {
  sum = 0;
  n = 0;
  add(v: number): void { this.sum += v; this.n++; }
  get value(): number | null { return this.n ? this.sum / this.n : null; }
}

interface LayerAccumulator {
  maps: { noisy: Mean; clean: Mean; groupsNoisy: Mean[]; groupsClean: Mean[] };
  outputs: { noisy: Mean; clean: Mean; groupsNoisy: Mean[]; groupsClean: Mean[] };
  selfMaps: Mean[];
  selfOutputs: Mean[];
  noise: TappedLayer['noise'];
  pictures: Picture[];
}

/** Accumulates the analysis over batches; `result()` averages over images. */
export class SimilarityAccumulator {
  private readonly acc: LayerAccumulator[];
  private readonly T: number;
  private images = 0;

  constructor(private readonly m: ModelIR, private readonly pictures = 3) {
    this.T = m.tokens;
    const means = (n: number) => Array.from({ length: n }, () => new Mean());
    this.acc = m.layers.map((l) => {
      const sim = () => ({ noisy: new Mean(), clean: new Mean(), groupsNoisy: means(l.attention.kvHeads), groupsClean: means(l.attention.kvHeads) });
      return { maps: sim(), outputs: sim(), selfMaps: means(l.attention.heads), selfOutputs: means(l.attention.heads), noise: 'none', pictures: [] };
    });
  }

  /** One batch of `size` images: the noisy pass, and the clean one (null: no layer was perturbed, the same pass). */
  add(noisy: TappedLayer[], clean: TappedLayer[] | null, size: number): void {
    noisy.forEach((n, i) => this.addLayer(n, clean ? clean[i]! : n, size, clean === null));
    this.images += size;
  }

  private addLayer(noisy: TappedLayer, clean: TappedLayer, size: number, same: boolean): void {
    const layer = this.m.layers.find((l) => l.index === noisy.layer)!;
    const a = this.acc[this.m.layers.indexOf(layer)]!;
    const { heads: H, kvHeads: G, headDim: hd } = layer.attention;
    const T = this.T;
    a.noise = noisy.noise;
    for (let b = 0; b < size; b++) {
      const mapOf = (t: TappedLayer) => (h: number, k: number) => cosine(t.probs, (b * H + h) * T * T, 0, t.probs, (b * H + k) * T * T, 0, 1, T * T);
      const outOf = (t: TappedLayer) => (h: number, k: number) => cosine(t.out, b * T * H * hd + h * hd, H * hd, t.out, b * T * H * hd + k * hd, H * hd, T, hd);
      intraGroup(groupsOf(noisy, b, H, G), mapOf(noisy), a.maps.noisy, a.maps.groupsNoisy);
      intraGroup(groupsOf(noisy, b, H, G), outOf(noisy), a.outputs.noisy, a.outputs.groupsNoisy);
      intraGroup(groupsOf(clean, b, H, G), mapOf(clean), a.maps.clean, a.maps.groupsClean);
      intraGroup(groupsOf(clean, b, H, G), outOf(clean), a.outputs.clean, a.outputs.groupsClean);
      for (let h = 0; h < H; h++) {
        if (same || noisy.noise === 'none') {
          a.selfMaps[h]!.add(1);
          a.selfOutputs[h]!.add(1);
          continue;
        }
        a.selfMaps[h]!.add(cosine(noisy.probs, (b * H + h) * T * T, 0, clean.probs, (b * H + h) * T * T, 0, 1, T * T));
        a.selfOutputs[h]!.add(cosine(noisy.out, b * T * H * hd + h * hd, H * hd, clean.out, b * T * H * hd + h * hd, H * hd, T, hd));
      }
      if (this.images + b < this.pictures) a.pictures.push(this.picture(noisy, b, H, G, this.images + b));
    }
  }

  /** The attention over the patches of image b, per head: the class token's row, or the mean over queries. */
  private picture(t: TappedLayer, b: number, H: number, G: number, image: number): Picture {
    const T = this.T;
    const cls = this.m.pool === 'cls';
    const first = cls ? 1 : 0;
    const groups = groupsOf(t, b, H, G);
    return {
      image,
      heads: Array.from({ length: H }, (_, h) => {
        const base = (b * H + h) * T * T;
        const values = Array.from({ length: T - first }, (_, j) => {
          if (cls) return t.probs[base + first + j]!;
          let s = 0;
          for (let q = 0; q < T; q++) s += t.probs[base + q * T + j]!;
          return s / T;
        });
        return { group: groups[h]!, values };
      }),
    };
  }

  result(): AnalysisReport {
    const paired = (n: Mean, c: Mean): Paired => ({ withNoise: n.value, withoutNoise: c.value });
    const sim = (s: LayerAccumulator['maps']): Similarity => ({ ...paired(s.noisy, s.clean), perGroup: s.groupsNoisy.map((g, i) => paired(g, s.groupsClean[i]!)) });
    const avg = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    return {
      images: this.images,
      grid: [this.m.image.height / this.m.patch, this.m.image.width / this.m.patch],
      pictureRow: this.m.pool === 'cls' ? 'cls' : 'mean',
      layers: this.m.layers.map((l, i) => {
        const a = this.acc[i]!;
        const selfMaps = a.selfMaps.map((x) => x.value ?? 1);
        const selfOutputs = a.selfOutputs.map((x) => x.value ?? 1);
        return {
          layer: l.index, heads: l.attention.heads, groups: l.attention.kvHeads, noise: a.noise,
          maps: sim(a.maps), outputs: sim(a.outputs),
          self: { maps: selfMaps, outputs: selfOutputs, meanMaps: avg(selfMaps), meanOutputs: avg(selfOutputs) },
          pictures: a.pictures,
        };
      }),
    };
  }
}

/** Each head's group for image b. */
function groupsOf(t: TappedLayer, b: number, H: number, G: number): number[] {
  if (!t.groupOf) return Array.from({ length: H }, (_, h) => Math.floor(h / (H / G)));
  const off = t.groupOf.length === H ? 0 : b * H;
  return Array.from(t.groupOf.subarray(off, off + H));
}

/**
 * One image: per group with at least two heads, the mean cosine over its pairs of heads; the image's
 * value is the mean over those groups (none: the layer has no shared group in this image, e.g. MHA).
 */
function intraGroup(groups: number[], cos: (h: number, k: number) => number, layer: Mean, perGroup: Mean[]): void {
  const members = new Map<number, number[]>();
  groups.forEach((g, h) => members.set(g, [...(members.get(g) ?? []), h]));
  const image = new Mean();
  for (const [g, hs] of members) {
    if (hs.length < 2) continue;
    const pair = new Mean();
    for (let i = 0; i < hs.length; i++) for (let j = i + 1; j < hs.length; j++) pair.add(cos(hs[i]!, hs[j]!));
    perGroup[g]!.add(pair.value!);
    image.add(pair.value!);
  }
  if (image.value !== null) layer.add(image.value);
}
