"""Compact image fingerprints that survive laundering: resize, re-encode, small crops.

The descriptor is the central 80% x 80% of the image (greyscale), averaged
down to 8x8 cells, centred and scaled to unit length: 64 numbers. Resizing and
re-encoding move it little; brightness and contrast changes cancel out (centred,
unit length); a crop of up to 10% per side keeps the central region inside the
copy, so a lookup tries a grid of crop hypotheses (which sides were cut, by how
much) and keeps the best cosine similarity. pHash alone moved 20 of 64 bits on
a 28x28 image resized to 90% and saved as JPEG q85.

Hand-written because the match needs this crop-hypothesis search over a
memory-mapped matrix, and the brute-force product (numpy, BLAS) takes well
under a second at 1,000,000 entries (benchmarks/fingerprints.py), so no
approximate-neighbour library is needed.
"""

from __future__ import annotations

import base64
import itertools
from functools import lru_cache

import numpy as np
from PIL import Image

CELLS = 8
DIMS = CELLS * CELLS
MARGIN = 0.1  # share of each side outside the central region
# Cuts tried per side at lookup: a copy may have lost up to MARGIN of each side.
CUTS = (0.0, 0.05, 0.1)
# Cosine similarity needed to call two descriptors the same image
# (benchmarks/fingerprints.py: laundered copies vs never-generated images).
MIN_SIMILARITY = 0.95


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("F")


def _normalise(cells: np.ndarray) -> np.ndarray:
    cells = cells.reshape(len(cells), -1).astype(np.float64)
    cells = cells - cells.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(cells, axis=1, keepdims=True)
    # A flat image has no direction: a zero vector matches nothing.
    return np.divide(cells, norms, out=np.zeros_like(cells), where=norms > 1e-6).astype(
        np.float32
    )


def _cells(grey: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    # BOX resampling over a float box: the exact area average of each cell.
    return np.asarray(
        grey.resize((CELLS, CELLS), Image.Resampling.BOX, box=box), dtype=np.float64
    )


def descriptor(image: Image.Image) -> np.ndarray:
    """The 64-float fingerprint of an image as generated."""
    grey = _grey(image)
    w, h = grey.size
    box = (MARGIN * w, MARGIN * h, (1 - MARGIN) * w, (1 - MARGIN) * h)
    return _normalise(_cells(grey, box)[None])[0]


def descriptors(images: list[Image.Image]) -> np.ndarray:
    """Fingerprints of many images, shape (n, 64)."""
    if not images:
        return np.zeros((0, DIMS), np.float32)
    return np.stack([descriptor(image) for image in images])


@lru_cache(maxsize=1)
def _hypotheses() -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) cuts a copy may have had, as shares of the original."""
    return list(itertools.product(CUTS, repeat=4))


def query_descriptors(image: Image.Image) -> np.ndarray:
    """Fingerprints of a possibly cropped copy, one per crop hypothesis (81, 64)."""
    grey = _grey(image)
    # Box-average a large copy down once: 81 resamplings of a 4-megapixel image
    # take seconds, and cells of 8x8 lose nothing at 64+ pixels a side.
    factor = min(grey.size) // 64
    if factor > 1:
        grey = grey.reduce(factor)
    w, h = grey.size
    rows = []
    for left, top, right, bottom in _hypotheses():
        # The copy shows the original's [left, 1 - right]; map the central
        # region [MARGIN, 1 - MARGIN] of the original into the copy's pixels.
        sx, sy = 1 - left - right, 1 - top - bottom
        box = (
            (MARGIN - left) / sx * w,
            (MARGIN - top) / sy * h,
            (1 - MARGIN - left) / sx * w,
            (1 - MARGIN - top) / sy * h,
        )
        rows.append(_cells(grey, box))
    return _normalise(np.stack(rows))


def encode(vector: np.ndarray) -> str:
    """Base64 of the float16 descriptor (128 bytes): what the ledger stores."""
    return base64.b64encode(np.asarray(vector, np.float16).tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float16).astype(np.float32)


def best_matches(
    matrix: np.ndarray, queries: np.ndarray, chunk: int = 262_144
) -> tuple[int, float]:
    """Row of `matrix` most similar to any query row, and that similarity."""
    best_row, best = -1, -1.0
    for start in range(0, len(matrix), chunk):
        block = np.asarray(matrix[start : start + chunk], dtype=np.float32)
        scores = block @ queries.T  # (rows, hypotheses)
        flat = int(np.argmax(scores))
        value = float(scores.flat[flat])
        if value > best:
            best, best_row = value, start + flat // scores.shape[1]
    return best_row, best
