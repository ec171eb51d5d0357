// model.py's port of core/random.ts (docs/attention.md, "The random generator"): the counter-based
// generator of dropout masks, PGQA noise and the initial weights, bit for bit. It runs on the
// tensor's device in int64; every product is split into 16-bit halves, so no intermediate leaves the
// int64 range (signed overflow is not defined) and the bits are the same on every device.

export const RANDOM_CODE = String.raw`# ---------------------------------------------------------------------------------------------
# The counter-based random generator (attnc's runtime/random.ts, docs/attention.md)
#
# Every value is a function of (seed, stream, counter), all u32, so a mask or a noise tensor is the
# same bits as attnc's TensorFlow.js backend draws, in any order and on any device. Python ints and
# int64 tensors holding values in [0, 2^32) both go through lowbias32.

U32 = 0xFFFFFFFF
TWO_POW_24 = 16777216.0

# Purposes: the first part of every stream id (runtime/random.ts, Purpose).
PURPOSE_ATTENTION_DROPOUT = 1
PURPOSE_PERTURB_NOISE = 2
PURPOSE_INIT = 0x101
PURPOSE_DROPOUT = 0x102


def _mul_u32(x, c):
    """(x * c) mod 2^32 for u32 x: the product split at bit 16 keeps every intermediate below 2^48."""
    low = (x & 0xFFFF) * c
    high = ((x >> 16) * c) & 0xFFFF
    return (low + (high << 16)) & U32


def lowbias32(x):
    """Chris Wellons' lowbias32, a bijective u32 -> u32 mix."""
    x = x ^ (x >> 16)
    x = _mul_u32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul_u32(x, 0x846CA68B)
    return x ^ (x >> 16)


def seed32(seed):
    """The run seed as a u32: seeds below 2^32 as they are, larger ones fold their high word in."""
    if not isinstance(seed, int) or seed < 0 or seed > 2**53 - 1:
        raise ValueError('random: the seed must be a whole number from 0 to 2^53 - 1, got %r' % (seed,))
    low, high = seed & U32, seed >> 32
    return low if high == 0 else (low ^ lowbias32(high)) & U32


def stream_id(*parts):
    """A stream id from a path of integers: s = len(parts); s = lowbias32((s + 0x9e3779b9) ^ p) per part."""
    s = len(parts)
    for p in parts:
        s = lowbias32(((s + 0x9E3779B9) & U32) ^ p)
    return s


def _stream_key(seed, stream):
    return lowbias32(lowbias32(seed) ^ stream)


def _counters(start, count, device):
    return torch.arange(start, start + count, dtype=torch.int64, device=device) & U32


def uniform_floats(seed, stream, count, offset=0, device=None):
    """float32 [count]: value i is uniform(seed, stream, offset + i) = (bits >> 8) / 2^24, exact."""
    bits = lowbias32(_stream_key(seed, stream) ^ _counters(offset, count, device))
    return (bits >> 8).to(torch.float32) / TWO_POW_24


def gaussian_floats(seed, stream, count, offset=0, device=None):
    """float32 [count]: Box-Muller on counters 2j and 2j + 1 (j = offset + i), in float64, cosine half."""
    key = _stream_key(seed, stream)
    even = _counters(2 * offset, 2 * count, device)[0::2]
    u1 = (lowbias32(key ^ even) >> 8).to(torch.float64) / TWO_POW_24
    u2 = (lowbias32(key ^ ((even + 1) & U32)) >> 8).to(torch.float64) / TWO_POW_24
    return (torch.sqrt(-2 * torch.log(1 - u1)) * torch.cos(2 * math.pi * u2)).to(torch.float32)


def keep_mask(uniforms, rate):
    """Inverted dropout: 1 / (1 - rate) where the uniform draw is >= rate (compared in float64), else 0."""
    return (uniforms.to(torch.float64) >= rate).to(torch.float32) * (1.0 / (1.0 - rate))`;

/** The initial weights of runtime/tfjs/params.ts (timm's init, drawn from the generator above). */
export const INIT_CODE = String.raw`# ---------------------------------------------------------------------------------------------
# Initial weights (attnc's runtime/tfjs/params.ts): timm's VisionTransformer init, each tensor drawn
# from its own stream (seed, PURPOSE_INIT, FNV-1a of its name) in checkpoint layout, so a seed gives
# the same weights here as in attnc (up to the last bit of a log in the quantile's tails).

# Standard normal quantile (P. J. Acklam's rational approximation, relative error below 1.2e-9).
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239)
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572)
_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783)
_E = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_PHI_P2 = 0.9772498680518208  # Phi(2): a uniform mapped into [1 - Phi(2), Phi(2)] is N(0, 1) cut at +-2
_PHI_M2 = 1 - _PHI_P2


def _name_hash(name):
    """FNV-1a of the name's characters: the tensor's stream, whatever other tensors exist."""
    h = 0x811C9DC5
    for ch in name:
        h = ((h ^ ord(ch)) * 0x01000193) & U32
    return h


def normal_quantile(p):
    """Elementwise standard normal quantile of a float64 tensor with values in (0, 1)."""
    def tail(q):
        num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
        return num / ((((_E[0] * q + _E[1]) * q + _E[2]) * q + _E[3]) * q + 1)
    q = p - 0.5
    r = q * q
    num = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
    central = num / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1)
    low = tail(torch.sqrt(-2 * torch.log(p.clamp(min=1e-300))))
    high = -tail(torch.sqrt(-2 * torch.log((1 - p).clamp(min=1e-300))))
    return torch.where(p < 0.02425, low, torch.where(p > 1 - 0.02425, high, central))


def initial_value(name, shape, fan_in, seed):
    """One tensor's initial value (float32, checkpoint layout), as attnc's initRule says."""
    count = 1
    for d in shape:
        count *= d
    stream = stream_id(PURPOSE_INIT, _name_hash(name))
    if name in ('patch_embed.proj.weight', 'patch_embed.proj.bias'):
        # PyTorch's Conv2d default, U(+-1/sqrt(fan_in)); timm re-initialises only the Linear layers.
        u = uniform_floats(seed32(seed), stream, count).to(torch.float64)
        value = (2 * u - 1) * (1 / math.sqrt(fan_in))
    elif name == 'cls_token':
        value = gaussian_floats(seed32(seed), stream, count).to(torch.float64) * 1e-6
    elif name == 'pos_embed' or (name.endswith('.weight') and len(shape) == 2):
        # trunc_normal(std 0.02, cut at +-2 std) by the inverse CDF: one uniform per value.
        u = uniform_floats(seed32(seed), stream, count).to(torch.float64)
        value = 0.02 * normal_quantile(_PHI_M2 + (_PHI_P2 - _PHI_M2) * (u + 0.5 / TWO_POW_24))
    elif name.endswith('.weight'):
        value = torch.ones(count, dtype=torch.float64)  # LayerNorm
    else:
        value = torch.zeros(count, dtype=torch.float64)  # biases
    return value.to(torch.float32).reshape(shape)


@torch.no_grad()
def init_weights(model, seed):
    """Sets every parameter to its attnc initial value for this seed."""
    fan_in = MODEL['image'][2] * MODEL['patch'] ** 2
    for name, p in model.named_parameters():
        p.copy_(initial_value(name, tuple(p.shape), fan_in, seed).to(p.device))`;
