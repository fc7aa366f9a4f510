"""Shape descriptor of a work: its drawing trimmed, centred on a square, at 32x32.

The pHash sees the whole canvas, so a resize that moves the white margin's
median coefficients flips many of its bits. The shape descriptor is the
drawing itself (white margin trimmed, padded square on white), small enough
to store in the inventory and compare pixel by pixel: a candidate pair is
confirmed only where no part of one drawing is missing from the other.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

SHAPE_SIDE = 32
# A pixel is ink when a channel is at least this far below white (JPEG noise
# ringing next to a dark edge stays under it).
INK_LEVEL = 48
# Largest mean difference of the 8x8 block means for a pair to be compared
# in full (resized and re-encoded copies stay under 13 on Open Clip Art).
COARSE_LIMIT = 16
CHUNK = 64  # kept shapes compared in full at a time


def shape_signature(view: Image.Image) -> str:
    """Grey 32x32 thumbnail of the trimmed, square-padded drawing, as hex ('' if blank)."""
    rgb = view.convert("RGB")
    ink = ImageChops.invert(rgb).point(lambda v: 255 if v >= INK_LEVEL else 0)
    box = ink.getbbox()
    if box is None:
        return ""  # nothing drawn: a blank canvas matches no work
    drawing = rgb.crop(box).convert("L")
    side = max(drawing.size)
    square = Image.new("L", (side, side), 255)
    square.paste(drawing, ((side - drawing.width) // 2, (side - drawing.height) // 2))
    thumb = square.resize((SHAPE_SIDE, SHAPE_SIDE), Image.Resampling.BILINEAR)
    return thumb.tobytes().hex()


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
) -> np.ndarray:
    """Ink of each kept thumbnail and `shape` that the other lacks, over both inks.

    Each argument is (thumbnails, their `spreads` low, high). Each pixel
    counts only what it differs from the other's 3x3 neighbourhood (a resize
    moves the trim by a pixel); relative to the ink of both, so thin line
    drawings weigh as much as filled ones. 0: same, about 1: disjoint.
    """
    a, a_lo, a_hi = (x.astype(np.int16, copy=False) for x in kept)
    b, b_lo, b_hi = (x.astype(np.int16, copy=False)[None] for x in shape)
    ab = np.maximum(a - b_hi, b_lo - a)
    ba = np.maximum(b - a_hi, a_lo - b)
    apart = np.maximum(np.maximum(ab, ba), 0).sum(axis=(1, 2))
    ink = (255 - a).sum(axis=(1, 2)) + (255 - b).sum(axis=(1, 2))
    return apart / np.maximum(ink, 1)


class ShapeIndex:
    """Shapes of the works, and the coarse views of those kept so far."""

    def __init__(self, shapes: list[str], max_difference: float):
        self.drawn = np.array([bool(s) for s in shapes])
        thumbs = shape_array(shapes)
        low, high = spreads(thumbs)
        self.pixels = tuple(x.astype(np.int16) for x in (thumbs, low, high))
        self.levels = [coarse_shapes(thumbs, grid) for grid in (2, 4, 8)]
        self.kept = [np.empty_like(level) for level in self.levels]
        self.max_difference = max_difference

    def keep(self, slot: int, index: int) -> None:
        """Record work `index` as the kept work number `slot`."""
        for level, kept in zip(self.levels, self.kept, strict=True):
            kept[slot] = level[index]

    def first_close(self, index: int, order: np.ndarray, limit: int, accept) -> int:
        """First of the kept works before `limit` (rows of `order`, their input
        indices) whose shape is close and that `accept` keeps; `limit` if none.

        Full shapes are compared in kept order, a chunk at a time, and stop at
        the first match: a star polygon has hundreds of close kept siblings.
        """
        first = np.abs(self.kept[0][:limit] - self.levels[0][index]).mean(axis=1)
        rows = np.flatnonzero(first <= COARSE_LIMIT)
        for level, kept in zip(self.levels[1:], self.kept[1:], strict=True):
            near = np.abs(kept[rows] - level[index]).mean(axis=1)
            rows = rows[near <= COARSE_LIMIT]
        mine = tuple(x[index] for x in self.pixels)
        for start in range(0, rows.size, CHUNK):
            chunk = rows[start : start + CHUNK]
            picked = order[chunk]
            same = shape_differences(tuple(x[picked] for x in self.pixels), mine)
            found = accept(chunk[same <= self.max_difference])
            if found.size:
                return int(found[0])
        return limit
