#!/usr/bin/env python3
"""The emitted PyTorch package's KDGQA / DGQA attention step against the reference code's way.

One block's attention on the keys of a batch, without gradients: the key norms, the allocation of
query heads to K/V groups, and attention with that grouping, three ways:
  emitted    allocate_on_device + groups_of_heads + index_select (what model.py runs now: no host sync)
  host table the norms to the host (.tolist()), allocate_from_scores there, a head -> group table back
             (what model.py ran before)
  host loop  the norms to the host, allocate_from_scores, then a loop over the groups, each group's
             query heads attending to its K/V head (the reference code's way)
The allocation functions are exec'd from compiler/targets/pytorch/assets/allocation.py, the code the
package emits. Every way gives the same counts and the same output (checked). Timings interleave
the three, best of ROUNDS, on the CPU with torch.set_num_threads(THREADS), or on DEVICE (cuda: each
call timed to its end with torch.cuda.synchronize, bench/gpu.sh).

    python3 bench/torch_alloc.py [--quick]     (ROUNDS=N THREADS=N DEVICE=cpu|cuda change the defaults, 3, 1, cpu)
"""
import math
import os
import sys
import time
from fractions import Fraction

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(HERE, '..', 'compiler', 'targets', 'pytorch', 'assets')
emitted = {'torch': torch, 'math': math, 'Fraction': Fraction}
with open(os.path.join(ASSETS, 'allocation.py')) as f:
    exec(compile(f.read(), 'allocation.py', 'exec'), emitted)
allocate_on_device, groups_of_heads, allocate_from_scores = emitted['allocate_on_device'], emitted['groups_of_heads'], emitted['allocate_from_scores']

QUICK = '--quick' in sys.argv
ROUNDS = int(os.environ.get('ROUNDS', 2 if QUICK else 3))
THREADS = int(os.environ.get('THREADS', 1))
DEVICE = torch.device(os.environ.get('DEVICE', 'cpu'))
REPEAT = 3 if QUICK else 10
# (name, batch, heads, K/V groups, tokens, head dim): the two shapes of docs/benchmarks.md
SHAPES = [('quickstart', 128, 4, 2, 17, 16), ('32 px', 64, 6, 3, 65, 32)]
POLICY = ('minmax', 'largest_remainder', 1)  # key_norm(min: 1)


def attend(q, k, v):
    return ((q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])).softmax(-1) @ v


def scores_of(k, cache, tracked):
    norms = k.square().sum((2, 3)).sqrt().sum(0)  # [G]: the batch's summed key norms
    return cache * 0.9 + norms * 0.1 if tracked else norms  # DGQA: ema(decay: 0.9) of the norms


def emitted_way(q, k, v, cache, tracked):
    counts = allocate_on_device(scores_of(k, cache, tracked)[None], q.shape[1], *POLICY)[0]
    table = groups_of_heads(counts, q.shape[1])
    return attend(q, k.index_select(1, table), v.index_select(1, table)), counts


def host_table_way(q, k, v, cache, tracked):
    counts = allocate_from_scores(scores_of(k, cache, tracked).tolist(), q.shape[1], *POLICY)
    table = torch.tensor([g for g, c in enumerate(counts) for _ in range(c)], dtype=torch.int64, device=q.device)
    return attend(q, k.index_select(1, table), v.index_select(1, table)), counts


def host_loop_way(q, k, v, cache, tracked):
    counts = allocate_from_scores(scores_of(k, cache, tracked).tolist(), q.shape[1], *POLICY)
    outs, start = [], 0
    for g, c in enumerate(counts):
        if c:
            outs.append(attend(q[:, start:start + c], k[:, g:g + 1], v[:, g:g + 1]))
        start += c
    return torch.cat(outs, 1), counts


WAYS = [('emitted (device)', emitted_way), ('host table (before)', host_table_way), ('host loop (reference)', host_loop_way)]


def sync():
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize(DEVICE)


def timed(fn, *args):
    sync()
    start = time.perf_counter()
    for _ in range(REPEAT):
        fn(*args)
    sync()
    return (time.perf_counter() - start) / REPEAT * 1000


def main():
    torch.set_num_threads(THREADS)
    gen = torch.Generator().manual_seed(1)
    rows = []
    with torch.no_grad():
        for name, batch, heads, groups, tokens, hd in SHAPES:
            q = torch.randn(batch, heads, tokens, hd, generator=gen).to(DEVICE)
            # Groups of different scale, so that the allocation is uneven.
            k = (torch.randn(batch, groups, tokens, hd, generator=gen) * torch.linspace(0.5, 2, groups)[None, :, None, None]).to(DEVICE)
            v = torch.randn(batch, groups, tokens, hd, generator=gen).to(DEVICE)
            cache = torch.linspace(30, 10, groups).to(DEVICE)
            for variant, tracked in (('KDGQA', False), ('DGQA', True)):
                results = [way(q, k, v, cache, tracked) for _, way in WAYS]
                for out, counts in results[1:]:
                    assert results[0][1].tolist() == list(counts), (results[0][1], counts)
                    assert torch.allclose(results[0][0], out, atol=1e-5), 'the ways disagree'
                best = [math.inf] * len(WAYS)
                for _ in range(ROUNDS):
                    for i, (_, way) in enumerate(WAYS):
                        best[i] = min(best[i], timed(way, q, k, v, cache, tracked))
                rows.append((name, batch, heads, groups, variant, results[0][1].tolist(), best))
    where = 'CPU, torch.set_num_threads(%d)' % THREADS if DEVICE.type == 'cpu' else '%s (%s)' % (DEVICE, torch.cuda.get_device_name(DEVICE))
    print('torch %s, %s, best of %d rounds of %d calls, no gradients; policy key_norm(min: 1)%s'
          % (torch.__version__, where, ROUNDS, REPEAT, ' (DGQA: tracked ema(decay: 0.9))'))
    print()
    print('| shape | batch | heads / K/V | variant | counts | ' + ' | '.join('%s ms' % n for n, _ in WAYS) + ' | host table / emitted | host loop / emitted |')
    print('|---|---:|---|---|---|' + '---:|' * (len(WAYS) + 2))
    for name, batch, heads, groups, variant, counts, best in rows:
        print('| %s | %d | %d / %d | %s | %s | %s | %.2fx | %.2fx |' % (
            name, batch, heads, groups, variant, counts, ' | '.join('%.3f' % b for b in best), best[1] / best[0], best[2] / best[0]))


if __name__ == '__main__':
    main()
