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


def _spread(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each pixel's 3x3 neighbourhood (edges padded)."""
    p = np.pad(a, [(0, 0), (1, 1), (1, 1)], mode="edge")
    h, w = a.shape[1:]
    stack = np.stack(
        [p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0
    )
    return stack.min(axis=0), stack.max(axis=0)


def coarse_shapes(shapes: np.ndarray) -> np.ndarray:
    """(n, 64) means of an 8x8 grid of 4x4-pixel blocks: a cheap first look."""
    side = SHAPE_SIDE // 4
    blocks = shapes.reshape(-1, side, 4, side, 4).astype(np.float32)
    return blocks.mean(axis=(2, 4)).reshape(-1, side * side)


def shape_differences(kept: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Ink of each kept thumbnail and `shape` that the other lacks, over both inks.

    Each pixel counts only what it differs from the other's 3x3 neighbourhood
    (a resize moves the trim by a pixel); relative to the ink of both, so thin
    line drawings weigh as much as filled ones. 0: same, about 1: disjoint.
    """
    a = kept.astype(np.int16)
    b = shape.astype(np.int16)[None]
    a_lo, a_hi = _spread(a)
    b_lo, b_hi = _spread(b)
    ab = np.maximum(a - b_hi, b_lo - a).clip(min=0)
    ba = np.maximum(b - a_hi, a_lo - b).clip(min=0)
    ink = (255 - a).sum(axis=(1, 2)) + (255 - b).sum(axis=(1, 2))
    return np.maximum(ab, ba).sum(axis=(1, 2)) / np.maximum(ink, 1)
