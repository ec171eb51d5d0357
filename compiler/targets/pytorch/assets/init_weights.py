# ---------------------------------------------------------------------------------------------
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
        p.copy_(initial_value(name, tuple(p.shape), fan_in, seed).to(p.device))
