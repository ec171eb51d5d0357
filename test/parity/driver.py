"""The Python side of the parity suite (test/parity/*.test.ts): runs jobs against emitted attnc PyTorch
packages and writes what they computed, for the tests to compare with the TensorFlow.js backend.

    /usr/bin/python3 driver.py JOBS.json

JOBS.json is a list of jobs; each names its package folder and an `out` folder, where the driver writes
result.json (and safetensors files for tensors). Tensors travel as safetensors (the package's own
checkpoint.py) or raw little-endian float32 files; everything else as JSON.
"""
import importlib
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
PACKAGE_MODULES = ('model', 'checkpoint', 'data', 'train')


def load_package(folder):
    """The package's modules, imported as train.py imports its siblings (top-level names)."""
    for name in PACKAGE_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, folder)
    try:
        mods = {}
        for name in PACKAGE_MODULES:
            if os.path.exists(os.path.join(folder, name + '.py')):
                mods[name] = importlib.import_module(name)
        return mods
    finally:
        sys.path.remove(folder)


def read_f32(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype='<f4').reshape(shape).copy())


def nchw(images):
    return images.permute(0, 3, 1, 2).contiguous()


def build(mods, job):
    """The model with the job's checkpoint (parameters and allocation state) and seed."""
    model = mods['model'].VisionTransformer(seed=job['seed'])
    if job.get('checkpoint'):
        mods['checkpoint'].load_into(model, mods['checkpoint'].read_checkpoint(job['checkpoint']))
    return model


def alloc_state(model):
    return {n: b.tolist() for n, b in model.named_buffers() if '.attn.alloc.' in n}


def write_tensors(mods, path, tensors):
    with open(path, 'wb') as f:
        f.write(mods['checkpoint'].encode_safetensors({n: t.detach().contiguous() for n, t in tensors.items()}))


def job_forward(mods, job):
    """Passes on one model, each in eval or training mode, on the job's images or the pass's own: logits,
    counts and state after each; with labels, the loss and every parameter's gradient."""
    model = build(mods, job)
    passes = []
    for p in job['passes']:
        model.train(p['training'])
        x = nchw(read_f32(p.get('images', job.get('images')), p.get('shape', job.get('shape'))))
        logits = model(x, step=p['step'], epoch_step=p.get('epoch_step'), micro_batch=p.get('micro_batch', 0))
        entry = {'logits': logits.detach().flatten().tolist(), 'allocations': model.allocations(), 'state': alloc_state(model)}
        if p.get('labels') is not None:
            y = torch.tensor(p['labels'], dtype=torch.int64)
            loss = torch.nn.functional.cross_entropy(logits, y, label_smoothing=p.get('label_smoothing', 0.0))
            model.zero_grad(set_to_none=True)
            loss.backward()
            entry['loss'] = loss.item()
            grads = os.path.join(job['out'], 'grads-%d.safetensors' % len(passes))
            write_tensors(mods, grads, {n: q.grad for n, q in model.named_parameters()})
            entry['grads'] = grads
        passes.append(entry)
    return {'passes': passes}


def job_train(mods, job):
    """Optimizer steps of train.py's train_step on given batches; the state after each step, the weights at the end."""
    train = mods['train']
    model = build(mods, job)
    model.train()
    optimizer = train.make_optimizer(model)
    world = train.World({})
    world.device = torch.device('cpu')
    steps = []
    for s, batch in enumerate(job['batches']):
        x = nchw(read_f32(batch['images'], batch['shape']))
        y = torch.tensor(batch['labels'], dtype=torch.int64)
        lr = train.learning_rate(s, job['total_steps'])
        r = train.train_step(model, model, optimizer, x, y, s, batch.get('epoch_step', s), lr, world)
        steps.append({'lr': lr, 'loss': r['loss'], 'grad_norm': r['grad_norm'], 'taken': r['taken'], 'state': alloc_state(model)})
    final = os.path.join(job['out'], 'final.safetensors')
    write_tensors(mods, final, dict(model.named_parameters()))
    return {'steps': steps, 'final': final}


def job_checkpoint(mods, job):
    """Reads an attnc checkpoint into the model (and an optimizer, from its train.py) and writes it back."""
    model = build(mods, job)
    optimizer = None
    if job.get('optimizer'):
        optimizer = mods['train'].make_optimizer(model)
        ckpt = mods['checkpoint'].read_checkpoint(job['checkpoint'])
        mods['checkpoint'].load_into(model, ckpt, optimizer)
    out = os.path.join(job['out'], 'python.safetensors')
    mods['checkpoint'].write_checkpoint(out, model, optimizer, job.get('train_state'))
    return {'file': out}


def job_data(mods, job):
    """A split of a run's data as data.py loads it, and some of its training and evaluation batches."""
    data = mods['data']
    ds = data.load_dataset(job['data'], job['split'], job['image'], job['classes'], job['base_dir'])
    images = os.path.join(job['out'], 'images.u8')
    ds.images.tofile(images)
    batches = []
    for b in job.get('batches', []):
        epoch = data.TrainEpoch(ds, job['batch'], job['seed'], b['epoch'], job['augment'], job['normalize'])
        x, y = epoch.batch(b['k'], b.get('positions'))
        path = os.path.join(job['out'], 'batch-%d.f32' % len(batches))
        x.astype('<f4').tofile(path)
        batches.append({'x': path, 'y': y.tolist()})
    x, y = next(data.eval_batches(ds, job['batch'], job['normalize']))
    evals = os.path.join(job['out'], 'eval.f32')
    x.astype('<f4').tofile(evals)
    return {'images': images, 'shape': list(ds.images.shape), 'labels': ds.labels.tolist(), 'classes': ds.classes,
            'batches': batches, 'eval': {'x': evals, 'y': y.tolist()}}


def job_sdpa(mods, job):
    """The fused-attention path of PyTorch 2 (F.scaled_dot_product_attention), which torch 1.13 lacks: a
    stand-in with its signature and math is installed, and the logits compared with the hand-written path."""
    calls = []

    def sdpa(q, k, v):
        calls.append(tuple(q.shape))
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v

    model_module = mods['model']
    model = build(mods, job)
    x = nchw(read_f32(job['images'], job['shape']))
    out = {}
    for mode in ('eval', 'train'):
        model.train(mode == 'train')
        model_module.HAS_SDPA = False
        with torch.no_grad():
            hand = model(x, step=1)
        original = getattr(model_module.F, 'scaled_dot_product_attention', None)
        model_module.HAS_SDPA, model_module.F.scaled_dot_product_attention = True, sdpa
        try:
            with torch.no_grad():
                fused = model(x, step=1)
        finally:
            model_module.HAS_SDPA = hasattr(model_module.F, 'scaled_dot_product_attention') and original is not None
            if original is None:
                del model_module.F.scaled_dot_product_attention
            else:
                model_module.F.scaled_dot_product_attention = original
        out[mode] = {'max_abs_diff': (hand - fused).abs().max().item(), 'calls': len(calls)}
        calls.clear()
    return out


class OnDevice:
    """allocate_on_device of model.py for one row of scores given as JSON numbers (or 'NaN', 'Infinity'), as float32."""

    def __init__(self, model_module):
        self.model = model_module

    def allocate(self, scores, heads, scale, rounding, min_per_group):
        row = torch.tensor([[float(s) for s in scores]], dtype=torch.float32)
        return self.model.allocate_on_device(row, heads, scale, rounding, min_per_group)[0]


def job_call(mods, job):
    """Calls module functions on JSON arguments: {'calls': [[module, function, args...], ...]}; module
    'device' is OnDevice over model.py."""
    results = []
    for module, function, *args in job['calls']:
        target = OnDevice(mods['model']) if module == 'device' else mods[module]
        value = getattr(target, function)(*args)
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        results.append(value)
    return {'results': results}


JOBS = {'forward': job_forward, 'train': job_train, 'checkpoint': job_checkpoint, 'data': job_data, 'sdpa': job_sdpa, 'call': job_call}


def main(path):
    with open(path) as f:
        jobs = json.load(f)
    for job in jobs:
        os.makedirs(job['out'], exist_ok=True)
        mods = load_package(job['package'])
        result = JOBS[job['kind']](mods, job)
        with open(os.path.join(job['out'], 'result.json'), 'w') as f:
            json.dump(result, f)


if __name__ == '__main__':
    main(sys.argv[1])
