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
of it. Each candidate is then checked on a finer thumbnail (16x16 cells of the
same region, uint8, stored per entry), aligned locally around the coarse
hypothesis and compared by correlation (`FineQuery`).

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
# Fine stage: the central region again at FINE x FINE (uint8, 256 bytes per
# entry), compared by correlation around the coarse stage's crop hypothesis.
FINE = 16
FINE_DIMS = FINE * FINE
# Shift of each side of the box tried around the coarse hypothesis, as a share
# of the original (the coarse grid steps by 0.05).
JITTER = 0.025
# Brightening gains tried on the stored thumbnail (with clipping at white).
GAINS = (1.0, 1.1, 1.2)
# A copy with fewer pixels than this across the region is compared as if it
# had this many (the stored thumbnail keeps at least this much detail).
MIN_SIDE = 10
# Correlation of the fine thumbnails needed to call a candidate the same image:
# MIN_FINE for a bold copy, lower for a faint one by what NOISE grey levels of
# re-encoding cost it, never under FINE_FLOOR (`required_similarity`).
# Calibrated by benchmarks/fingerprints.py on a split held apart from the one
# it reports on.
MIN_FINE = 0.985
NOISE = 8.0
FINE_FLOOR = 0.95
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
    """The fine FINE x FINE grey thumbnail of the central region, uint8 (what is stored)."""
    grey = _grey(image)
    w, h = grey.size
    box = (MARGIN * w, MARGIN * h, (1 - MARGIN) * w, (1 - MARGIN) * h)
    cells = np.asarray(grey.resize((FINE, FINE), Image.Resampling.BOX, box=box))
    return np.clip(np.round(cells), 0, 255).astype(np.uint8).reshape(-1)


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
    """The fine stage for one copy: its thumbnails near each crop hypothesis, cached."""

    def __init__(self, image: Image.Image):
        self.grey = query_grey(image)
        self._rows: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _thumbnails(
        self, boxes: list[tuple[float, float, float, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(boxes)
        if key not in self._rows:
            raw = np.stack(
                [
                    np.asarray(
                        self.grey.resize((FINE, FINE), Image.Resampling.BOX, box=box),
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

    def similarity(
        self, cuts: tuple[float, float, float, float], reference: np.ndarray
    ) -> tuple[float, float]:
        """Best correlation with a stored thumbnail near `cuts`, and the copy's contrast.

        Each side of the box moves by JITTER around the coarse hypothesis, then
        by half that around the best (2 x 81 boxes): the coarse grid is too
        loose to align FINE cells. A copy under FINE pixels across the region
        lost detail the original has, so the stored thumbnail loses it too
        (down to the copy's resolution and back up). A flat reference (or an
        entry without one) correlates with nothing: -1.
        """
        x0, y0, x1, y1 = _box(self.grey.size, cuts)
        side = max(MIN_SIDE, int(min(x1 - x0, y1 - y0)))
        ref = np.asarray(reference, np.float32).reshape(FINE, FINE)
        if side < FINE:
            small = Image.fromarray(ref, "F").resize((side, side), Image.Resampling.BOX)
            ref = np.asarray(small.resize((FINE, FINE), Image.Resampling.BILINEAR))
        # Brightening clips highlights, which no linear fit undoes: the
        # stored thumbnail is also tried brightened and clipped the same way.
        refs = _normalise(
            np.stack([np.minimum(ref.reshape(-1) * gain, 255.0) for gain in GAINS])
        )
        if not refs.any():
            return -1.0, 0.0
        best, contrast, best_cuts = -1.0, 0.0, cuts
        for step in (JITTER, JITTER / 2):
            moved = _moved(best_cuts, step)
            rows, stds = self._thumbnails([_box(self.grey.size, c) for c in moved])
            scores = (rows @ refs.T).max(axis=1)
            at = int(np.argmax(scores))
            if scores[at] > best:
                best, contrast, best_cuts = (
                    float(scores[at]),
                    float(stds[at]),
                    moved[at],
                )
        return best, contrast


def encode(vector: np.ndarray) -> str:
    """Base64 of the float16 descriptor (128 bytes): what the ledger stores."""
    return base64.b64encode(np.asarray(vector, np.float16).tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float16).astype(np.float32)


def encode_thumbnail(cells: np.ndarray) -> str:
    """Base64 of the uint8 fine thumbnail (256 bytes)."""
    return base64.b64encode(np.asarray(cells, np.uint8).tobytes()).decode("ascii")


def decode_thumbnail(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.uint8)


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
