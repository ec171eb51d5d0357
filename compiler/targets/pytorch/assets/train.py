"""train.py: trains the package's model as its run says (docs/pytorch.md).

    python train.py [--out DIR] [--data-base DIR] [--steps N | --epochs N] [--device cpu|cuda] [--resume]
    torchrun --nproc_per_node=8 train.py ...                            # every GPU of one machine
    torchrun --nnodes=2 --node_rank=R --nproc_per_node=8 --rdzv_endpoint=HOST:29500 train.py ...

With RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set (torchrun sets them, and LOCAL_RANK) the
processes train one model together (DistributedDataParallel): each micro-batch of the run is split
evenly among them, each draws its own part of the micro-batch's dropout and noise masks, and the key
norms that allocate query heads are summed over all of them first, so every process holds the same
allocation and weights, and N processes compute what one process computes (up to float summation
order). The run's micro_batch must be a multiple of the number of processes.

What it writes to --out (default runs/<run name>), rank 0 only: metrics.jsonl (as attnc
train), last.safetensors (with the optimizer state; --resume continues from it) and best.safetensors.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import CheckpointError, load_into, read_checkpoint, write_checkpoint  # noqa: E402
from data import TrainEpoch, eval_batches, load_dataset, steps_per_epoch  # noqa: E402
from model import LAYERS, MODEL, VisionTransformer, record_key_grads  # noqa: E402

# @insert run_table


def learning_rate(step, total_steps):
    """Linear warmup from 0 (step + 1) / warmup, then cosine, linear or constant to min_lr (attnc's schedule.ts)."""
    s, base = RUN['schedule'], RUN['optimizer']['lr']
    warmup = s['warmup_steps']
    if step < warmup:
        return base * (step + 1) / warmup
    if s['kind'] == 'constant':
        return base
    p = min(1, (step - warmup) / max(1, total_steps - warmup))
    if s['kind'] == 'linear':
        return base + (s['min_lr'] - base) * p
    return s['min_lr'] + (base - s['min_lr']) * (1 + math.cos(math.pi * p)) / 2


class World:
    """This process among the training processes: torchrun's env:// variables, or one process."""

    def __init__(self, environ=os.environ):
        self.size = int(environ.get('WORLD_SIZE', '1'))
        self.rank = int(environ.get('RANK', '0'))
        self.local_rank = int(environ.get('LOCAL_RANK', '0'))
        self.device = None

    @property
    def distributed(self):
        return self.size > 1

    def start(self, device_arg):
        """Picks the device and joins the process group (NCCL on GPUs, gloo on CPUs)."""
        cuda = torch.cuda.is_available() if device_arg is None else device_arg.startswith('cuda')
        if cuda:
            self.device = torch.device('cuda', self.local_rank if self.distributed else torch.cuda.current_device())
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device('cpu')
        if self.distributed:
            dist.init_process_group('nccl' if cuda else 'gloo', init_method='env://', rank=self.rank, world_size=self.size)
        return self.device

    def sum(self, t):
        """t summed over the processes (in place), as every process must see the same numbers."""
        if self.distributed:
            dist.all_reduce(t)
        return t

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def stop(self):
        if self.distributed:
            dist.destroy_process_group()


def decays(name, p):
    """timm's rule: weight decay on tensors of rank >= 2 except pos_embed and cls_token (never biases or norms)."""
    return p.ndim >= 2 and name not in ('pos_embed', 'cls_token')


def make_optimizer(model):
    """torch.optim.AdamW (decoupled decay) or SGD (L2 decay, dampening 0), decay on the decayed group only."""
    o = RUN['optimizer']
    named = list(model.named_parameters())
    groups = [
        {'params': [p for n, p in named if decays(n, p)], 'weight_decay': o['weight_decay']},
        {'params': [p for n, p in named if not decays(n, p)], 'weight_decay': 0.0},
    ]
    if o['kind'] == 'adamw':
        return torch.optim.AdamW(groups, lr=o['lr'], betas=(o['beta1'], o['beta2']), eps=o['eps'])
    return torch.optim.SGD(groups, lr=o['lr'], momentum=o['momentum'])


def local_positions(world):
    """The positions within the batch this process trains on: its share of every micro-batch."""
    micro = RUN['micro_batch']
    share = micro // world.size
    return [i * micro + world.rank * share + j for i in range(RUN['batch'] // micro) for j in range(share)]


def train_step(model, wrapped, optimizer, x, y, step, epoch_step, lr, world):
    """One optimizer step on this process's images x [n, C, H, W] (local_positions order) and labels y.

    Each micro-batch's loss is its mean scaled by micro_batch / batch, so the accumulated gradient is
    that of the batch's mean loss; DistributedDataParallel averages it over the processes. Returns the
    batch's mean loss, its correct count (training mode), the gradient norm before clipping, and
    whether the step was taken (a non-finite loss or norm takes none)."""
    micro, batch = RUN['micro_batch'], RUN['batch']
    share = micro // world.size
    passes = batch // micro
    optimizer.zero_grad(set_to_none=True)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for i in range(passes):
        xs, ys = x[i * share:(i + 1) * share], y[i * share:(i + 1) * share]
        last = i == passes - 1
        # Gradients are exchanged once per step, after the last micro-batch.
        sync = contextlib.nullcontext() if last or wrapped is model else wrapped.no_sync()
        with sync:
            logits = wrapped(xs, step=step, epoch_step=epoch_step, micro_batch=i, first_image=world.rank * share)
            loss = F.cross_entropy(logits, ys, label_smoothing=RUN['label_smoothing']) * (micro / batch)
            loss.backward()
        loss_sum += loss.detach()
        correct += (logits.detach().argmax(1) == ys).sum()
    stats = world.sum(torch.stack([loss_sum, correct]))
    record_key_grads(model)  # key_grad layers: this step's gradient statistic, for the next step
    params = [p for p in model.parameters() if p.grad is not None]
    clip = RUN['clip_grad']
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float('inf'))
    loss_value, grad_value = stats[0].item() / world.size, grad_norm.item()
    taken = math.isfinite(loss_value) and math.isfinite(grad_value)
    if taken:
        for group in optimizer.param_groups:
            group['lr'] = lr
        optimizer.step()
    return {'loss': loss_value, 'correct': stats[1].item(), 'grad_norm': grad_value, 'taken': taken}


def eval_mutates_state():
    """DGQA rule 'paper' changes the allocation state at every evaluation batch (as the reference)."""
    for layer in LAYERS:
        a = layer['allocation']
        if a['policy'] != 'uniform' and a['track'] is not None and a['track']['rule'] == 'paper' and a['eval'] == 'recompute':
            return True
    return False


@torch.no_grad()
def evaluate(model, test, world, step):
    """Mean cross-entropy (no label smoothing) and top-1 on the test split, in eval mode. The batches are
    shared out among the processes, except when evaluation changes the state: then each runs all of them."""
    model.eval()
    shard = world.distributed and not eval_mutates_state()
    totals = torch.zeros(3, dtype=torch.float64, device=world.device)
    for j, (x, y) in enumerate(eval_batches(test, RUN['eval']['batch'], RUN['normalize'])):
        if shard and j % world.size != world.rank:
            continue
        x = torch.from_numpy(x).to(world.device).permute(0, 3, 1, 2)
        y = torch.from_numpy(y).to(world.device)
        logits = model(x, step=step)
        totals += torch.stack([F.cross_entropy(logits, y, reduction='sum').double(), (logits.argmax(1) == y).sum().double(), torch.tensor(float(len(y)), dtype=torch.float64, device=world.device)])
    if shard:
        world.sum(totals)
    model.train()
    loss, correct, images = totals.tolist()
    return {'loss': loss / images, 'acc': correct / images, 'images': int(images)}


@torch.no_grad()
def replicas_differ(model, world):
    """How many tensors of this process differ from rank 0's (bit for bit, allocation state included)."""
    differ = torch.zeros((), device=world.device)
    for t in list(model.parameters()) + [b for n, b in model.named_buffers() if '.attn.alloc.' in n]:
        mine = t.detach().clone()
        dist.broadcast(mine, 0)
        differ += 0 if torch.equal(mine, t) else 1
    return int(world.sum(differ).item())


class Metrics:
    """runs/NAME/metrics.jsonl: the records attnc train writes (kind step, epoch, eval, allocation)."""

    def __init__(self, path, active, keep_until=None):
        """A fresh log, or with keep_until (a resume) the records up to that step, as a run that never stopped wrote them."""
        self.path, self.active = path, active
        if not active:
            return
        kept = []
        if keep_until is not None and os.path.exists(path):
            with open(path) as f:
                kept = [line for line in f if line.strip() and json.loads(line)['step'] <= keep_until]
        with open(path, 'w') as f:
            f.writelines(kept)

    def append(self, record):
        if self.active:
            with open(self.path, 'a') as f:
                f.write(json.dumps(record) + '\n')


def parse_args(argv):
    ap = argparse.ArgumentParser(description='Train the model as run %s says.' % RUN['name'])
    ap.add_argument('--out', default=os.path.join('runs', RUN['name']), help='folder for metrics.jsonl and checkpoints')
    ap.add_argument('--data-base', default='.', help="folder the run's relative data paths start from (the spec's folder)")
    length = ap.add_mutually_exclusive_group()
    length.add_argument('--steps', type=int, help='train this many optimizer steps instead')
    length.add_argument('--epochs', type=int, help='train this many epochs instead')
    ap.add_argument('--device', help='cpu, cuda (default: cuda when available)')
    ap.add_argument('--resume', action='store_true', help='continue from OUT/last.safetensors')
    ap.add_argument('--save-every', type=int, default=0, help='also write last.safetensors every N steps')
    ap.add_argument('--log-every', type=int, default=10, help='print a progress line every N steps')
    ap.add_argument('--replica-files', action='store_true', help='every process also writes its final weights to OUT/replica-RANK.safetensors')
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    world = World()
    device = world.start(args.device)
    micro, batch = RUN['micro_batch'], RUN['batch']
    if micro % world.size:
        raise SystemExit('train.py: micro_batch %d is not a multiple of the %d processes: each must get an equal share' % (micro, world.size))
    lead = world.rank == 0
    say = print if lead else (lambda *a, **k: None)
    train_set = load_dataset(RUN['data'], 'train', MODEL['image'], MODEL['classes'], args.data_base)
    test_set = load_dataset(RUN['data'], 'test', MODEL['image'], MODEL['classes'], args.data_base)
    per_epoch = steps_per_epoch(train_set.count, batch)
    if per_epoch == 0:
        raise SystemExit('train.py: the training set has %d images, fewer than one batch of %d' % (train_set.count, batch))
    if args.steps is not None:
        total = args.steps
    elif args.epochs is not None:
        total = args.epochs * per_epoch
    else:
        total = RUN['steps'] if RUN['steps'] is not None else RUN['epochs'] * per_epoch
    model = VisionTransformer(seed=RUN['seed']).to(device)
    optimizer = make_optimizer(model)
    os.makedirs(args.out, exist_ok=True)
    last_path, best_path = os.path.join(args.out, 'last.safetensors'), os.path.join(args.out, 'best.safetensors')
    state = {'step': 0, 'epoch': 0, 'position': 0, 'rngState': {'generator': 'counter', 'seed': RUN['seed']}, 'bestMetric': None,
             'microBatch': micro, 'backend': 'pytorch', 'epochSums': {'loss': 0, 'correct': 0, 'images': 0, 'steps': 0}}
    if args.resume:
        try:
            ckpt = read_checkpoint(last_path)
        except CheckpointError as e:
            raise SystemExit('train.py: cannot resume: %s' % e)
        load_into(model, ckpt, optimizer, step=ckpt.train_state['step'])
        state.update(ckpt.train_state, microBatch=micro, backend='pytorch')
        say('resume: %s at step %d of %d' % (last_path, state['step'], total))
    wrapped = model
    if world.distributed:
        model.reduce_norms = world.sum
        ids = [device.index] if device.type == 'cuda' else None
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)
    metrics = Metrics(os.path.join(args.out, 'metrics.jsonl'), lead, state['step'] if args.resume else None)
    say('%s: %d steps of %d images (%d per pass) on %d process(es), %s' % (RUN['name'], total, batch, micro, world.size, device))
    key_norm_blocks = [b for b in model.blocks if getattr(b.attn, 'alloc', None) is not None]
    logged = {b.index: b.attn.alloc.counts.tolist() for b in key_norm_blocks}
    if not args.resume:  # the allocation training starts from, as attnc train logs it
        for index, counts in logged.items():
            metrics.append({'kind': 'allocation', 'step': 0, 'epoch': 1, 'layer': index, 'counts': counts})
    positions = local_positions(world)
    epoch_data, last_eval_step, last_saved = None, -1, None

    def save(path, with_optimizer):
        if lead:
            write_checkpoint(path, model, optimizer if with_optimizer else None, dict(state))
        world.barrier()

    def run_eval():
        result = evaluate(model, test_set, world, state['step'])
        metrics.append({'kind': 'eval', 'step': state['step'], 'epoch': state['epoch'], 'loss': result['loss'], 'acc': result['acc'], 'images': result['images']})
        better = state['bestMetric'] is None or result['acc'] > state['bestMetric']
        say('eval at step %d: test top-1 %.2f%%, loss %.4f%s' % (state['step'], 100 * result['acc'], result['loss'], ', best so far' if better else ''))
        if better:
            state['bestMetric'] = result['acc']
            save(best_path, False)
        return state['step']

    started, first_step = time.time(), state['step']
    while state['step'] < total:
        epoch, position = divmod(state['step'], per_epoch)
        if epoch_data is None or epoch_data.epoch != epoch:
            epoch_data = TrainEpoch(train_set, batch, RUN['seed'], epoch, RUN['augment'], RUN['normalize'])
        images, labels = epoch_data.batch(position, positions)
        x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)
        y = torch.from_numpy(labels).to(device)
        lr = learning_rate(state['step'], total)
        r = train_step(model, wrapped, optimizer, x, y, state['step'], position, lr, world)
        if not r['taken']:
            say('training diverged at step %d: loss %s, gradient norm %s (learning rate %.3e); stopped without saving; lower the learning rate or clip the gradients'
                % (state['step'] + 1, r['loss'], r['grad_norm'], lr))
            world.stop()
            return 1
        state['step'] += 1
        state['position'] = position + 1
        sums = state['epochSums']
        sums['loss'] += r['loss']
        sums['correct'] += r['correct']
        sums['images'] += batch
        sums['steps'] += 1
        metrics.append({'kind': 'step', 'step': state['step'], 'epoch': epoch + 1, 'loss': r['loss'], 'acc': r['correct'] / batch, 'lr': lr, 'gradNorm': r['grad_norm']})
        # One read of every block's counts per step (not one per block).
        held = torch.stack([b.attn.alloc.counts for b in key_norm_blocks]).tolist() if key_norm_blocks else []
        for b, counts in zip(key_norm_blocks, held):
            if counts != logged[b.index]:
                logged[b.index] = counts
                metrics.append({'kind': 'allocation', 'step': state['step'], 'epoch': epoch + 1, 'layer': b.index, 'counts': counts})
        if state['step'] % max(1, args.log_every) == 0 or state['step'] == total:
            rate = (state['step'] - first_step) * batch / max(1e-9, time.time() - started)
            say('step %d/%d: loss %.4f, acc %.2f%%, lr %.3e, %.0f img/s' % (state['step'], total, r['loss'], 100 * r['correct'] / batch, lr, rate))
        if state['position'] == per_epoch:
            state['epoch'] += 1
            state['position'] = 0
            metrics.append({'kind': 'epoch', 'step': state['step'], 'epoch': state['epoch'], 'loss': sums['loss'] / sums['steps'], 'acc': sums['correct'] / sums['images'], 'lr': lr})
            state['epochSums'] = {'loss': 0, 'correct': 0, 'images': 0, 'steps': 0}
            if state['epoch'] % RUN['eval']['every_epochs'] == 0 or state['step'] == total:
                last_eval_step = run_eval()
            save(last_path, True)
            last_saved = state['step']
        elif args.save_every and state['step'] % args.save_every == 0:
            save(last_path, True)
            last_saved = state['step']
    if last_eval_step != state['step']:
        run_eval()
    if last_saved != state['step']:
        save(last_path, True)
    if world.distributed:
        differ = replicas_differ(model, world)
        say('replicas: %s' % ('the %d processes hold identical weights and allocation state' % world.size if differ == 0 else '%d tensors differ between processes' % differ))
        if args.replica_files:
            write_checkpoint(os.path.join(args.out, 'replica-%d.safetensors' % world.rank), model)
        world.stop()
        return 0 if differ == 0 else 1
    if args.replica_files:
        write_checkpoint(os.path.join(args.out, 'replica-0.safetensors'), model)
    return 0


if __name__ == '__main__':
    sys.exit(main())
