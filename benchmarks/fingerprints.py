"""Tracing laundered copies of generated images by fingerprint; false matches; lookup time.

    python benchmarks/fingerprints.py [--generator data/06_models/generator.keras ...]

Each `--generator PATH` (a saved Keras generator) stands for one model version;
`--images` images of each are recorded in a fresh generation ledger. Then
`--copies` recorded images are laundered by each transform (random strength,
metadata gone) and looked up by fingerprint alone: traced = the best match is
an entry of the right version (and `right_entry`: the very image). False
matches: `--negatives` never-generated images (Open Clip Art renders from
`--openclipart`, scikit-learn digits at 8x8 and 28x28, uniform and smooth noise)
that match any entry. Lookup: one laundered query against an index of
`--entries` rows (the recorded ones plus random unit vectors).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.85, 0.9, 0.95)


def _encode(image: Image.Image, fmt: str, **kw) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    buffer.seek(0)
    out = Image.open(buffer)
    out.load()
    return out


def _resize(image: Image.Image, scale: float) -> Image.Image:
    w, h = image.size
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def transforms(
    rng: np.random.Generator,
) -> dict[str, Callable[[Image.Image], Image.Image]]:
    """The laundering transforms of the issue, each with a random strength."""

    def crop(image: Image.Image) -> Image.Image:
        w, h = image.size
        left, top, right, bottom = rng.uniform(0, 0.1, 4)  # <= 20% per axis
        return image.crop(
            (
                round(left * w),
                round(top * h),
                w - round(right * w),
                h - round(bottom * h),
            )
        )

    return {
        "resize_0.9_jpeg_q85": lambda i: _encode(
            _resize(i, 0.9).convert("RGB"), "JPEG", quality=85
        ),
        "jpeg_q50_95": lambda i: _encode(
            i.convert("RGB"), "JPEG", quality=int(rng.integers(50, 96))
        ),
        "resize_0.5_2": lambda i: _resize(i, float(np.exp(rng.uniform(-0.69, 0.69)))),
        "crop_20": crop,
        "brightness_20": lambda i: ImageEnhance.Brightness(i.convert("RGB")).enhance(
            float(rng.uniform(0.8, 1.2))
        ),
        "contrast_20": lambda i: ImageEnhance.Contrast(i.convert("RGB")).enhance(
            float(rng.uniform(0.8, 1.2))
        ),
        "webp": lambda i: _encode(
            i.convert("RGB"), "WEBP", quality=int(rng.integers(50, 96))
        ),
        "screenshot": lambda i: _encode(
            _resize(i, float(np.exp(rng.uniform(-0.69, 0.69)))).convert("RGB"),
            "JPEG",
            quality=int(rng.integers(70, 96)),
        ),
    }


def generated_pngs(generator_path: Path, n: int, seed: int) -> list[bytes]:
    import keras

    import imagegen.models  # noqa: F401  (registers the generator's layers)
    from imagegen.images import to_uint8
    from imagegen.models.sampling import generate_images, generator_spec, latent_noise

    generator = keras.saving.load_model(generator_path, compile=False)
    latent_dim, n_classes = generator_spec(generator)
    images = generate_images(generator, latent_noise(seed, n, latent_dim))
    out = []
    for image in images:
        pixels = to_uint8(np.asarray(image, np.float32))
        if pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def negatives(openclipart: Path, n: int, rng: np.random.Generator) -> list[Image.Image]:
    """Never-generated images: digits, Open Clip Art renders, noise."""
    from sklearn.datasets import load_digits

    found: list[Image.Image] = []
    for pixels in load_digits().images:
        grey = Image.fromarray(np.round(pixels * 255 / 16).astype(np.uint8))
        found.append(grey)
        found.append(grey.resize((28, 28), Image.Resampling.LANCZOS))
    n_noise = max(0, (n - len(found)) // 4)
    files = sorted(openclipart.rglob("*.png")) if openclipart.exists() else []
    rng.shuffle(files)
    for path in files:
        if len(found) >= n - n_noise:
            break
        try:
            with Image.open(path) as image:
                if image.width * image.height > 4_000_000:
                    continue
                image.load()
                found.append(image.copy())
        except (OSError, Image.DecompressionBombError):
            continue
    while len(found) < n:
        side = int(rng.integers(16, 129))
        if len(found) % 2:
            noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            found.append(Image.fromarray(noise))
        else:  # smooth noise: blobs like a generator's early samples
            small = rng.integers(0, 256, (4, 4), dtype=np.uint8)
            found.append(
                Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
            )
    return found[:n]


def lookup_time(index_dir: Path, matrix: np.ndarray, entries: int, query) -> dict:
    from imagegen.provenance import fingerprint

    rng = np.random.default_rng(1)
    path = index_dir / "big.f32"
    big = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(entries, fingerprint.DIMS)
    )
    chunk = 100_000
    for start in range(0, entries, chunk):
        rows = rng.standard_normal((min(chunk, entries - start), fingerprint.DIMS))
        big[start : start + len(rows)] = rows / np.linalg.norm(rows, axis=1)[:, None]
    big[-len(matrix) :] = matrix
    big.flush()
    del big
    big = np.load(path, mmap_mode="r")
    times = []
    for _ in range(5):
        started = time.perf_counter()
        row, similarity = fingerprint.best_matches(
            big, fingerprint.query_descriptors(query)
        )
        times.append(time.perf_counter() - started)
    return {
        "entries": entries,
        "index_mb": round(entries * fingerprint.DIMS * 4 / 2**20, 1),
        "lookup_s_median": round(float(np.median(times)), 3),
        "lookup_s_first": round(times[0], 3),
        "found_row": int(row),
        "similarity": round(similarity, 4),
    }


def trace_laundered(index, matrix: np.ndarray, picks: list, rng) -> dict:
    """Share of laundered copies whose best match is the right version (and entry)."""
    from imagegen.provenance import fingerprint

    per_transform = {}
    for name, transform in transforms(rng).items():
        similarities, found_rows, traced, right_entry = [], [], 0, 0
        for png, version, seed in picks:
            with Image.open(io.BytesIO(png)) as image:
                image.load()
                copy = transform(image)
            row, similarity = fingerprint.best_matches(
                matrix, fingerprint.query_descriptors(copy)
            )
            similarities.append(similarity)
            found_rows.append(row)
            entry = index.entry(row)
            if similarity >= fingerprint.MIN_SIMILARITY:
                traced += entry["model_version"] == version
                right_entry += entry["model_version"] == version and (
                    entry["seed"] == seed
                )
        rows = [
            (similarity, index.entry(row)["model_version"] == version)
            for (_, version, _), similarity, row in zip(
                picks, similarities, found_rows, strict=True
            )
        ]
        per_transform[name] = {
            "traced_at": {
                str(t): round(sum(s >= t and ok for s, ok in rows) / len(rows), 4)
                for t in THRESHOLDS
            },
            "copies": len(picks),
            "traced": round(traced / len(picks), 4),
            "right_entry": round(right_entry / len(picks), 4),
            "similarity_min": round(float(np.min(similarities)), 4),
            "similarity_p1": round(float(np.percentile(similarities, 1)), 4),
        }
        print(f"{name:22s} {per_transform[name]}")
    return per_transform


def false_matches(matrix: np.ndarray, images: list[Image.Image]) -> dict:
    """How many never-generated images match an entry, and the closest similarities."""
    from imagegen.provenance import fingerprint

    started = time.perf_counter()
    best = np.array(
        [
            fingerprint.best_matches(matrix, fingerprint.query_descriptors(image))[1]
            for image in images
        ]
    )
    return {
        "images": len(images),
        "false_matches": int((best >= fingerprint.MIN_SIMILARITY).sum()),
        "false_matches_at": {str(t): int((best >= t).sum()) for t in THRESHOLDS},
        "similarity_max": round(float(best.max()), 4),
        "similarity_p99_9": round(float(np.percentile(best, 99.9)), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", action="append", type=Path)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=250)
    parser.add_argument("--negatives", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--openclipart", type=Path, default=ROOT / "data/01_raw/openclipart"
    )
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/fingerprints.json")
    )
    args = parser.parse_args()
    from imagegen.provenance import fingerprint
    from imagegen.provenance.generation_index import GenerationIndex
    from imagegen.provenance.generation_ledger import record_images

    generators = args.generator or [ROOT / "data/06_models/generator.keras"]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "generation.jsonl"
        recorded = []  # (png, version)
        for number, path in enumerate(generators, start=1):
            pngs = generated_pngs(path, args.images, seed=number)
            meta = [
                {"model_name": "bench", "model_version": str(number), "seed": i}
                for i in range(len(pngs))
            ]
            record_images(pngs, meta, ledger)
            recorded += [(png, str(number), i) for i, png in enumerate(pngs)]
        index = GenerationIndex(ledger)
        index.update()
        matrix = np.asarray(index.matrix())
        picks = rng.choice(len(recorded), size=min(args.copies, len(recorded)))
        per_transform = trace_laundered(
            index, matrix, [recorded[p] for p in picks], rng
        )
        negative_report = false_matches(
            matrix, negatives(args.openclipart, args.negatives, rng)
        )
        print(f"negatives: {negative_report}")
        with Image.open(io.BytesIO(recorded[0][0])) as image:
            image.load()
            query = transforms(rng)["resize_0.9_jpeg_q85"](image)
        lookup = lookup_time(Path(tmp), matrix, args.entries, query)
        print(f"lookup: {lookup}")
    overall = np.mean([t["traced"] for t in per_transform.values()])
    report = {
        "benchmark": "fingerprints",
        "host": platform.node(),
        "generators": [str(g) for g in generators],
        "images_per_generator": args.images,
        "min_similarity": fingerprint.MIN_SIMILARITY,
        "transforms": per_transform,
        "traced_mean": round(float(overall), 4),
        "negatives": negative_report,
        "lookup": lookup,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"traced (mean over transforms): {overall:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
