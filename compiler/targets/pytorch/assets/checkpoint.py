"""checkpoint.py: attnc checkpoints for the package's model (docs/checkpoints.md).

A checkpoint is a safetensors file: timm's tensor names and PyTorch layouts, the allocation state of
key_norm blocks (blocks.<i>.attn.alloc.counts I32, .cache and .score F32), the optimizer's slots as
optimizer.<slot>.<parameter> (AdamW: m and v; SGD with momentum: m), and the model and run IR as JSON
in the metadata. Files written here are byte for byte those attnc writes for the same tensors, and
attnc reads them (training resumes across backends).

    ckpt = read_checkpoint('runs/NAME/last.safetensors')   # checked against the model in its metadata
    load_into(model, ckpt)                                  # parameters and allocation state
    write_checkpoint('out.safetensors', model, optimizer=opt, train_state={'step': 100, 'epoch': 1})
"""
import hashlib
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'ir.json'), encoding='utf-8') as _f:
    IR = json.load(_f)
# The package's model and run, as attnc compiled them (the IR JSON goes into every checkpoint).
MODEL_IR = IR['models'][0]
RUN_IR = IR['runs'][0] if IR['runs'] else None
IR_VERSION = IR['irVersion']
ATTNC_VERSION = IR['compiler'].split(' ')[-1]

FORMAT = 'attnc-checkpoint'
META_FORMAT = 'format'
META_VERSION = 'attnc.version'
META_IR_VERSION = 'attnc.ir_version'
META_MODEL = 'attnc.model'
META_RUN = 'attnc.run'
META_TRAIN_STATE = 'attnc.train_state'
# {tensor name: 'sha256:<hex>'} of each tensor's stored bytes, in name order (docs/checkpoints.md).
META_CHECKSUMS = 'attnc.checksums'
OPTIMIZER_PREFIX = 'optimizer.'
MAX_HEADER_BYTES = 100000000

DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool,
}
DTYPE_NAMES = {t: name for name, t in DTYPES.items()}
FLOAT_DTYPES = ('F64', 'F32', 'F16', 'BF16')


class CheckpointError(Exception):
    """Any problem with a checkpoint; the message starts with the file's name."""

    def __init__(self, file, detail):
        super().__init__('%s: %s' % (file, detail))


# ---------------------------------------------------------------------------------------------
# JSON as JavaScript writes it (JSON.stringify): compact, and numbers in JavaScript's format


def js_number(x):
    """Number::toString: JavaScript's shortest round-trip digits (Python's repr has the same digits)."""
    if isinstance(x, bool) or not math.isfinite(x):
        raise ValueError('not a finite number: %r' % (x,))
    if isinstance(x, int) or x == 0:
        return str(int(x))
    mantissa, _, exp = repr(abs(x)).partition('e')
    whole, _, frac = mantissa.partition('.')
    all_digits = whole + frac
    digits = all_digits.lstrip('0')
    n = len(whole) + (int(exp) if exp else 0) - (len(all_digits) - len(digits))  # x = 0.digits * 10^n
    digits = digits.rstrip('0')
    k = len(digits)
    if k <= n <= 21:
        body = digits + '0' * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + '.' + digits[n:]
    elif -6 < n <= 0:
        body = '0.' + '0' * -n + digits
    else:
        e = n - 1
        body = digits[0] + ('.' + digits[1:] if k > 1 else '') + 'e' + ('+' if e >= 0 else '-') + str(abs(e))
    return ('-' if x < 0 else '') + body


def js_json(value):
    """JSON text as JSON.stringify(value) writes it (dict order kept, as JavaScript keeps insertion order)."""
    if value is None:
        return 'null'
    if value is True or value is False:
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return js_number(value) if math.isfinite(value) else 'null'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(js_json(v) for v in value) + ']'
    if isinstance(value, dict):
        return '{' + ','.join(json.dumps(str(k), ensure_ascii=False) + ':' + js_json(v) for k, v in value.items()) + '}'
    raise TypeError('cannot write a %s as JSON' % type(value).__name__)


# ---------------------------------------------------------------------------------------------
# The safetensors format: u64 little-endian N | N bytes of JSON header, space-padded to a multiple of
# 8 | the data buffer, tensors in name order. The header has "__metadata__" first.


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what matters
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder('<'), copy=False).tobytes()


def tensor_checksum(t):
    """'sha256:<hex>' of a tensor's bytes as a safetensors file stores them (attnc.checksums)."""
    return 'sha256:' + hashlib.sha256(_tensor_bytes(t)).hexdigest()


def encode_safetensors(tensors, metadata=None):
    """bytes of a safetensors file of {name: tensor} and {key: string} metadata."""
    header = {}
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise TypeError("safetensors metadata '%s' must be a string, got %s" % (k, type(v).__name__))
        header['__metadata__'] = metadata
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in DTYPE_NAMES:
            raise TypeError('tensor %s: dtype %s has no safetensors name' % (name, t.dtype))
        raw = _tensor_bytes(t)
        header[name] = {'dtype': DTYPE_NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = js_json(header).encode('utf-8')
    pad = (8 - len(text) % 8) % 8
    return struct.pack('<Q', len(text) + pad) + text + b' ' * pad + b''.join(blobs)


def decode_safetensors(data, file='<bytes>'):
    """({name: tensor}, {key: string}) from safetensors bytes, refusing anything malformed."""
    if sys.byteorder != 'little':
        raise CheckpointError(file, 'this reader runs on little-endian hosts only')
    if len(data) < 8:
        raise CheckpointError(file, '%d bytes is too short for a safetensors file' % len(data))
    n = struct.unpack('<Q', data[:8])[0]
    if n > len(data) - 8:
        raise CheckpointError(file, 'the header length %d is beyond the end of the file; it is truncated or not safetensors' % n)
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(file, 'the header length %d exceeds the %d-byte limit' % (n, MAX_HEADER_BYTES))
    try:
        header = json.loads(data[8:8 + n].decode('utf-8'))
    except ValueError as e:
        raise CheckpointError(file, 'the header is not valid UTF-8 JSON (%s)' % e)
    if not isinstance(header, dict):
        raise CheckpointError(file, 'the header is not a JSON object')
    metadata = header.pop('__metadata__', {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(file, '"__metadata__" is not an object of strings')
    start, size = 8 + n, len(data) - 8 - n
    entries = []
    for name, e in header.items():
        if not isinstance(e, dict) or e.get('dtype') not in DTYPES:
            raise CheckpointError(file, 'tensor %s has an unknown dtype %r' % (name, e.get('dtype') if isinstance(e, dict) else e))
        shape, offsets = e.get('shape'), e.get('data_offsets')
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise CheckpointError(file, 'tensor %s has an invalid shape %r' % (name, shape))
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) and o >= 0 for o in offsets) or offsets[0] > offsets[1]:
            raise CheckpointError(file, 'tensor %s has invalid data_offsets %r' % (name, offsets))
        count = math.prod(shape) if shape else 1
        need = count * torch.empty((), dtype=DTYPES[e['dtype']]).element_size()
        if need != offsets[1] - offsets[0]:
            raise CheckpointError(file, 'tensor %s of shape %s (%s) needs %d bytes, its data_offsets span %d' % (name, shape, e['dtype'], need, offsets[1] - offsets[0]))
        entries.append((offsets[0], offsets[1], name, e['dtype'], shape))
    covered = 0
    for begin, end, name, _, _ in sorted(entries):
        if begin != covered:
            raise CheckpointError(file, 'tensor %s starts at byte %d of the data, expected %d (overlap or gap)' % (name, begin, covered))
        covered = end
    if covered != size:
        raise CheckpointError(file, 'the tensors cover %d bytes of a %d-byte data buffer' % (covered, size))
    tensors = {}
    for begin, end, name, dtype, shape in entries:
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=DTYPES[dtype])
        else:
            raw = bytearray(data[start + begin:start + end])  # a copy: the tensor owns its memory
            tensors[name] = torch.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
    return tensors, metadata


# ---------------------------------------------------------------------------------------------
# What a checkpoint of a model holds (runtime/checkpoint/names.ts)


def parameter_specs(m):
    """[(name, shape)] of every parameter of a ModelIR (a dict, as in ir.json), in timm's order."""
    dim, image = m['dim'], m['image']
    specs = [('patch_embed.proj.weight', [dim, image['channels'], m['patch'], m['patch']]), ('patch_embed.proj.bias', [dim])]
    if m['pool'] == 'cls':
        specs.append(('cls_token', [1, 1, dim]))
    specs.append(('pos_embed', [1, m['tokens'], dim]))
    for layer in m['layers']:
        a, b, hidden = layer['attention'], 'blocks.%d' % layer['index'], layer['mlp']['hidden']
        rows = (a['heads'] + 2 * a['kvHeads']) * a['headDim']
        specs += [(b + '.norm1.weight', [dim]), (b + '.norm1.bias', [dim]), (b + '.attn.qkv.weight', [rows, dim])]
        if m['qkvBias']:
            specs.append((b + '.attn.qkv.bias', [rows]))
        specs += [
            (b + '.attn.proj.weight', [dim, a['heads'] * a['headDim']]), (b + '.attn.proj.bias', [dim]),
            (b + '.norm2.weight', [dim]), (b + '.norm2.bias', [dim]),
            (b + '.mlp.fc1.weight', [hidden, dim]), (b + '.mlp.fc1.bias', [hidden]),
            (b + '.mlp.fc2.weight', [dim, hidden]), (b + '.mlp.fc2.bias', [dim]),
        ]
    specs += [('norm.weight', [dim]), ('norm.bias', [dim]), ('head.weight', [m['classes'], dim]), ('head.bias', [m['classes']])]
    return specs


def state_specs(m):
    """[(name, shape, dtype)] of the allocation state of the key_norm blocks of a ModelIR."""
    specs = []
    for layer in m['layers']:
        a = layer['attention']
        if a['allocation']['policy'] != 'uniform':
            b, g = 'blocks.%d.attn.alloc' % layer['index'], [a['kvHeads']]
            specs += [(b + '.counts', g, 'I32'), (b + '.cache', g, 'F32'), (b + '.score', g, 'F32')]
            if a['allocation']['score']['kind'] == 'key_grad':
                specs.append((b + '.key_grad', g, 'F32'))  # the previous step's statistic (attnc's stateSpecs)
    return specs


def _check_group(problems, what, specs, tensors, integer=False):
    missing = []
    for name, shape in specs:
        t = tensors.get(name)
        if t is None:
            missing.append(name)
            continue
        if list(t.shape) != list(shape):
            problems.append('tensor %s has shape %s, the model needs %s' % (name, list(t.shape), list(shape)))
        kind = DTYPE_NAMES[t.dtype]
        if (kind not in ('I32', 'I64')) if integer else (kind not in FLOAT_DTYPES):
            problems.append('tensor %s has dtype %s, expected %s' % (name, kind, 'an integer (I32)' if integer else 'a float'))
    known = set(name for name, _ in specs)
    extra = sorted(n for n in tensors if n not in known)
    if missing:
        problems.append('missing %s (%d): %s' % (what, len(missing), ', '.join(missing[:12])))
    if extra:
        problems.append('%s the model does not have (%d): %s' % (what, len(extra), ', '.join(extra[:12])))


def check_fits(file, m, params, state, optimizer):
    """CheckpointError listing every way the tensors do not fit the ModelIR m."""
    problems = []
    specs = parameter_specs(m)
    _check_group(problems, 'parameters', specs, params)
    _check_group(problems, 'allocation state tensors', [(n, s) for n, s, d in state_specs(m) if d == 'F32'],
                 {n: t for n, t in state.items() if not n.endswith('.counts')})
    _check_group(problems, 'allocation counts', [(n, s) for n, s, d in state_specs(m) if d == 'I32'],
                 {n: t for n, t in state.items() if n.endswith('.counts')}, integer=True)
    for slot, tensors in optimizer.items():
        _check_group(problems, 'optimizer.%s tensors' % slot, specs, tensors)
    if problems:
        raise CheckpointError(file, '%d problem(s) with model %r:\n  %s' % (len(problems), m['name'], '\n  '.join(problems)))


class Checkpoint:
    """params: {name: float32}; state: allocation counts (int32), cache and score (float32);
    optimizer: {slot: {parameter name: float32}}; model, run, train_state: the metadata's JSON (or None)."""

    def __init__(self, params, state, optimizer, model, run, train_state, version, extra):
        self.params, self.state, self.optimizer = params, state, optimizer
        self.model, self.run, self.train_state = model, run, train_state
        self.version, self.extra = version, extra


def _meta_json(metadata, key, file):
    try:
        return json.loads(metadata[key])
    except ValueError as e:
        raise CheckpointError(file, "metadata '%s' is not valid JSON (%s)" % (key, e))


def decode_checkpoint(data, file='<bytes>'):
    tensors, metadata = decode_safetensors(data, file)
    if metadata.get(META_FORMAT) != FORMAT:
        raise CheckpointError(file, "not an attnc checkpoint (metadata 'format' is %r); for timm weights use attnc convert" % metadata.get(META_FORMAT))
    if metadata.get(META_IR_VERSION) != str(IR_VERSION):
        raise CheckpointError(file, "the checkpoint's model is IR version %s, this package reads version %d" % (metadata.get(META_IR_VERSION), IR_VERSION))
    if META_MODEL not in metadata:
        raise CheckpointError(file, "metadata '%s' is missing" % META_MODEL)
    model = _meta_json(metadata, META_MODEL, file)
    run = _meta_json(metadata, META_RUN, file) if META_RUN in metadata else None
    train_state = _meta_json(metadata, META_TRAIN_STATE, file) if META_TRAIN_STATE in metadata else None
    params, state, optimizer = {}, {}, {}
    for name, t in tensors.items():
        if name.startswith(OPTIMIZER_PREFIX):
            slot, _, param = name[len(OPTIMIZER_PREFIX):].partition('.')
            if not slot or not param:
                raise CheckpointError(file, 'tensor %s is not named optimizer.<slot>.<parameter>' % name)
            optimizer.setdefault(slot, {})[param] = t
        elif name.startswith('blocks.') and '.attn.alloc.' in name:
            state[name] = t
        else:
            params[name] = t
    if META_CHECKSUMS in metadata:
        recorded = _meta_json(metadata, META_CHECKSUMS, file)
        if not isinstance(recorded, dict):
            raise CheckpointError(file, "metadata '%s' is not an object of tensor name to checksum; the file is damaged" % META_CHECKSUMS)
        damaged = sorted(n for n, t in tensors.items() if recorded.get(n) != tensor_checksum(t))
        missing = sorted(n for n in recorded if n not in tensors)
        if damaged or missing:
            raise CheckpointError(file, 'tensors %s differ from their checksums; the file was damaged after it was written: use another copy or an earlier checkpoint' % ', '.join((damaged + missing)[:12]))
    check_fits(file, model, params, state, optimizer)
    for group in [params, {n: t for n, t in state.items() if not n.endswith('.counts')}] + list(optimizer.values()):
        for n, t in group.items():
            if not torch.isfinite(t.to(torch.float32)).all():
                raise CheckpointError(file, 'tensor %s holds NaN or infinite values; use an earlier checkpoint' % n)
    params = {n: t.to(torch.float32) for n, t in params.items()}
    state = {n: t.to(torch.int32 if n.endswith('.counts') else torch.float32) for n, t in state.items()}
    optimizer = {s: {n: t.to(torch.float32) for n, t in ts.items()} for s, ts in optimizer.items()}
    known = (META_FORMAT, META_VERSION, META_IR_VERSION, META_MODEL, META_RUN, META_TRAIN_STATE, META_CHECKSUMS)
    extra = {k: v for k, v in metadata.items() if k not in known}
    return Checkpoint(params, state, optimizer, model, run, train_state, metadata.get(META_VERSION, 'unknown'), extra)


def read_checkpoint(path):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(path, 'cannot read the file: %s' % e)
    return decode_checkpoint(data, path)


# ---------------------------------------------------------------------------------------------
# Between a model (and its optimizer) and checkpoint tensors


def model_tensors(model):
    """The model's checkpoint tensors: parameters (float32) and allocation state (counts int32)."""
    params = {n: p.detach().to(torch.float32) for n, p in model.named_parameters()}
    state = {n: b.detach().to(torch.int32 if n.endswith('.counts') else torch.float32)
             for n, b in model.named_buffers() if '.attn.alloc.' in n}
    return params, state


def optimizer_slots(model, optimizer):
    """{slot: {parameter name: tensor}}: AdamW's exp_avg and exp_avg_sq as m and v, SGD's momentum buffer as m."""
    slots = {}
    adam = isinstance(optimizer, torch.optim.AdamW)
    for name, p in model.named_parameters():
        st = optimizer.state.get(p, {})
        if adam:
            slots.setdefault('m', {})[name] = st.get('exp_avg', torch.zeros_like(p)).detach().float()
            slots.setdefault('v', {})[name] = st.get('exp_avg_sq', torch.zeros_like(p)).detach().float()
        elif optimizer.defaults.get('momentum', 0) > 0:
            buf = st.get('momentum_buffer')
            slots.setdefault('m', {})[name] = (torch.zeros_like(p) if buf is None else buf).detach().float()
    return slots


def _adam_step(step, device):
    """torch.optim.Adam(W) keeps its step count as a tensor since PyTorch 1.12, as an int before."""
    major, minor = (int(x) for x in torch.__version__.split('.')[:2])
    return torch.tensor(float(step), device=device) if (major, minor) >= (1, 12) else step


def load_into(model, ckpt, optimizer=None, step=None):
    """Loads parameters and allocation state (and the optimizer's slots, with the steps done)."""
    tensors = dict(ckpt.params)
    tensors.update(ckpt.state)
    model.load_state_dict(tensors, strict=True)
    if optimizer is None:
        return
    if step is None:
        step = (ckpt.train_state or {}).get('step', 0)
    adam = isinstance(optimizer, torch.optim.AdamW)
    needed = ('m', 'v') if adam else (('m',) if optimizer.defaults.get('momentum', 0) > 0 else ())
    for slot in needed:
        if slot not in ckpt.optimizer:
            raise CheckpointError('<checkpoint>', 'no optimizer.%s.* tensors for the optimizer %s' % (slot, type(optimizer).__name__))
    for name, p in model.named_parameters():
        st = optimizer.state[p]
        if adam:
            st['step'] = _adam_step(step, p.device)
            st['exp_avg'] = ckpt.optimizer['m'][name].to(p.device).clone()
            st['exp_avg_sq'] = ckpt.optimizer['v'][name].to(p.device).clone()
        elif needed:
            st['momentum_buffer'] = ckpt.optimizer['m'][name].to(p.device).clone()


def encode_checkpoint(model, optimizer=None, train_state=None, run=RUN_IR, extra_metadata=None):
    """The checkpoint's bytes; refuses NaN or Inf weights (training diverged: keep the last good file)."""
    params, state = model_tensors(model)
    for name, t in params.items():
        if not torch.isfinite(t).all():
            raise CheckpointError('<checkpoint>', '%s holds NaN or Inf values; not saved' % name)
    tensors = dict(params)
    tensors.update(state)
    if optimizer is not None:
        for slot, ts in optimizer_slots(model, optimizer).items():
            for name, t in ts.items():
                tensors[OPTIMIZER_PREFIX + slot + '.' + name] = t
    metadata = dict(extra_metadata or {})
    metadata[META_FORMAT] = FORMAT
    metadata[META_VERSION] = ATTNC_VERSION
    metadata[META_IR_VERSION] = str(IR_VERSION)
    metadata[META_MODEL] = js_json(MODEL_IR)
    if run is not None:
        metadata[META_RUN] = js_json(run)
    if train_state is not None:
        metadata[META_TRAIN_STATE] = js_json(train_state)
    # As attnc writes them: the same tensors give the same bytes, in either language.
    metadata[META_CHECKSUMS] = js_json({name: tensor_checksum(tensors[name]) for name in sorted(tensors)})
    return encode_safetensors(tensors, metadata)


def write_file_atomic(path, data):
    """Writes a temporary file beside path, syncs it and renames it over path: all or nothing."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = '%s.tmp-%d' % (path, os.getpid())
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(path, model, optimizer=None, train_state=None, run=RUN_IR, extra_metadata=None):
    write_file_atomic(path, encode_checkpoint(model, optimizer, train_state, run, extra_metadata))
