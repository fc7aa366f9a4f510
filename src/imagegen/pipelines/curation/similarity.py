"""Shape descriptor of a work: its drawing trimmed, centred on a square, at 32x32.

The pHash sees the whole canvas, so a resize that moves the white margin's
median coefficients flips many of its bits. The shape descriptor is the
drawing itself (white margin trimmed, padded square on white), small enough
to store in the inventory and compare pixel by pixel: a candidate pair is
confirmed only where no part of one drawing is missing from the other.

Nothing is binarised: a 1-px line halved by a resize or smeared by JPEG
keeps its ink mass but not its pixels, so the trim is placed by ink mass and
the thumbnail is blurred by about one of its pixels before it is sampled.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

SHAPE_SIDE = 32
# Darkness (255 - the darkest channel) under this is JPEG or dither noise on
# the white margin, not drawing: it does not place the trim.
NOISE_LEVEL = 16
# Share of the ink mass left out on each side when trimming: faint line tips
# and stray specks move a threshold bounding box, not the mass quantiles.
TRIM_SHARE = 0.002
# Darkest channel value -> ink (255 - value), 0 under NOISE_LEVEL.
_INK_TABLE = [255 - v if 255 - v >= NOISE_LEVEL else 0 for v in range(256)]
# Less ink than one black pixel: nothing is drawn.
MIN_INK = 255
# The trimmed square is sampled at 4x the thumbnail and blurred by one
# thumbnail pixel first: aliased thin lines (a palette image resized with
# nearest neighbours, a half-size JPEG) then keep their local ink mass.
WORK_SIDE = 4 * SHAPE_SIDE
BLUR_RADIUS = 4
# Largest mean difference of the 2x2, 4x4 and 8x8 block means for a pair to
# be compared in full: resized and re-encoded copies stay under 7.1 (4.6 where
# caught), flagged pairs of the whole Open Clip Art set under 11.1; 16 cost
# twice the CPU for the same flags.
COARSE_LIMIT = 10
CHUNK = 64  # kept shapes compared in full at a time


def _mass_edges(profile: np.ndarray) -> tuple[float, float]:
    """Positions (px, fractional) where the ink mass passes TRIM_SHARE and 1 - it."""
    cum = np.concatenate([[0.0], np.cumsum(profile)])
    pos = np.arange(cum.size, dtype=np.float64)
    total = cum[-1]
    return (
        float(np.interp(TRIM_SHARE * total, cum, pos)),
        float(np.interp((1 - TRIM_SHARE) * total, cum, pos)),
    )


def drawing_box(rgb: Image.Image) -> tuple[float, float, float, float] | None:
    """Square box (fractional px) around the drawing's ink mass; None if blank."""
    # Pillow's per-band ops and a lookup table: numpy's min over the channel
    # axis of an (h, w, 3) array costs more than the rest of the signature.
    red, green, blue = rgb.convert("RGB").split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    ink = np.asarray(darkest.point(_INK_TABLE), dtype=np.uint8)
    if ink.sum(dtype=np.int64) < MIN_INK:
        return None
    x0, x1 = _mass_edges(ink.sum(axis=0, dtype=np.float64))
    y0, y1 = _mass_edges(ink.sum(axis=1, dtype=np.float64))
    half = max(x1 - x0, y1 - y0, 1.0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cy - half, cx + half, cy + half)


def square_crop(image: Image.Image, box: tuple, side: int) -> Image.Image:
    """`box` of `image` (white beyond its edges), area-averaged to side x side."""
    pad = int(
        np.ceil(max(0.0, -box[0], -box[1], box[2] - image.width, box[3] - image.height))
    )
    if pad:
        image = ImageOps.expand(image, pad + 1, fill="white")
        box = tuple(b + pad + 1 for b in box)
    return image.resize((side, side), Image.Resampling.BOX, box=box)


def drawing_signatures(view: Image.Image, grid: int) -> tuple[str, str]:
    """Grid colours and grey shape of the trimmed, square drawing, as hex.

    Blank ('' shape): nothing drawn; its colours are then those of the canvas.
    """
    rgb = view.convert("RGB")
    box = drawing_box(rgb)
    if box is None:
        cells = rgb.resize((grid, grid), Image.Resampling.BOX)
        return cells.tobytes().hex(), ""
    cells = square_crop(rgb, box, grid).tobytes().hex()
    work = square_crop(rgb.convert("L"), box, WORK_SIDE)
    thumb = work.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)).resize(
        (SHAPE_SIDE, SHAPE_SIDE), Image.Resampling.BILINEAR
    )
    return cells, thumb.tobytes().hex()


def shape_signature(view: Image.Image) -> str:
    """Grey 32x32 thumbnail of the trimmed, square-padded drawing, as hex ('' if blank)."""
    return drawing_signatures(view, 4)[1]


def shape_array(shapes: list[str]) -> np.ndarray:
    """(n, 32, 32) uint8 thumbnails; blank works as all-white."""
    blank = "ff" * SHAPE_SIDE * SHAPE_SIDE
    data = bytes.fromhex("".join(s or blank for s in shapes))
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, SHAPE_SIDE, SHAPE_SIDE)


def spreads(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each pixel's 3x3 neighbourhood (edges padded), per thumbnail."""
    padded = np.pad(shapes, [(0, 0), (1, 1), (1, 1)], mode="edge")
    low, high = shapes.copy(), shapes.copy()
    for i in range(3):
        for j in range(3):
            window = padded[:, i : i + SHAPE_SIDE, j : j + SHAPE_SIDE]
            np.minimum(low, window, out=low)
            np.maximum(high, window, out=high)
    return low, high


def coarse_shapes(shapes: np.ndarray, grid: int = 8) -> np.ndarray:
    """(n, grid * grid) block means: a cheap first look at every kept work.

    The mean difference of coarser blocks never exceeds that of finer ones,
    so looking at 2x2, then 4x4, then 8x8 blocks drops no pair of the last.
    """
    side = SHAPE_SIDE // grid
    blocks = shapes.reshape(-1, grid, side, grid, side).astype(np.float32)
    return blocks.mean(axis=(2, 4)).reshape(-1, grid * grid)


def shape_differences(
    kept: tuple[np.ndarray, np.ndarray, np.ndarray],
    shape: tuple[np.ndarray, np.ndarray, np.ndarray],
    inks: tuple[np.ndarray, int] | None = None,
) -> np.ndarray:
    """Ink of each kept thumbnail and `shape` that the other lacks, over both inks.

    Each argument is (thumbnails, their `spreads` low, high). Each pixel
    counts only what it differs from the other's 3x3 neighbourhood (a resize
    moves the trim by a pixel); relative to the ink of both, so thin line
    drawings weigh as much as filled ones. 0: same, about 1: disjoint.
    `inks`: the kept thumbnails' and `shape`'s ink sums, when known.
    """
    a, a_lo, a_hi = (x.astype(np.int16, copy=False) for x in kept)
    b, b_lo, b_hi = (x.astype(np.int16, copy=False)[None] for x in shape)
    ab = a - b_hi
    np.maximum(ab, b_lo - a, out=ab)
    ba = b - a_hi
    np.maximum(ba, a_lo - b, out=ba)
    np.maximum(ab, ba, out=ab)
    np.maximum(ab, 0, out=ab)
    apart = ab.reshape(len(ab), -1).sum(axis=1)
    if inks is None:
        inks = ((255 - a).sum(axis=(1, 2)), int((255 - b).sum()))
    return apart / np.maximum(inks[0] + inks[1], 1)


class ShapeIndex:
    """Shapes of the works, and for each work the earlier ones coarsely close."""

    def __init__(self, shapes: list[str], max_difference: float):
        from scipy.spatial import cKDTree

        self.drawn = np.array([bool(s) for s in shapes])
        thumbs = shape_array(shapes)
        low, high = spreads(thumbs)
        # One (n, 3, 32, 32) array: a single gather per chunk of kept works.
        self.stacked = np.stack([thumbs, low, high], axis=1).astype(np.int16)
        pixels = thumbs.reshape(len(thumbs), -1)
        self.ink = 255 * pixels.shape[1] - pixels.sum(axis=1, dtype=np.int64)
        self.max_difference = max_difference
        # Coarse candidates of all works at once, before the sequential pass:
        # 2x2 block means through a k-d tree (L1 within 4 x the limit), then
        # 8x8 block means (which bound the 2x2 and 4x4 ones from above).
        two, eight = coarse_shapes(thumbs, 2), coarse_shapes(thumbs, 8)
        pairs = cKDTree(two).query_pairs(r=4 * COARSE_LIMIT, p=1, output_type="ndarray")
        close = np.zeros(len(pairs), dtype=bool)
        for start in range(0, len(pairs), 16384):
            a, b = pairs[start : start + 16384].T
            close[start : start + 16384] = (
                np.abs(eight[a] - eight[b]).mean(axis=1) <= COARSE_LIMIT
            )
        pairs = np.sort(pairs[close], axis=1)  # (earlier, later)
        pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
        self.earlier = pairs[:, 0]
        self.starts = np.searchsorted(pairs[:, 1], np.arange(len(shapes) + 1))
        self.slot = np.full(len(shapes), -1, dtype=np.int64)

    def keep(self, slot: int, index: int) -> None:
        """Record work `index` as the kept work number `slot`."""
        self.slot[index] = slot

    def differences(self, index: int, rows: np.ndarray) -> np.ndarray:
        """Shape difference of work `index` to each of the works `rows` (input indices)."""
        return shape_differences(
            tuple(self.stacked[rows].swapaxes(0, 1)),
            tuple(self.stacked[index]),
            (self.ink[rows], int(self.ink[index])),
        )

    def first_close(self, index: int, order: np.ndarray, limit: int, accept) -> int:
        """First of the kept works before `limit` (rows of `order`, their input
        indices) whose shape is close and that `accept` keeps; `limit` if none.

        Full shapes are compared in kept order, a chunk at a time, and stop at
        the first match: a star polygon has hundreds of close kept siblings.
        """
        rows = self.slot[self.earlier[self.starts[index] : self.starts[index + 1]]]
        rows = rows[(rows >= 0) & (rows < limit)]  # kept order is input order
        for start in range(0, rows.size, CHUNK):
            chunk = rows[start : start + CHUNK]
            same = self.differences(index, order[chunk])
            found = accept(chunk[same <= self.max_difference])
            if found.size:
                return int(found[0])
        return limit
