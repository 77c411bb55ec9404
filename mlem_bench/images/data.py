"""Image data for the UNet track: a folder of the user's images, or a procedural stand-in.

Nothing is downloaded. CelebA (or any folder of JPEG/PNG files) is the user's to supply;
`stand_in` renders a seeded set of images in-process for tests and for runs without real
data. It is a stand-in, not CelebA: overlapping shapes of random colour, size and
orientation on smooth gradient backgrounds with sinusoidal texture, so there is detail at
every scale and larger models keep improving on it.
"""
from pathlib import Path

import numpy as np

from ..errors import SpecError

EXTENSIONS = (".jpg", ".jpeg", ".png")


def load_folder(folder, resolution=64, limit=None):
    """Images of `folder` (JPEG/PNG, sorted by name), centre-cropped to a square and
    resized to resolution x resolution: float32 array (n, 3, R, R) in [-1, 1]."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"[data].folder: {folder} is not a folder; point it at a folder of JPEG/PNG images "
                        f"(for CelebA: the img_align_celeba folder), or set [data].stand_in = true")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    if limit:
        files = files[:limit]
    if not files:
        raise SpecError(f"[data].folder: {folder} holds no .jpg/.jpeg/.png files")
    out = np.empty((len(files), 3, resolution, resolution), dtype=np.float32)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                im = im.resize((resolution, resolution), Image.BICUBIC)
                a = np.asarray(im, dtype=np.float32)
        except (OSError, UnidentifiedImageError) as e:
            raise SpecError(f"[data].folder: cannot read image {f} ({e}); remove it or fix it") from None
        out[i] = a.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def stand_in(n, resolution=64, seed=0):
    """n procedural RGB images (float32 (n, 3, R, R) in [-1, 1]); image i depends on (seed, i) only."""
    r = resolution
    yy, xx = np.meshgrid(np.linspace(-1, 1, r), np.linspace(-1, 1, r), indexing="ij")
    out = np.empty((n, 3, r, r), dtype=np.float32)
    for i in range(n):
        g = np.random.default_rng([seed, i])
        # background: a colour gradient in a random direction plus a faint texture
        a = g.uniform(0, 2 * np.pi)
        ramp = np.cos(a) * xx + np.sin(a) * yy
        c0, c1 = g.uniform(-1, 1, 3), g.uniform(-1, 1, 3)
        img = c0[:, None, None] + 0.5 * (c1 - c0)[:, None, None] * (ramp + 1)[None]
        k = g.uniform(2, 8, 2)
        img += 0.15 * np.sin(np.pi * (k[0] * xx + k[1] * yy) + g.uniform(0, 2 * np.pi))[None]
        for _ in range(g.integers(2, 6)):
            cx, cy = g.uniform(-0.8, 0.8, 2)
            sx, sy = g.uniform(0.1, 0.5, 2)
            th = g.uniform(0, np.pi)
            u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
            v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
            if g.random() < 0.5:
                mask = (u / sx) ** 2 + (v / sy) ** 2 <= 1                 # ellipse
            else:
                mask = (np.abs(u) <= sx) & (np.abs(v) <= sy)              # rectangle
            col = g.uniform(-1, 1, 3)
            stripes = 0.2 * np.sin(np.pi * g.uniform(3, 12) * u)          # texture inside the shape
            img = np.where(mask[None], col[:, None, None] + stripes[None], img)
        out[i] = np.clip(img, -1, 1)
    return out


def dataset(spec, limit=None):
    """The training images of the spec (the first `limit` of them): the user's folder or the
    procedural stand-in."""
    d = spec["data"]
    n = d["n_images"] if limit is None else min(limit, d["n_images"])
    if d["stand_in"]:
        return stand_in(n, d["resolution"], seed=spec["ladder"]["seed"])
    return load_folder(d["folder"], d["resolution"], limit=n)
