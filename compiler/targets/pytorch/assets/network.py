# ---------------------------------------------------------------------------------------------
# The network

# PyTorch 2 has a fused attention kernel; it is used when no mask or noise touches the scores.
HAS_SDPA = hasattr(F, 'scaled_dot_product_attention')
# @if perturb
# The blocks whose attention subtracts PGQA noise in training and at evaluation (the op graph's noise nodes).
# @insert noisy_blocks
# @end

# Where in a block a dropout or drop-path mask is drawn: part of its stream id (runtime/tfjs/vit.ts, Site).
SITE_PROJ_DROPOUT, SITE_MLP_HIDDEN_DROPOUT, SITE_MLP_OUT_DROPOUT, SITE_ATTN_DROP_PATH, SITE_MLP_DROP_PATH = 0, 1, 2, 3, 4


class ForwardContext:
    """What one forward pass needs besides the images (see VisionTransformer.forward)."""

    def __init__(self, training, step, epoch_step, seed, micro_batch, first_image, reduce_norms):
        self.training = training
        self.step = step
        self.epoch_step = step if epoch_step is None else epoch_step
        self.seed = seed
        self.micro_batch = micro_batch
        self.first_image = first_image
        self.reduce_norms = reduce_norms

    def uniforms(self, stream, count, per_image, device):
        """This pass's part of a micro-batch's mask: draws from first_image * per_image on."""
        return uniform_floats(seed32(self.seed), stream, count, self.first_image * per_image, device)


def dropout(x, rate, ctx, layer, site):
    """Inverted dropout with a counter-based mask over x [B, ...] in row-major order."""
    if rate <= 0:
        return x
    u = ctx.uniforms(stream_id(PURPOSE_DROPOUT, site, layer, ctx.step, ctx.micro_batch), x.numel(), x[0].numel(), x.device)
    return x * keep_mask(u, rate).reshape(x.shape).to(x.dtype)


def drop_path(x, rate, ctx, layer, site):
    """Stochastic depth: an image's whole residual branch dropped with probability rate, one draw per image."""
    if rate <= 0:
        return x
    u = ctx.uniforms(stream_id(PURPOSE_DROPOUT, site, layer, ctx.step, ctx.micro_batch), x.shape[0], 1, x.device)
    return x * keep_mask(u, rate).reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def expand_groups(x, groups):
    """x [B, G, T, hd] -> [B, H, T, hd]: query head h reads group groups[h] ([H]) or groups[b, h] ([B, H])."""
    if groups is None:
        return x
    if groups.dim() == 1:
        return x.index_select(1, groups)
    batch, _, tokens, head_dim = x.shape
    return x.gather(1, groups[:, :, None, None].expand(batch, groups.shape[1], tokens, head_dim))


@torch.no_grad()
def record_key_grads(model):
    """key_grad (a statistic of the previous step): after a step's backward, before clipping, the norm
    of each K/V head's key rows of the qkv weight's gradient, into blocks.<i>.attn.alloc.key_grad for the
    next step's allocations."""
    for module in model.modules():
        alloc = getattr(module, 'alloc', None)
        if alloc is None or not hasattr(alloc, 'key_grad') or module.qkv.weight.grad is None:
            continue
        rows = module.qkv.weight.grad[module.heads * module.head_dim:(module.heads + module.groups) * module.head_dim]
        alloc.key_grad.copy_(rows.reshape(module.groups, -1).square().sum(1).sqrt())
# @if scored


class ScoredAllocation(nn.Module):
    """The allocation state of a scored block, saved as blocks.<i>.attn.alloc.<buffer>:
    counts int32 [G]: the allocation training made last (what eval 'frozen' uses);
    cache, score float32 [G]: the DGQA tracker's cache and score (the batch's key norms when untracked)."""

    def __init__(self, layer, heads, groups, policy):
        super().__init__()
        self.layer = layer
        self.heads = heads
        self.policy = policy
        self.register_buffer('counts', torch.tensor(equal_share(heads, groups), dtype=torch.int32))
        self.register_buffer('cache', torch.zeros(groups))
        self.register_buffer('score', torch.zeros(groups))
        if policy['score']['kind'] == 'key_grad':
            # The previous step's statistic (record_key_grads), which this step's allocations read.
            self.register_buffer('key_grad', torch.zeros(groups))
        self.initialised = False  # set by the first training step, or by loading a checkpoint
        self.last_step = None  # the training step whose tracker update is done

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        # A checkpoint's allocation state comes from training: it counts as initialised.
        self.initialised, self.last_step = True, None

    def allocate(self, scores):
        """Counts int64 [G] for scores [G], or [B, G] for [B, G] (allocate_rows)."""
        p = self.policy
        rows = scores if scores.dim() == 2 else scores[None]
        counts = allocate_rows(rows, self.heads, p['scale'], p['rounding'], p['min'])
        return counts if scores.dim() == 2 else counts[0]

    def store(self, counts):
        self.counts.copy_(counts)

    def held(self):
        """The stored counts, int64 on their device."""
        return self.counts.long()

    @torch.no_grad()
    def counts_for(self, k, ctx):
        """The counts of this forward pass, int64 on the keys' device: [G], or [B, G] (scope 'sample'). No gradient flows here."""
        p = self.policy
        if not ctx.training and p['eval'] == 'frozen':
            return self.held()
        if p['score']['kind'] == 'key_grad':
            # The previous step's gradient statistic: one row for the batch, the same on every process.
            per_image, summed = self.key_grad[None].clone(), self.key_grad.clone()
        else:
            per_image = KEY_SCORES[p['score']['kind']](k, p['score'], ctx, self.layer)
            summed = per_image.sum(0)  # the reference sums the images' norms over the batch
        if ctx.training and ctx.reduce_norms is not None and p['score']['kind'] != 'key_grad':
            summed = ctx.reduce_norms(summed)  # data parallel: the norms of the whole micro-batch
        track = p['track']
        if track is None:
            return self.untracked(per_image, summed, ctx)
        # @if paperRule
        # @if attncRule
        if track['rule'] == 'paper':
            return self.paper_rule(track, summed, ctx)
        # @else
        return self.paper_rule(track, summed, ctx)
        # @end
        # @end
        # @if attncRule
        return self.attnc_rule(track, summed, ctx)
        # @end

    def untracked(self, per_image, summed, ctx):
        """KDGQA: every pass allocates from its own norms; training keeps the batch's for eval 'frozen'."""
        p = self.policy
        counts = self.allocate(per_image if p['scope'] == 'sample' else summed)
        if ctx.training:
            self.score.copy_(summed)
            if p['scope'] == 'batch':
                self.store(counts)
            elif p['eval'] == 'frozen':
                self.store(self.allocate(summed))
            self.initialised = True
        return counts
    # @if attncRule

    def attnc_rule(self, track, summed, ctx):
        """DGQA, TrackIR rule 'attnc': the tracker sees every training step once (its first micro-batch);
        the allocation is recomputed at steps > 0 that are multiples of window (and at the first step with
        init 'first_batch'), frozen in between. Evaluation with 'recompute' scores one tracker step ahead
        without storing it."""
        if not ctx.training:
            return self.allocate(tracker_step(track, self.cache, summed)[1])
        if self.last_step == ctx.step:
            return self.held()
        cache, score = tracker_step(track, self.cache, summed)
        self.cache.copy_(cache)
        self.score.copy_(score)
        window = self.policy['window'] or 1
        due = (not self.initialised and self.policy['init'] == 'first_batch') or (ctx.step > 0 and ctx.step % window == 0)
        if due:
            self.store(self.allocate(score))
        self.initialised, self.last_step = True, ctx.step
        return self.held()
    # @end
    # @if paperRule

    def paper_rule(self, track, summed, ctx):
        """DGQA, TrackIR rule 'paper' (the reference's dgqa.py): only at training steps whose index within
        the epoch is a multiple of window (and, with init 'first_batch', the first step), allocate from the
        score of (cache, norm), then cache <- (cache + norm) / window; other steps keep everything. At
        evaluation ('recompute') every batch allocates the same way, stores it and sets cache <- norm,
        as the reference's evaluation does."""
        window = self.policy['window'] or 1
        if ctx.training:
            if self.last_step == ctx.step:
                return self.held()
            due = ctx.epoch_step % window == 0 or (not self.initialised and self.policy['init'] == 'first_batch')
            self.initialised, self.last_step = True, ctx.step
            if not due:
                return self.held()
        score = paper_score(track, self.cache, summed)
        counts = self.allocate(score)
        self.store(counts)
        self.cache.copy_((self.cache + summed) / window if ctx.training else summed)
        self.score.copy_(score)
        return counts
    # @end
# @if attncRule


def tracker_step(track, cache, norms):
    """Rule 'attnc', one step: ema: cache' = d * cache + (1 - d) * norm, score = cache';
    diff: score = |cache - norm|, cache' = norm. Returns (cache', score)."""
    if track['kind'] == 'diff':
        return norms.clone(), (cache - norms).abs()
    d = track['decay']
    new = cache * d + norms * (1 - d)
    return new, new.clone()
# @end
# @if paperRule


def paper_score(track, cache, norms):
    """Rule 'paper': ema: d * norm + (1 - d) * cache (d weighs the current norms); diff: |cache - norm|."""
    if track['kind'] == 'diff':
        return (cache - norms).abs()
    d = track['decay']
    return norms * d + cache * (1 - d)
# @end
# @end


class Attention(nn.Module):
    """One block's grouped-query attention: H query heads, G K/V heads, the head -> group table as
    LAYERS[i]['allocation'] says. The fused qkv rows are the H * hd query rows, then G * hd key rows,
    then G * hd value rows (timm's layout when G = H); Block.forward calls qkv, this module, then proj."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.index = layer['index']
        heads, groups, head_dim = layer['heads'], layer['kv_heads'], layer['head_dim']
        self.heads, self.groups, self.head_dim = heads, groups, head_dim
        self.qkv = nn.Linear(MODEL['dim'], (heads + 2 * groups) * head_dim, bias=MODEL['qkv_bias'])
        self.proj = nn.Linear(heads * head_dim, MODEL['dim'])
        self.scale = 1 / math.sqrt(head_dim)
        policy = layer['allocation']
        # Uniform grouping: query head h reads K/V head h // (H / G); nothing to look up with G = H (MHA).
        self.uniform_counts = [heads // groups] * groups if heads % groups == 0 else None
        self.register_buffer('uniform_groups', None, persistent=False)
        # @if scored
        self.alloc = ScoredAllocation(self.index, heads, groups, policy) if policy['policy'] != 'uniform' else None
        if self.alloc is None and groups != heads:
        # @else
        if groups != heads:
        # @end
            self.uniform_groups = torch.tensor([h // (heads // groups) for h in range(heads)], dtype=torch.int64)
        self.last_counts = None  # the counts the last forward pass used: [G], or [B, G] (a list when uniform, else a tensor)

    def forward(self, qkv, ctx, dropout=0):
        """The attended rows [B, T, H * hd] of the fused q, k, v rows [B, T, (H + 2G) hd] (the graph's attention op)."""
        batch, tokens, _ = qkv.shape
        heads, groups, head_dim = self.heads, self.groups, self.head_dim
        q = qkv[..., :heads * head_dim].reshape(batch, tokens, heads, head_dim).transpose(1, 2)
        k = qkv[..., heads * head_dim:(heads + groups) * head_dim].reshape(batch, tokens, groups, head_dim).transpose(1, 2)
        v = qkv[..., (heads + groups) * head_dim:].reshape(batch, tokens, groups, head_dim).transpose(1, 2)
        table = self.group_of_head(k, ctx)
        out = self.attend(q, expand_groups(k, table), expand_groups(v, table), ctx, dropout)  # [B, H, T, hd]
        return out.transpose(1, 2).reshape(batch, tokens, heads * head_dim)

    def group_of_head(self, k, ctx):
        """None (MHA), or the K/V head of every query head: [H], or [B, H] per image."""
        # @if scored
        if self.alloc is None:
            self.last_counts = self.uniform_counts
            return self.uniform_groups
        if torch.onnx.is_in_onnx_export() and (ctx.training or self.alloc.policy['eval'] != 'frozen'):
            # The allocation is computed from the keys with data-dependent loops over exact integers: a trace
            # would record this input's counts as constants and the exported model would give every input the same groups.
            raise RuntimeError(
                f'layer {self.index}: key_norm allocation computed from the keys of each pass cannot be exported to ONNX '
                '(torch.onnx.export would freeze the traced input\'s allocation into a constant); '
                'export a model whose key_norm layers evaluate frozen (eval: frozen), or evaluate it with PyTorch or attnc')
        counts = self.alloc.counts_for(k.detach(), ctx)
        self.last_counts = counts
        return groups_of_heads(counts, self.heads)
        # @else
        self.last_counts = self.uniform_counts
        return self.uniform_groups
        # @end

    def attend(self, q, k, v, ctx, dropout):
        """softmax(q k^T / sqrt(hd)) v for q, k, v [B, H, T, hd], with dropout at that rate and PGQA as the model says."""
        # @if perturb
        p = self.layer['perturb']
        perturbing = self.index in NOISY_BLOCKS['training' if ctx.training else 'evaluation']
        if perturbing and torch.onnx.is_in_onnx_export():
            raise RuntimeError(f'layer {self.index}: PGQA noise at inference (during: always) cannot be exported to ONNX: '
                               'the noise is drawn per step and image by attnc\'s generator, which a trace would freeze')
        # @else
        perturbing = False
        # @end
        dropping = dropout > 0
        if HAS_SDPA and not perturbing and not dropping:
            return F.scaled_dot_product_attention(q, k, v)
        batch, heads, tokens, head_dim = q.shape
        scores = (q * self.scale) @ k.transpose(-2, -1)
        # @if perturb
        if perturbing and p['at'] == 'scores':
            scores = self.perturb(scores, p, ctx)
        # @end
        probs = scores.softmax(-1)
        if dropping:
            stream = stream_id(PURPOSE_ATTENTION_DROPOUT, self.index, ctx.step, ctx.micro_batch)
            u = ctx.uniforms(stream, probs.numel(), heads * tokens * tokens, probs.device)
            probs = probs * keep_mask(u, dropout).reshape(probs.shape).to(probs.dtype)
        out = probs @ v
        # @if perturb
        if perturbing and p['at'] == 'output':
            out = self.perturb(out.reshape(batch, heads, 1, tokens * head_dim), p, ctx).reshape(batch, heads, tokens, head_dim)
        # @end
        return out
        # @if perturb

    def perturb(self, x, p, ctx):
        """PGQA on rows x [B, H, R, n]; compat paper at 'output' draws the reference's noise."""
        paper = self.layer['compat'] == 'paper' and p['at'] == 'output'
        noise = perturb_noise(p['distribution'], tuple(x.shape), ctx.seed, self.index, ctx.step, ctx.micro_batch,
                              ctx.first_image, paper, max(1, self.heads // self.groups), x.device)
        return subtract_noise(x, noise, p['scale'])
        # @end


class Mlp(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc1 = nn.Linear(MODEL['dim'], hidden)
        self.fc2 = nn.Linear(hidden, MODEL['dim'])


class Block(nn.Module):
    """x = x + attn(norm1(x)); x = x + mlp(norm2(x)), with the dropout and drop path of training."""

    def __init__(self, layer):
        super().__init__()
        self.index = layer['index']
        self.drop_path = layer['drop_path']
        self.norm1 = nn.LayerNorm(MODEL['dim'], eps=MODEL['norm_eps'])
        self.attn = Attention(layer)
        self.norm2 = nn.LayerNorm(MODEL['dim'], eps=MODEL['norm_eps'])
        self.mlp = Mlp(layer['mlp_hidden'])

    def forward(self, x, ctx):
        """This block's nodes of attnc's op graph (docs/graph.md), as the compiler printed them."""
        # @insert block_forward


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        channels, patch = MODEL['image'][2], MODEL['patch']
        self.proj = nn.Conv2d(channels, MODEL['dim'], kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, patches, D], patches in row-major grid order


class VisionTransformer(nn.Module):
    """The attnc model of MODEL and LAYERS above: timm's VisionTransformer with grouped-query attention."""

    def __init__(self, seed=RUN_SEED):
        super().__init__()
        dim = MODEL['dim']
        self.seed = seed  # keys the dropout and noise streams, as the run seed does in attnc
        self.patch_embed = PatchEmbed()
        # @if cls
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        # @end
        self.pos_embed = nn.Parameter(torch.zeros(1, MODEL['tokens'], dim))
        self.blocks = nn.ModuleList([Block(layer) for layer in LAYERS])
        self.norm = nn.LayerNorm(dim, eps=MODEL['norm_eps'])
        self.head = nn.Linear(dim, MODEL['classes'])
        # Data parallel training sets this to a function that sums a [G] tensor over the processes,
        # so that every process allocates from the key norms of the whole micro-batch.
        self.reduce_norms = None
        init_weights(self, seed)

    def forward(self, x, step=0, epoch_step=None, micro_batch=0, first_image=0):
        """Logits [B, classes] of normalised NCHW float images [B, C, H, W].

        step: the optimizer step (from 0): keys the dropout and noise streams, times DGQA re-allocations.
        epoch_step: the step's index within its epoch (DGQA rule 'paper' only; default: step).
        micro_batch: which forward pass of the step (gradient accumulation): each draws its own masks.
        first_image: where these images start within their micro-batch when processes share it, so each
        process draws its own part of the micro-batch's masks (0 on one process).
        Training mode (model.train()) applies dropout, drop path and train-only noise, and updates the
        allocation state of scored blocks."""
        height, width, channels = MODEL['image']
        if tuple(x.shape[1:]) != (channels, height, width):
            raise ValueError('model %s takes [B, %d, %d, %d] images, got %s' % (MODEL['name'], channels, height, width, list(x.shape)))
        ctx = ForwardContext(self.training, step, epoch_step, self.seed, micro_batch, first_image,
                             self.reduce_norms if self.training else None)
        # @insert network_forward

    def allocations(self):
        """The counts each block's last forward pass used, by layer index ([G], or [B] lists of [G])."""
        return {block.index: block.attn.last_counts.tolist() if torch.is_tensor(block.attn.last_counts) else block.attn.last_counts
                for block in self.blocks}
