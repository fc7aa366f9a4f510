"""Why the watermark misses crops and brightening: an oracle diagnosis.

    python benchmarks/watermark_crops.py [--images 30]

Crops: each marked Open Clip Art render is cropped as benchmarks/watermark.py
does (10 % and 20 % from random sides) and mapped back into the original
frame with the TRUE crop box (an oracle no detector has); blocks not wholly
inside the crop are erased. Reports the share decoded, the interior symbols'
agreement with the codeword, the codeword bits left without any surviving
copy, and the reliability when the box is off by 0.25-1 canonical pixels
(and, as a floor, on the unmarked crop). Brightening and contrast +20 %: the share
of 4x4 canonical blocks with no clipped pixel after the edit. What if the
layout changed (three symbols a block, every bit once in the central blocks):
the same crop oracle, PSNR, and reads intact and after JPEG q70. Writes
benchmarks/results/watermark_crops.json (or `--out`).
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Run as a script: this folder is on sys.path (the benchmark's renders, re-encode).
from fingerprints import encode
from PIL import Image, ImageEnhance
from watermark import _renders

from imagegen.provenance import watermark

ROOT = Path(__file__).resolve().parents[1]
SHIFTS = (0.0, 0.25, 0.5, 1.0)  # box error, canonical pixels


def _oracle_grid(
    luma: np.ndarray, cuts: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical grid of the original frame from a crop with known cuts
    (left, top, right, bottom, fractions of the original) and the mask of
    blocks wholly inside the crop."""
    left, top, right, bottom = cuts
    h, w = luma.shape
    full_w, full_h = w / (1 - left - right), h / (1 - top - bottom)
    pad = int(np.ceil(max(full_w, full_h))) // 3 + 4
    padded = np.pad(luma, pad, mode="edge")
    box = (
        pad - left * full_w,
        pad - top * full_h,
        pad - left * full_w + full_w,
        pad - top * full_h + full_h,
    )
    grid = np.asarray(
        Image.fromarray(padded.astype(np.float32), "F").resize(
            (watermark.GRID, watermark.GRID), Image.Resampling.BICUBIC, box=box
        ),
        np.float64,
    )
    start = np.arange(watermark.GRID // watermark.BLOCK) * watermark.BLOCK
    side = watermark.BLOCK / watermark.GRID
    inside_x = (start / watermark.GRID >= left) & (
        start / watermark.GRID + side <= 1 - right
    )
    inside_y = (start / watermark.GRID >= top) & (
        start / watermark.GRID + side <= 1 - bottom
    )
    return grid, (inside_y[:, None] & inside_x[None, :]).ravel()


def _decode_inside(
    grid: np.ndarray, inside: np.ndarray, payload: int
) -> tuple[bool, float, float, int]:
    """Decoded?, reliability, agreement with the truth, bits without a copy."""
    _, owner, _ = watermark._layout()
    _, soft = watermark._decode(*watermark._projections(grid))
    soft = soft * inside[:, None]
    votes = np.bincount(
        owner.ravel(), soft.ravel(), minlength=watermark.PAYLOAD_BITS + 16
    )
    bits = (votes < 0).astype(np.uint8)
    kept = max(int(inside.sum()) * watermark.SYMBOLS_PER_BLOCK, 1)
    reliability = float((soft * (1.0 - 2.0 * bits)[owner]).sum() / kept)
    truth = watermark._codeword(payload)[owner]
    agreement = float((soft * (1.0 - 2.0 * truth)).sum() / kept)
    covered = np.bincount(owner[inside].ravel(), minlength=len(votes)) > 0
    return (
        watermark._check(bits) == payload,
        reliability,
        agreement,
        int((~covered).sum()),
    )


def _unclipped_blocks(pixels: np.ndarray) -> float:
    """Share of canonical 4x4 blocks whose pixels all stay below 255."""
    small = np.asarray(
        Image.fromarray(pixels).resize(
            (watermark.GRID, watermark.GRID), Image.Resampling.BOX
        )
    )
    n = watermark.GRID // watermark.BLOCK
    clipped = (small.max(axis=2) >= 254).reshape(n, watermark.BLOCK, n, watermark.BLOCK)
    return float((~clipped.any(axis=(1, 3))).mean())


def _crop_rows(images: list, size: int, rng: np.random.Generator) -> dict:
    """Oracle decoding of 10 % and 20 % crops of the marked `images`."""
    rows: dict = {}
    for fraction in (0.1, 0.2):
        decoded, agreement, missing, unmarked = 0, [], [], []
        reliability: dict[float, list] = {s: [] for s in SHIFTS}
        for index, pixels in enumerate(images):
            payload = 0x5EED0000 + index
            luma = watermark._luma(watermark.embed(pixels, payload))
            left, top = rng.uniform(0, fraction, 2)
            box = (
                round(left * size),
                round(top * size),
                size - round((fraction - left) * size),
                size - round((fraction - top) * size),
            )
            crop = luma[box[1] : box[3], box[0] : box[2]]
            cuts = (box[0] / size, box[1] / size, 1 - box[2] / size, 1 - box[3] / size)
            for shift in SHIFTS:
                error = shift / watermark.GRID  # left cut off, right cut too
                guess = (cuts[0] + error, cuts[1], cuts[2] - error, cuts[3])
                ok, rel, agree, gone = _decode_inside(
                    *_oracle_grid(crop, guess), payload
                )
                reliability[shift].append(rel)
                if shift == 0.0:
                    decoded += ok
                    agreement.append(agree)
                    missing.append(gone)
            # The same crop of the unmarked image: the reliability floor.
            plain = watermark._luma(pixels)[box[1] : box[3], box[0] : box[2]]
            unmarked.append(_decode_inside(*_oracle_grid(plain, cuts), payload)[1])
        rows[f"crop_{round(fraction * 100)}"] = {
            "oracle_decoded": round(decoded / len(images), 3),
            "interior_agreement": round(float(np.mean(agreement)), 3),
            "bits_without_copy_mean": round(float(np.mean(missing)), 2),
            "unmarked_reliability": round(float(np.mean(unmarked)), 3),
            "reliability_by_box_error_px": {
                str(s): round(float(np.mean(v)), 3) for s, v in reliability.items()
            },
        }
    return rows


@contextmanager
def _central_layout():
    """What if: three symbols a block, and one copy of every codeword bit in
    the central 4x4 blocks, which no crop of under 25 % a side touches."""
    rng = np.random.default_rng(watermark._KEY)
    n, m, k = watermark.GRID // watermark.BLOCK, 3, len(watermark.BAND)
    projections = np.linalg.qr(rng.normal(size=(n * n, k, k)))[0][:, :, :m]
    bits = watermark.PAYLOAD_BITS + watermark.CRC_BITS
    rows, cols = np.divmod(np.arange(n * n), n)
    central = (abs(rows - (n - 1) / 2) < 2) & (abs(cols - (n - 1) / 2) < 2)
    owner = np.zeros((n * n, m), np.int64)
    owner[central] = rng.permutation(bits).reshape(-1, m)
    ring = int((~central).sum()) * m
    owner[~central] = rng.permutation(np.arange(ring) % bits).reshape(-1, m)
    layout = (projections.transpose(0, 2, 1), owner, rng.uniform(size=(n * n, m)))
    saved = watermark._layout, watermark.SYMBOLS_PER_BLOCK
    watermark._layout, watermark.SYMBOLS_PER_BLOCK = (lambda: layout), m
    try:
        yield
    finally:
        watermark._layout, watermark.SYMBOLS_PER_BLOCK = saved


def _plain_reads(images: list) -> dict:
    """PSNR and the detection rate uncropped and after JPEG q70."""
    psnr, intact, jpeg = [], 0, 0
    for index, pixels in enumerate(images):
        marked = watermark.embed(pixels, 0x5EED0000 + index)
        mse = float(((marked.astype(np.float64) - pixels) ** 2).mean())
        psnr.append(10 * np.log10(255**2 / mse))
        found = watermark.detect(marked)
        intact += found is not None and found.payload == 0x5EED0000 + index
        found = watermark.detect(
            np.asarray(encode(Image.fromarray(marked), "JPEG", quality=70))
        )
        jpeg += found is not None and found.payload == 0x5EED0000 + index
    return {
        "psnr_min": round(float(np.min(psnr)), 2),
        "psnr_mean": round(float(np.mean(psnr)), 2),
        "detected_intact": round(intact / len(images), 3),
        "detected_jpeg_q70": round(jpeg / len(images), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openclipart", default=str(ROOT / "data/01_raw/openclipart"))
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/watermark_crops.json")
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    report: dict = {"images": args.images}
    for size in (64, 256):
        images = _renders(Path(args.openclipart), args.images, size, rng)
        rows = _crop_rows(images, size, rng)
        for name, edit in (
            ("brightness_+20", lambda i: ImageEnhance.Brightness(i).enhance(1.2)),
            ("contrast_+20", lambda i: ImageEnhance.Contrast(i).enhance(1.2)),
        ):
            shares = [
                _unclipped_blocks(
                    np.asarray(edit(Image.fromarray(watermark.embed(p, 1))))
                )
                for p in images
            ]
            rows[name] = {"unclipped_blocks_mean": round(float(np.mean(shares)), 3)}
        with _central_layout():
            what_if = _crop_rows(images, size, np.random.default_rng(args.seed + 1))
            what_if.update(_plain_reads(images))
        rows["what_if_central_layout"] = what_if
        for name, row in rows.items():
            print(f"{size} px {name}: {row}")
        report[f"openclipart_{size}"] = rows
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
