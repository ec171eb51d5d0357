// data.py, part 3: the augmentations (attnc's runtime/data: augment.ts, geometry.ts, color.ts,
// randaugment.ts) in Python, every choice from the image's own Rng. data-code.ts puts the parts together.
export const DATA_AUGMENT = String.raw`# ---------------------------------------------------------------------------------------------
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


`;
