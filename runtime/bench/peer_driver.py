"""attnc bench's PyTorch peer (runtime/bench/peer.ts): runs an emitted package's train.py in this
process, then times its model's evaluation, and prints one line `attnc-bench-peer {json}` with the
process's memory.

    python3 peer_driver.py PACKAGE THREADS EVAL_BATCHES DEVICE -- TRAIN_PY_ARGS...

Training is train.py's own loop, unchanged (its progress lines carry the rate peer.ts reads).
Evaluation is what train.py's evaluate() does per batch (eval mode, no gradient, NHWC -> NCHW view),
timed over EVAL_BATCHES batches of the test split after one untimed batch, on a model of the same
seed (the cost of a forward pass does not depend on the weights' values), on DEVICE (cpu or cuda,
where the timing waits for the device to finish).
Memory: the resident set just after `import torch` (the baseline, as attnc's is measured after its
backend has loaded) and the process's peak (getrusage's ru_maxrss, kilobytes on Linux).
"""
import json
import os
import resource
import runpy
import sys
import time

PAGE = os.sysconf('SC_PAGE_SIZE')


def rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * PAGE


def main(argv):
    package, threads, eval_batches, device = argv[0], int(argv[1]), int(argv[2]), argv[3]
    train_args = argv[argv.index('--') + 1:]
    import torch
    torch.set_num_threads(threads)
    baseline = rss_bytes()
    sys.path.insert(0, package)
    train = runpy.run_path(os.path.join(package, 'train.py'), run_name='attnc_bench_peer')
    status = train['main'](train_args)
    if status:
        return status
    run, model_table = train['RUN'], train['MODEL']
    model = train['VisionTransformer'](seed=run['seed']).to(device)
    model.eval()

    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    test = train['load_dataset'](run['data'], 'test', model_table['image'], model_table['classes'], package)
    batches = list(train['eval_batches'](test, run['eval']['batch'], run['normalize']))
    eval_rate = None
    if eval_batches > 0 and batches:
        with torch.no_grad():
            def one(i):
                x, _ = batches[i % len(batches)]
                model(torch.from_numpy(x).to(device).permute(0, 3, 1, 2), step=0)
            one(0)
            sync()
            started = time.perf_counter()
            images = 0
            for i in range(eval_batches):
                one(i)
                images += len(batches[i % len(batches)][1])
            sync()
            eval_rate = images / (time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('attnc-bench-peer ' + json.dumps({'evalImagesPerSec': eval_rate, 'baselineRssBytes': baseline, 'peakRssBytes': peak}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
