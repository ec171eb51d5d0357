# ---------------------------------------------------------------------------------------------
# PGQA noise (attnc's runtime/tfjs/perturb.ts)
#
# x = [B, H, R, n]: R rows of n values per image and head ('output': R = 1, n = tokens * head_dim;
# 'scores': R = tokens, n = tokens). Raw value i is draw offset + i of stream
# (PURPOSE_PERTURB_NOISE, layer, step, micro_batch), i the row-major index into [B, H, R, n]. Each
# row is standardised (population std; a std of 0 counts as 1). Under compat paper at 'output' the
# reference's quirks: one noise [1, H, R, n] for the whole batch, and entry h mod (H / G) of head
# h's row zeroed before standardising.


def perturb_noise(distribution, shape, seed, layer, step, micro_batch, first_image, paper, heads_per_group, device):
    """Standardised noise [B, H, R, n] (or [1, H, R, n] with paper) for images first_image.. of the micro-batch."""
    batch, heads, rows, n = shape
    images = 1 if paper else batch
    count = images * heads * rows * n
    offset = 0 if paper else first_image * heads * rows * n
    stream = stream_id(PURPOSE_PERTURB_NOISE, layer, step, micro_batch)
    draw = gaussian_floats if distribution == 'gaussian' else uniform_floats
    raw = draw(seed32(seed), stream, count, offset, device).to(torch.float64).reshape(images * heads * rows, n)
    if paper:
        column = (torch.arange(images * heads * rows, device=device) // rows % heads) % heads_per_group
        inside = column < n
        raw[inside.nonzero().squeeze(1), column[inside]] = 0.0
    mean = raw.mean(1, keepdim=True)
    std = ((raw - mean) ** 2).mean(1, keepdim=True).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    return ((raw - mean) / std).to(torch.float32).reshape(images, heads, rows, n)


def subtract_noise(x, noise, scale):
    """x - scale * (noise * std(x) + mean(x)) over the last axis: the subtracted term has the row's mean and std."""
    mean = x.mean(-1, keepdim=True)
    variance = (x - mean).square().mean(-1, keepdim=True)
    std = variance.clamp(min=1e-20).sqrt()
    return x - (noise.to(x.dtype) * std + mean) * scale
