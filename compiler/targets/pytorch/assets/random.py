# ---------------------------------------------------------------------------------------------
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
PURPOSE_ALLOCATION_SCORE = 3
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
    return (uniforms.to(torch.float64) >= rate).to(torch.float32) * (1.0 / (1.0 - rate))
