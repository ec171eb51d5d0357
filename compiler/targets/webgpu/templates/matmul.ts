// The one tiled matmul of the backend, and the linear layers built on it.
//
// C[bt](m, n) = sum_k A[bt](m, k) * B[bt](k, n) for every batch index bt, where A, B and the store are
// WGSL expressions supplied by the caller: a linear layer reads row-major matrices (plain, or either
// one transposed for the backward pass); the attention reads Q, K and V straight out of the fused qkv
// activation with a head -> group table, applies dropout masks while loading, and writes the heads
// side by side. One template, many accessors: a new batched product is a new set of expressions.
//
// Tiling: a workgroup computes a 32 x 32 tile of C with 128 threads (32 columns x 4 rows, 8 outputs
// each), stepping through K in slices of 16 staged in workgroup memory (4 KiB). With `outer`, the
// reduction runs over an extra index o (e.g. the query heads of a K/V group). With an `active` test,
// one thread first lists the o that pass, in order, in workgroup memory, and the workgroup loops over
// that list only: a K/V group of a head -> group table costs its own heads, not all of them, and the
// sum runs in the same order as over every o with the others skipped.
import { grid, makeKernel, WG_INDEX, GRID_ARGS, type Binding, type KernelInstance, type KernelLimits, type UniformField } from '../kernel.js';

const TILE = 32;
const SLICE = 16;
const THREADS = 128;
const ROWS_PER_THREAD = TILE / (THREADS / TILE);

export interface TiledMatmulSpec {
  template: string;
  key: string;
  M: number;
  N: number;
  K: number;
  /** Independent products (e.g. B * H attention heads). */
  batch: number;
  bindings: Binding[];
  uniforms?: UniformField[];
  /** WGSL helper functions. */
  prelude?: string;
  /** WGSL statements once per workgroup, after `bt` (the batch index) is known. */
  setup?: string;
  /** An outer reduction index `o` in 0..count-1; `active` (WGSL bool, may use bt, the setup's names and o) leaves an o out when false. */
  outer?: { count: number; active?: string };
  /** A(bt, o, m, k) and B(bt, o, k, n) as WGSL f32 expressions; only evaluated in bounds. */
  a: string;
  b: string;
  /** A WGSL statement that stores the f32 `acc` at (bt, m, n). */
  store: string;
}

export function tiledMatmul(spec: TiledMatmulSpec, limits: KernelLimits): KernelInstance {
  const { M, N, K, batch } = spec;
  for (const [name, v] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${spec.template}: ${name} must be a whole number >= 1, got ${v}`);
  }
  const tilesM = Math.ceil(M / TILE);
  const tilesN = Math.ceil(N / TILE);
  const groups = tilesM * tilesN * batch;
  const outer = spec.outer ?? { count: 1 };
  const checked = outer.active !== undefined;
  // The count is made uniform (workgroupUniformLoad) so that the barriers inside the loop are reached by all.
  const outerLoop = checked
    ? `  if (lid == 0u) {
    var n = 0u;
    for (var o = 0u; o < OUTER; o++) { if (${outer.active}) { wg_outer[n] = o; n++; } }
    wg_outer_count = n;
  }
  let outer_count = workgroupUniformLoad(&wg_outer_count);
  for (var oi = 0u; oi < outer_count; oi++) {
    let o = wg_outer[oi];\n`
    : '  for (var o = 0u; o < OUTER; o++) {\n';
  const body = /* wgsl */ `
const M: u32 = ${M}u;
const N: u32 = ${N}u;
const K: u32 = ${K}u;
const OUTER: u32 = ${outer.count}u;
var<workgroup> tile_a: array<array<f32, ${SLICE}>, ${TILE}>;
var<workgroup> tile_b: array<array<f32, ${TILE}>, ${SLICE}>;
${checked ? 'var<workgroup> wg_outer: array<u32, OUTER>;\nvar<workgroup> wg_outer_count: u32;' : ''}
${spec.prelude ?? ''}
@compute @workgroup_size(${THREADS})
fn main(${GRID_ARGS}) {
  let flat = ${WG_INDEX};
  if (flat >= ${groups}u) { return; }
  let bt = flat / ${tilesM * tilesN}u;
  let tile = flat % ${tilesM * tilesN}u;
  let m0 = (tile / ${tilesN}u) * ${TILE}u;
  let n0 = (tile % ${tilesN}u) * ${TILE}u;
  let tx = lid % ${TILE}u;
  let ty = lid / ${TILE}u;
${indent(spec.setup ?? '', 2)}
  var sums: array<f32, ${ROWS_PER_THREAD}>;
${outerLoop}    for (var k0 = 0u; k0 < K; k0 += ${SLICE}u) {
      for (var e = lid; e < ${TILE * SLICE}u; e += ${THREADS}u) {
        let ar = e / ${SLICE}u;
        let ac = e % ${SLICE}u;
        var av = 0.0f;
        { let m = m0 + ar; let k = k0 + ac; if (m < M && k < K) { av = ${spec.a}; } }
        tile_a[ar][ac] = av;
        let br = e / ${TILE}u;
        let bc = e % ${TILE}u;
        var bv = 0.0f;
        { let k = k0 + br; let n = n0 + bc; if (k < K && n < N) { bv = ${spec.b}; } }
        tile_b[br][bc] = bv;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < ${SLICE}u; kk++) {
        let b_val = tile_b[kk][tx];
        for (var i = 0u; i < ${ROWS_PER_THREAD}u; i++) {
          sums[i] = sums[i] + tile_a[ty + ${THREADS / TILE}u * i][kk] * b_val;
        }
      }
      workgroupBarrier();
    }
  }
  for (var i = 0u; i < ${ROWS_PER_THREAD}u; i++) {
    let m = m0 + ty + ${THREADS / TILE}u * i;
    let n = n0 + tx;
    if (m < M && n < N) {
      let acc = sums[i];
      ${spec.store}
    }
  }
}
`;
  const kernel = makeKernel(
    { template: spec.template, key: spec.key, bindings: spec.bindings, uniforms: spec.uniforms, workgroupSize: [THREADS, 1, 1], workgroupBytes: 4 * 2 * TILE * SLICE + (checked ? 4 : 0), body },
    limits,
  );
  return { kernel, workgroups: grid(groups, limits) };
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text.trim().split('\n').map((l) => (l ? pad + l.trim() : l)).join('\n');
}

export interface LinearOptions {
  /** C is M x N; the reduction runs over K. */
  M: number;
  K: number;
  N: number;
  /** A is held as [K, M] (A^T B: a weight gradient X^T dY). */
  transA: boolean;
  /** B is held as [N, K] (A B^T: an input gradient dY W^T). */
  transB: boolean;
  /** Add bias[n] (forward). */
  bias: boolean;
  /** C += A B instead of C = A B (gradient accumulation over micro-batches). */
  accumulate: boolean;
}

/** Row-major C[M, N] (=|+=) op(A) op(B) (+ bias): buffers a, b, (bias), c. */
export function linearKernel(o: LinearOptions, limits: KernelLimits): KernelInstance {
  const bindings: Binding[] = [
    { name: 'a', access: 'read', elem: 'f32' },
    { name: 'b', access: 'read', elem: 'f32' },
  ];
  if (o.bias) bindings.push({ name: 'bias', access: 'read', elem: 'f32' });
  bindings.push({ name: 'c', access: 'read_write', elem: 'f32' });
  const value = o.bias ? 'acc + bias[n]' : 'acc';
  const kind = `${o.transA ? 't' : 'n'}${o.transB ? 't' : 'n'}`;
  return tiledMatmul(
    {
      template: 'matmul',
      key: `${kind}_${o.M}x${o.K}x${o.N}${o.bias ? '_bias' : ''}${o.accumulate ? '_acc' : ''}`,
      M: o.M, N: o.N, K: o.K, batch: 1, bindings,
      a: o.transA ? 'a[k * M + m]' : 'a[m * K + k]',
      b: o.transB ? 'b[n * K + k]' : 'b[k * N + n]',
      store: o.accumulate ? `c[m * N + n] = c[m * N + n] + ${value};` : `c[m * N + n] = ${value};`,
    },
    limits,
  );
}
