"""Compact image fingerprints that survive laundering: resize, re-encode, small crops.

The descriptor is the central 80% x 80% of the image (greyscale), averaged
down to 8x8 cells, centred and scaled to unit length: 64 numbers. Resizing and
re-encoding move it little; brightness and contrast changes cancel out (centred,
unit length); a crop of up to 10% per side keeps the central region inside the
copy, so a lookup tries a grid of crop hypotheses (which sides were cut, by how
much) and keeps the best cosine similarity. pHash alone moved 20 of 64 bits on
a 28x28 image resized to 90% and saved as JPEG q85.

That coarse descriptor only finds candidates: 8x8 cells cannot tell two
hands' "1"s apart, so a training digit matched the default model's imitation
of it. Each candidate is then checked on a small copy of the whole image
(at most REF pixels a side, uint8, stored per entry): it is resized to the
copy's size as an image editor would, so both carry the same blur (a 0.5x
copy of a 28x28 image has 14 pixels across), and the central regions of both
are compared by correlation, aligned locally around the coarse hypothesis
(`FineQuery`).

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
# Coarse stage: the rows most similar to any crop hypothesis, down to this
# cosine, go on to the fine check.
CANDIDATES = 4
MIN_COARSE = 0.8
# Fine stage: the whole image at most REF pixels a side (uint8; the 28x28
# default model's images are stored as they are, 784 bytes), resized to the
# copy's size and compared there on at most CMP x CMP cells of the central
# region, around the coarse stage's crop hypothesis.
REF = 32
REF_DIMS = 2 + REF * REF  # width, height, then the pixels (index rows)
CMP = 16
# Shift of each side of the box tried around the coarse hypothesis, as a share
# of the original (the coarse grid steps by 0.05).
JITTER = 0.025
# Brightening gains tried on the stored thumbnail (with clipping at white):
# the issue's +-20 % (darkening clips nothing, correlation ignores it).
GAINS = (1.0, 1.05, 1.1, 1.15, 1.2)
# A copy with fewer pixels than this across the region is compared at this
# many cells (fewer carry too little to tell images apart).
MIN_SIDE = 10
# Correlation of the fine thumbnails needed to call a candidate the same image:
# MIN_FINE for a bold copy, lower for a faint one by what NOISE grey levels of
# re-encoding cost it, never under FINE_FLOOR (`required_similarity`).
# Calibrated by benchmarks/fingerprints.py on a split held apart from the one
# it reports on.
MIN_FINE = 0.986
NOISE = 8.0
FINE_FLOOR = 0.96
# Entries written before the fine thumbnail existed are matched by the coarse
# descriptor alone, at the old threshold.
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


def thumbnail(image: Image.Image) -> np.ndarray:
    """The image in grey, area-averaged down to at most REF pixels a side (what is stored)."""
    grey = _grey(image)
    w, h = grey.size
    size = (min(w, REF), min(h, REF))
    if size != grey.size:
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.clip(np.round(np.asarray(grey)), 0, 255).astype(np.uint8)


def index_row(cells: np.ndarray) -> np.ndarray:
    """A stored thumbnail as a fixed-width index row: width, height, pixels, zeros.

    A 16x16 thumbnail of the central region (ledger entries before REF
    existed) becomes a 20x20 image with its edges repeated outward, so that
    its central region is that thumbnail.
    """
    cells = np.asarray(cells, np.uint8)
    if cells.ndim == 1:  # the older flat 16x16 central region
        pad = round(16 * MARGIN / (1 - 2 * MARGIN))
        cells = np.pad(cells.reshape(16, 16), pad, mode="edge")
    h, w = cells.shape
    row = np.zeros(REF_DIMS, np.uint8)
    row[:2] = w, h
    row[2 : 2 + w * h] = cells.reshape(-1)
    return row


def from_row(row: np.ndarray) -> np.ndarray | None:
    """The thumbnail in an index row; None for an entry without one."""
    w, h = int(row[0]), int(row[1])
    if not w or not h:
        return None
    return np.asarray(row[2 : 2 + w * h], np.uint8).reshape(h, w)


def descriptors(images: list[Image.Image]) -> np.ndarray:
    """Fingerprints of many images, shape (n, 64)."""
    if not images:
        return np.zeros((0, DIMS), np.float32)
    return np.stack([descriptor(image) for image in images])


@lru_cache(maxsize=1)
def _hypotheses() -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) cuts a copy may have had, as shares of the original."""
    return list(itertools.product(CUTS, repeat=4))


def query_grey(image: Image.Image) -> Image.Image:
    """A copy in grey, box-averaged down to under 128 pixels a side when larger."""
    grey = _grey(image)
    # 81 resamplings of a 4-megapixel image take seconds, and cells of 16x16
    # lose nothing at 64+ pixels a side.
    factor = min(grey.size) // 64
    return grey.reduce(factor) if factor > 1 else grey


def _box(
    size: tuple[int, int], cuts: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    # The copy shows the original's [left, 1 - right]; map the central region
    # [MARGIN, 1 - MARGIN] of the original into the copy's pixels.
    w, h = size
    left, top, right, bottom = cuts
    sx, sy = 1 - left - right, 1 - top - bottom
    return (
        (MARGIN - left) / sx * w,
        (MARGIN - top) / sy * h,
        (1 - MARGIN - left) / sx * w,
        (1 - MARGIN - top) / sy * h,
    )


def query_descriptors(image: Image.Image) -> np.ndarray:
    """Fingerprints of a possibly cropped copy, one per crop hypothesis (81, 64)."""
    grey = query_grey(image)
    rows = [_cells(grey, _box(grey.size, cuts)) for cuts in _hypotheses()]
    return _normalise(np.stack(rows))


def hypothesis(number: int) -> tuple[float, float, float, float]:
    """The crop hypothesis behind row `number` of `query_descriptors`."""
    return _hypotheses()[number]


def _moved(
    cuts: tuple[float, float, float, float], step: float
) -> list[tuple[float, float, float, float]]:
    # No side can lose more than the margin: the region must stay inside.
    return sorted(
        {
            tuple(
                min(max(c + d * step, 0.0), MARGIN)
                for c, d in zip(cuts, signs, strict=True)
            )
            for signs in itertools.product((-1, 0, 1), repeat=4)
        }
    )


def required_similarity(contrast: float, min_fine: float | None = None) -> float:
    """Fine correlation a true copy keeps, given its contrast (grey-level std).

    Re-encoding adds noise of a few grey levels whatever the image: a copy of
    a faint image keeps less correlation than one of a bold image. So the
    threshold is MIN_FINE less what NOISE grey levels cost at this contrast,
    never under FINE_FLOOR.
    """
    top = MIN_FINE if min_fine is None else min_fine
    if contrast <= 0:
        return 1.0
    return float(np.sqrt(max(FINE_FLOOR**2, top**2 - (NOISE / contrast) ** 2)))


class FineQuery:
    """The fine stage for one copy: its region's cells near each crop hypothesis, cached."""

    def __init__(self, image: Image.Image):
        self.grey = query_grey(image)
        self._rows: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _cells(
        self, boxes: list[tuple[float, float, float, float]], side: int
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (side, *boxes)
        if key not in self._rows:
            raw = np.stack(
                [
                    np.asarray(
                        self.grey.resize((side, side), Image.Resampling.BOX, box=box),
                        np.float64,
                    ).reshape(-1)
                    for box in boxes
                ]
            )
            # Rounded like the stored thumbnail: the very pixels of a faint
            # image (a std of 2 grey levels) then still correlate at 1.
            raw = np.round(raw)
            self._rows[key] = (_normalise(raw), raw.std(axis=1))
        return self._rows[key]

    def _size(self, cuts: tuple[float, float, float, float]) -> tuple[int, int]:
        # The copy's size had nothing been cut off: what the original was resized to.
        left, top, right, bottom = cuts
        w, h = self.grey.size
        return (
            max(1, round(w / (1 - left - right))),
            max(1, round(h / (1 - top - bottom))),
        )

    @staticmethod
    @lru_cache(maxsize=256)
    def _references(
        stored: bytes, shape: tuple[int, int], size: tuple[int, int], side: int
    ) -> np.ndarray:
        # The stored image as the copy would show it before any crop:
        # brightened and clipped at white first (which no linear fit undoes,
        # and the copy was clipped at its own pixels), then resized to the
        # copy's size by the bicubic filter image editors use or by an area
        # filter, and its central region taken on the same cells as the copy's.
        box = _box(size, (0.0, 0.0, 0.0, 0.0))
        pixels = np.frombuffer(stored, np.uint8).reshape(shape).astype(np.float32)
        cells = [
            np.asarray(
                Image.fromarray(np.minimum(pixels * gain, 255.0), "F")
                .resize(size, f)
                .resize((side, side), Image.Resampling.BOX, box=box)
            ).reshape(-1)
            for gain in GAINS
            for f in (Image.Resampling.BICUBIC, Image.Resampling.BOX)
        ]
        return _normalise(np.round(np.stack(cells)))

    def similarity(
        self, cuts: tuple[float, float, float, float], stored: np.ndarray | None
    ) -> tuple[float, float]:
        """Best correlation with a stored thumbnail near `cuts`, and the copy's contrast.

        Both are compared on the copy's pixels across the region (at most
        CMP, at least MIN_SIDE, at most the stored image's). Each side of the
        copy's box moves by JITTER around the coarse hypothesis, then by half
        that around the best (2 x 81 boxes): the coarse grid is too loose to
        align fine cells. A flat thumbnail (or none) correlates with nothing: -1.
        """
        if stored is None or not np.ptp(stored):
            return -1.0, 0.0
        stored = np.ascontiguousarray(stored, np.uint8)
        stored_bytes = stored.tobytes()
        x0, y0, x1, y1 = _box(self.grey.size, cuts)
        own = min(stored.shape) * (1 - 2 * MARGIN)
        side = int(round(min(x1 - x0, y1 - y0, own)))
        side = min(CMP, max(MIN_SIDE, side))
        best, contrast = -1.0, 0.0
        # Also from the uncut copy: a resized copy's coarse hypothesis may be
        # a crop one step off, out of the jitter's reach.
        for start in {cuts, (0.0, 0.0, 0.0, 0.0)}:
            best_cuts = start
            for step in (JITTER, JITTER / 2):
                moved = _moved(best_cuts, step)
                boxes = [_box(self.grey.size, c) for c in moved]
                rows, stds = self._cells(boxes, side)
                sizes = [self._size(c) for c in moved]
                scores = np.empty(len(moved))
                for size in set(sizes):
                    refs = self._references(stored_bytes, stored.shape, size, side)
                    at = [i for i, s in enumerate(sizes) if s == size]
                    scores[at] = (rows[at] @ refs.T).max(axis=1)
                at = int(np.argmax(scores))
                best_cuts = moved[at]
                if scores[at] > best:
                    best, contrast = float(scores[at]), float(stds[at])
        return best, contrast


def encode(vector: np.ndarray) -> str:
    """Base64 of the float16 descriptor (128 bytes): what the ledger stores."""
    return base64.b64encode(np.asarray(vector, np.float16).tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float16).astype(np.float32)


def encode_thumbnail(cells: np.ndarray) -> str:
    """The uint8 thumbnail as "WxH:" and base64 (at most 1,024 bytes)."""
    cells = np.asarray(cells, np.uint8)
    h, w = cells.shape
    return f"{w}x{h}:" + base64.b64encode(cells.tobytes()).decode("ascii")


def decode_thumbnail(text: str) -> np.ndarray:
    """A stored thumbnail; an older entry's is the flat 16x16 central region."""
    shape, _, data = text.rpartition(":")
    pixels = np.frombuffer(base64.b64decode(data), np.uint8)
    if not shape:
        return pixels
    w, h = (int(v) for v in shape.split("x"))
    return pixels.reshape(h, w)


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


def top_candidates(
    matrix: np.ndarray,
    queries: np.ndarray,
    k: int = CANDIDATES,
    floor: float = MIN_COARSE,
    chunk: int = 262_144,
) -> list[tuple[int, float, int]]:
    """The k rows most similar to any query row (at least `floor`), best first.

    Each as (row, similarity, query row that gave it).
    """
    found: list[tuple[int, float, int]] = []
    for start in range(0, len(matrix), chunk):
        block = np.asarray(matrix[start : start + chunk], dtype=np.float32)
        scores = block @ queries.T  # (rows, hypotheses)
        best_h = np.argmax(scores, axis=1)
        best = scores[np.arange(len(scores)), best_h]
        keep = np.flatnonzero(best >= floor)
        if len(keep) > k:
            keep = keep[np.argpartition(-best[keep], k - 1)[:k]]
        found += [(start + int(r), float(best[r]), int(best_h[r])) for r in keep]
        found = sorted(found, key=lambda item: -item[1])[:k]
    return found
