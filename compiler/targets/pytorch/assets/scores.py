# ---------------------------------------------------------------------------------------------
# The statistics of attnc's score registry (compiler/ir/scores.ts), each by its name: each maps
# the keys k [B, G, T, hd] of a block (layer) to one float32 score per image and K/V head, [B, G].
# key_grad, a statistic of the previous step's gradient, is read from its buffer instead (network.py).
KEY_SCORES = {}


def key_score(name):
    """Registers a statistic under its registry name."""
    def register(fn):
        KEY_SCORES[name] = fn
        return fn
    return register


@key_score('key_norm')
def key_norm(k, score, ctx, layer):
    """Each image's norm of each K/V head's keys (l2: Frobenius over T and hd; l1: sum of |k|)."""
    return k.square().sum((2, 3)).sqrt() if score['norm'] == 'l2' else k.abs().sum((2, 3))


@key_score('key_variance')
def key_variance(k, score, ctx, layer):
    """The population variance of each K/V head's keys over T and hd: the mean, then the mean squared deviation."""
    return (k - k.mean((2, 3), keepdim=True)).square().mean((2, 3))


@key_score('attention_entropy')
def attention_entropy(k, score, ctx, layer):
    """The mean over tokens i of the entropy of each K/V head's key self-attention, softmax over j of
    k_i . k_j / sqrt(hd) (nats): ln Z - sum e (s - m) / Z per row, as attnc computes it."""
    s = torch.matmul(k, k.transpose(-1, -2)) * (1.0 / math.sqrt(k.shape[-1]))
    shifted = s - s.amax(-1, keepdim=True)
    e = shifted.exp()
    z = e.sum(-1)
    return (z.log() - (e * shifted).sum(-1) / z).mean(-1)


@key_score('random')
def random_score(k, score, ctx, layer):
    """A whole number in [0, 4096) per image and K/V head, the top 12 bits of the generator at counter
    image * G + g (images counted from the batch's first, plus first_image): in training from stream
    (PURPOSE_ALLOCATION_SCORE, layer, step, micro_batch), at evaluation from (PURPOSE_ALLOCATION_SCORE,
    layer). Per image in both, so the batch's summed scores average out at evaluation as in training;
    evaluation then depends on the batch size only through which images share a batch."""
    batch, groups = k.shape[0], k.shape[1]
    if ctx.training:
        key = _stream_key(seed32(ctx.seed), stream_id(PURPOSE_ALLOCATION_SCORE, layer, ctx.step, ctx.micro_batch))
    else:
        key = _stream_key(seed32(ctx.seed), stream_id(PURPOSE_ALLOCATION_SCORE, layer))
    counters = _counters(ctx.first_image * groups, batch * groups, k.device)
    return (lowbias32(key ^ counters) >> 20).to(torch.float32).reshape(batch, groups)
