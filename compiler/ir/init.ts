// The initial weights of a model (docs/tfjs-backend.md, "Initialisation"): timm's VisionTransformer
// (init mode ''), drawn in checkpoint layout from the counter-based generator (core/random.ts), one
// stream per tensor name, so a seed gives the same weights on every run and backend, and a tensor's
// values do not depend on which others exist. A function of the IR and the seed: backends load these
// values, and the code generators reproduce them.
import { gaussianFloats, Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { parameterSpecs, type ParamSpec } from './params.js';
import type { ModelIR } from './types.js';

/** Random-stream purpose of the initial weights (registered in core/random.ts). */
export const INIT_PURPOSE = Purpose.init;

/** An initial tensor in checkpoint layout (a safetensors F32 tensor, runtime/checkpoint/safetensors.ts). */
export interface InitialTensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

/** FNV-1a of the name: the tensor's random stream, independent of its position in the list. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

// Standard normal quantile (P. J. Acklam's rational approximation, relative error below 1.2e-9).
const A = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
const B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const E = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

export function normalQuantile(p: number): number {
  if (p <= 0 || p >= 1) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const tail = (q: number) =>
    (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((E[0] * q + E[1]) * q + E[2]) * q + E[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

/** Phi(-2) and Phi(2): a uniform mapped into [PHI_M2, PHI_P2] and through the quantile is N(0,1) cut at +/-2. */
const PHI_P2 = 0.9772498680518208;
const PHI_M2 = 1 - PHI_P2;

/** How each tensor starts (docs/tfjs-backend.md, "Initialisation"). */
export function initRule(spec: ParamSpec): string {
  const { name, shape } = spec;
  if (name === 'patch_embed.proj.weight' || name === 'patch_embed.proj.bias') return 'conv-default';
  if (name === 'cls_token') return 'normal(1e-6)';
  if (name === 'pos_embed') return 'trunc-normal(0.02)';
  if (name.endsWith('.weight')) return shape.length === 2 ? 'trunc-normal(0.02)' : 'ones';
  return 'zeros';
}

/** The initial value of one tensor, in checkpoint layout. */
export function initialValue(spec: ParamSpec, convFanIn: number, seed: number): Float32Array {
  const n = spec.shape.reduce((size, d) => size * d, 1);
  const draw = (count: number) => uniformFloats(seed32(seed), streamId(INIT_PURPOSE, nameHash(spec.name)), count);
  const rule = initRule(spec);
  switch (rule) {
    case 'conv-default': {
      // PyTorch's Conv2d default (kaiming_uniform with a = sqrt 5, and its bias rule): U(+/- 1/sqrt(fan_in)).
      // timm's default init only re-initialises nn.Linear, so this is what timm's patch_embed starts from.
      const bound = 1 / Math.sqrt(convFanIn);
      return draw(n).map((u) => (2 * u - 1) * bound);
    }
    case 'normal(1e-6)':
      return gaussianFloats(seed32(seed), streamId(INIT_PURPOSE, nameHash(spec.name)), n).map((z) => z * 1e-6);
    case 'trunc-normal(0.02)':
      // Inverse-CDF sampling: one uniform per value, no rejection loop.
      return draw(n).map((u) => 0.02 * normalQuantile(PHI_M2 + (PHI_P2 - PHI_M2) * (u + 0.5 / 16777216)));
    case 'ones':
      return new Float32Array(n).fill(1);
    default:
      return new Float32Array(n);
  }
}

/** All initial tensors of a model in checkpoint layout, as a checkpoint would hold them. */
export function initialTensors(model: ModelIR, seed: number): Record<string, InitialTensor> {
  const fanIn = model.image.channels * model.patch * model.patch;
  const out: Record<string, InitialTensor> = {};
  for (const spec of parameterSpecs(model)) {
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data: initialValue(spec, fanIn, seed) };
  }
  return out;
}
