"""Imperceptible watermark carrying 32 bits of the generation-ledger entry id.

Our own implementation because no maintained package fits: invisible-watermark
declares PyTorch, TrustMark needs PyTorch and downloads weights at run time,
and blind-watermark (like the DWT-DCT modes) reads only at the embedding size.

The luma is resized to a canonical 32x32 grid (what a 64x64 output keeps after
a 0.5x resize) and cut into 4x4 blocks; each block carries two symbols by
dither modulation of keyed projections of its lowest DCT coefficients, with a
step that follows the local contrast between bounds (textured regions take
more change, flat ones less). The residual is upsampled to the output size and
added to every channel. A codeword of 32 payload bits and a CRC-16 is repeated
over the 128 symbols and decoded by soft voting, then by flipping the least
certain bits (Chase decoding); a detection needs the CRC to match and the
vote's reliability to clear a threshold. A brightness or contrast change
scales the coefficients but not the contrast bounds, so the reader tries gains
of 0.74-1.34 and decodes the most reliable. Crops move the grid and are not
survived, nor is clipping (docs/provenance.md has the measured robustness, the
false-positive rate and the crop diagnosis).
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

MIN_SIDE = 64  # smaller outputs are traced by the ledger's fingerprints instead
PAYLOAD_BITS = 32
CRC_BITS = 16
GRID = 32
BLOCK = 4
SYMBOLS_PER_BLOCK = 2
BAND = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0))
STEP = 0.6  # quantiser step per unit of local contrast
MIN_CONTRAST = 25.0  # local contrast floor (grey levels) for flat regions
MAX_CONTRAST = 50.0  # and ceiling, which bounds the distortion (PSNR >= 38 dB)
ITERATIONS = 4
MAX_MSE = 255**2 / 10 ** (38.5 / 10)  # PSNR >= 38.5 dB, whatever the image
MIN_RELIABILITY = 0.45
CHASE_BITS = 5
# Gain hypotheses the detector tries: a brightness or contrast change scales
# the coefficients and the local contrast alike, but the contrast bounds do not
# move with them, so the reader rescales the bounds (1.025**-12 to 1.025**12).
GAIN_RATIO = 1.025
GAIN_HYPOTHESES = 12
CHASED_GAINS = 1  # Chase-decoded: 32 CRC trials an image, as without the search
MIN_DETECT_SIDE = 24  # a 64x64 output halved is 32x32
_KEY = 0x1A9E6E1  # fixed key: the mark is for tracing, not secrecy


@dataclass(frozen=True)
class Detection:
    payload: int  # the 32 bits, as the first 8 hex digits of an entry id
    reliability: float

    @property
    def entry_prefix(self) -> str:
        return f"{self.payload:08x}"


def _blocks() -> int:
    return (GRID // BLOCK) ** 2


@lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keyed projections (blocks, symbols, band), symbol-to-bit map and dither."""
    rng = np.random.default_rng(_KEY)
    blocks, m, k = _blocks(), SYMBOLS_PER_BLOCK, len(BAND)
    raw = rng.normal(size=(blocks, k, k))
    # Orthonormal projections per block: symbols do not disturb each other.
    projections = np.linalg.qr(raw)[0][:, :, :m].transpose(0, 2, 1)
    bits = PAYLOAD_BITS + CRC_BITS
    # Copies of each bit spread over the grid so a crop takes few of them.
    owner = rng.permutation(np.arange(blocks * m) % bits).reshape(blocks, m)
    dither = rng.uniform(size=(blocks, m))
    return projections, owner, dither


def _codeword(payload: int) -> np.ndarray:
    data = payload.to_bytes(4, "big")
    crc = binascii.crc_hqx(data, 0xFFFF)
    value = (payload << CRC_BITS) | crc
    total = PAYLOAD_BITS + CRC_BITS
    return np.array([(value >> (total - 1 - i)) & 1 for i in range(total)], np.uint8)


def _check(bits: np.ndarray) -> int | None:
    value = int("".join(map(str, bits.tolist())), 2)
    payload, crc = value >> CRC_BITS, value & ((1 << CRC_BITS) - 1)
    ok = binascii.crc_hqx(payload.to_bytes(4, "big"), 0xFFFF) == crc
    return payload if ok else None


def _luma(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels.astype(np.float32)
    rgb = pixels[..., :3].astype(np.float32)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _resize(plane: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    image = Image.fromarray(plane.astype(np.float32), "F")
    return np.asarray(image.resize(size, resample), np.float64)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II of a block side (NumPy only: the served model has no SciPy)."""
    k, i = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
    matrix = np.sqrt(2 / BLOCK) * np.cos(np.pi * (2 * i + 1) * k / (2 * BLOCK))
    matrix[0] /= np.sqrt(2)
    return matrix


def _coefficients(grid: np.ndarray) -> np.ndarray:
    """Band coefficients of each block: (blocks, band)."""
    n = GRID // BLOCK
    blocks = grid.reshape(n, BLOCK, n, BLOCK).transpose(0, 2, 1, 3)
    c = _dct_matrix()
    spectra = np.einsum("ui,abij,vj->abuv", c, blocks, c).reshape(n * n, BLOCK, BLOCK)
    return np.stack([spectra[:, u, v] for u, v in BAND], axis=1)


def _local_contrast(grid: np.ndarray) -> np.ndarray:
    """Local contrast per block: RMS deviation over its 3x3 block neighbourhood."""
    n = GRID // BLOCK
    blocks = grid.reshape(n, BLOCK, n, BLOCK).transpose(0, 2, 1, 3)
    mean = blocks.mean(axis=(2, 3))
    energy = ((blocks - mean[..., None, None]) ** 2).mean(axis=(2, 3))
    padded_e, padded_w = np.pad(energy, 1), np.pad(np.ones((n, n)), 1)
    total_e = sum(padded_e[i : i + n, j : j + n] for i in range(3) for j in range(3))
    total_w = sum(padded_w[i : i + n, j : j + n] for i in range(3) for j in range(3))
    return np.sqrt(total_e / total_w).reshape(n * n)


def _steps(local: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Quantiser steps (blocks, 1) from the local contrast, its bounds as they
    were before a gain of `gain` scaled the image."""
    return STEP * np.clip(local, gain * MIN_CONTRAST, gain * MAX_CONTRAST)[:, None]


def _projections(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symbol values (blocks, symbols) and their quantiser steps."""
    projections, _, _ = _layout()
    values = np.einsum("bk,bmk->bm", _coefficients(grid), projections)
    return values, _steps(_local_contrast(grid))


def _basis_image(delta: np.ndarray) -> np.ndarray:
    """Canonical-grid image whose symbol values change by `delta` (blocks, symbols)."""
    projections, _, _ = _layout()
    n = GRID // BLOCK
    band = np.einsum("bm,bmk->bk", delta, projections)
    spectra = np.zeros((n * n, BLOCK, BLOCK))
    for index, (u, v) in enumerate(BAND):
        spectra[:, u, v] = band[:, index]
    c = _dct_matrix()
    blocks = np.einsum("ui,buv,vj->bij", c, spectra, c).reshape(n, n, BLOCK, BLOCK)
    return blocks.transpose(0, 2, 1, 3).reshape(GRID, GRID)


def _canonical(pixels: np.ndarray) -> np.ndarray:
    # Bicubic as most resizers: a halved copy then lands on the same grid.
    return _resize(_luma(pixels), (GRID, GRID), Image.Resampling.BICUBIC)


def embed(pixels: np.ndarray, payload: int) -> np.ndarray:
    """`pixels` (H, W) or (H, W, C) uint8 with `payload` (32 bits) embedded."""
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        return pixels
    _, owner, dither = _layout()
    bits = _codeword(payload)[owner]
    host = _canonical(pixels)
    values, steps = _projections(host)
    # Nearest point of the bit's coset of the dithered lattice.
    offset = (dither + bits / 2.0) * steps
    targets = np.round((values - offset) / steps) * steps + offset
    marked = pixels
    residual = np.zeros((height, width), np.float64)
    for _ in range(ITERATIONS):
        current, _ = _projections(_canonical(marked))
        delta = targets - current
        residual += _resize(
            _basis_image(delta), (width, height), Image.Resampling.BICUBIC
        )
        marked = _add(pixels, residual)
    mse = float(((marked.astype(np.float64) - pixels) ** 2).mean())
    if mse > MAX_MSE:  # a high-contrast image: weaken the mark to keep the PSNR
        marked = _add(pixels, residual * np.sqrt(MAX_MSE / mse))
    return marked


def _add(pixels: np.ndarray, residual: np.ndarray) -> np.ndarray:
    extra = residual[..., None] if pixels.ndim == 3 else residual
    marked = np.clip(np.round(pixels + extra), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        marked[..., 3] = pixels[..., 3]  # alpha untouched
    return marked


def _decode(values: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Soft votes per codeword bit (positive: 0) and each symbol's soft value."""
    _, owner, dither = _layout()
    phase = (values / steps - dither) % 1.0
    soft = np.cos(2 * np.pi * phase)  # +1: bit 0, -1: bit 1
    votes = np.bincount(owner.ravel(), soft.ravel(), minlength=PAYLOAD_BITS + CRC_BITS)
    return votes, soft


def _reliability(bits: np.ndarray, soft: np.ndarray) -> float:
    """Mean agreement of the symbols with `bits`: about 0 unmarked, 1 intact."""
    _, owner, _ = _layout()
    return float((soft * (1.0 - 2.0 * bits)[owner]).mean())


def _gains() -> np.ndarray:
    """Gain hypotheses: GAIN_RATIO to the powers -GAIN_HYPOTHESES..GAIN_HYPOTHESES."""
    exponents = np.arange(-GAIN_HYPOTHESES, GAIN_HYPOTHESES + 1)
    return GAIN_RATIO ** exponents.astype(np.float64)


def _hypotheses(grid: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(reliability, votes, soft) per gain hypothesis on a canonical grid,
    most reliable first."""
    projections, _, _ = _layout()
    values = np.einsum("bk,bmk->bm", _coefficients(grid), projections)
    local = _local_contrast(grid)
    out = []
    for gain in _gains():
        votes, soft = _decode(values, _steps(local, gain))
        out.append((_reliability((votes < 0).astype(np.uint8), soft), votes, soft))
    return sorted(out, key=lambda t: -t[0])


def detect(pixels: np.ndarray) -> Detection | None:
    """The payload in `pixels` (any size), or None when no valid mark decodes."""
    if min(pixels.shape[:2]) < MIN_DETECT_SIDE:
        return None
    # Chase only the most reliable gain hypotheses: each one tried adds 32 CRC
    # trials, and with them the odds of a wrong payload on a damaged mark.
    for reliability, votes, soft in _hypotheses(_canonical(pixels))[:CHASED_GAINS]:
        if reliability < MIN_RELIABILITY:
            break
        found = _chase(votes, soft, (votes < 0).astype(np.uint8))
        if found is not None:
            return found
    return None


def _chase(votes: np.ndarray, soft: np.ndarray, bits: np.ndarray) -> Detection | None:
    """Chase decoding: flip subsets of the least certain bits until the CRC holds
    (2**CHASE_BITS tries; the false-positive rate counts them)."""
    weakest = np.argsort(np.abs(votes))[:CHASE_BITS]
    for mask in sorted(range(1 << CHASE_BITS), key=int.bit_count):
        trial = bits.copy()
        for j in range(CHASE_BITS):
            if mask >> j & 1:
                trial[weakest[j]] ^= 1
        payload = _check(trial)
        if payload is not None:
            return Detection(payload, round(_reliability(trial, soft), 4))
    return None


def payload_of(entry_id: str) -> int:
    """The 32 bits of an entry id the mark carries: its first 8 hex digits."""
    return int(entry_id[:8], 16)


def mark_png(png: bytes, entry_id: str) -> bytes:
    """PNG bytes with the entry id's payload embedded; under 64x64 unchanged."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
    if min(image.size) < MIN_SIDE:
        return png
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    marked = embed(np.asarray(image), payload_of(entry_id))
    buffer = io.BytesIO()
    Image.fromarray(marked, image.mode).save(buffer, format="PNG")
    return buffer.getvalue()


def detect_file(data: bytes) -> Detection | None:
    """The mark in encoded image bytes (any format Pillow reads), or None."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        pixels = np.asarray(image.convert("RGB"))
    return detect(pixels)
