"""Tracing laundered copies of generated images by fingerprint; false matches; lookup time.

    python benchmarks/fingerprints.py --stage calibrate [--generator PATH ...]
    python benchmarks/fingerprints.py --stage report [--generator PATH ...]

Each `--generator PATH` (a saved Keras generator) stands for one model version;
`--images` images of each are recorded in a fresh generation ledger. Then
`--copies` recorded images are laundered by each transform (random strength,
metadata gone) and looked up by fingerprint alone (coarse candidates, then the
fine check): traced = the match is an entry of the right version (and
`right_entry`: the very image). False matches: `--negatives` never-generated
images (scikit-learn digits, the default model's training set, at 8x8 and
28x28; Open Clip Art renders from `--openclipart`; uniform and smooth noise)
that match any entry.

The two stages use apart splits: `calibrate` launders other picks with
another seed and uses the even-numbered digits and other renders and noise; it
prints the fine threshold (`fingerprint.MIN_FINE`) in the middle of those
with no false match there that trace the most, and writes
benchmarks/results/fingerprints_calibration.json. `report`
uses the shipped constants on the odd-numbered digits and writes
benchmarks/results/fingerprints.json, with lookup time at `--entries` rows
(the recorded ones plus random unit vectors). Both print the margin per
transform (lowest fine score of a copy's own entry less the highest fine score
of a never-generated image) and, with `--pairs DIR`, save each false match
and the closest negatives side by side with the generated image they matched.
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
# Fine thresholds tried at calibration (MIN_FINE; the contrast rule lowers it
# for faint copies).
GRID = tuple(round(0.95 + 0.002 * i, 4) for i in range(25))
FLOORS = (0.9, 0.925, 0.95, 0.96)  # FINE_FLOOR values tried
SPLITS = {"calibrate": (100, 0), "report": (0, 1)}  # rng seed, digit parity


def encode(image: Image.Image, fmt: str, **kw) -> Image.Image:
    """The image saved as `fmt` and decoded again (a re-encoded copy)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    buffer.seek(0)
    out = Image.open(buffer)
    out.load()
    return out


def resize(image: Image.Image, scale: float) -> Image.Image:
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
        "resize_0.9_jpeg_q85": lambda i: encode(
            resize(i, 0.9).convert("RGB"), "JPEG", quality=85
        ),
        "jpeg_q50_95": lambda i: encode(
            i.convert("RGB"), "JPEG", quality=int(rng.integers(50, 96))
        ),
        "resize_0.5_2": lambda i: resize(i, float(np.exp(rng.uniform(-0.69, 0.69)))),
        "crop_20": crop,
        "brightness_20": lambda i: ImageEnhance.Brightness(i.convert("RGB")).enhance(
            float(rng.uniform(0.8, 1.2))
        ),
        "contrast_20": lambda i: ImageEnhance.Contrast(i.convert("RGB")).enhance(
            float(rng.uniform(0.8, 1.2))
        ),
        "webp": lambda i: encode(
            i.convert("RGB"), "WEBP", quality=int(rng.integers(50, 96))
        ),
        "screenshot": lambda i: encode(
            resize(i, float(np.exp(rng.uniform(-0.69, 0.69)))).convert("RGB"),
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


def negatives(
    openclipart: Path, n: int, rng: np.random.Generator, parity: int = 0
) -> list[tuple[str, Image.Image, str]]:
    """Never-generated images (kind, image): half the digits (by parity), renders, noise."""
    from sklearn.datasets import load_digits

    found: list[tuple[str, Image.Image, str]] = []
    for number, pixels in enumerate(load_digits().images[parity::2]):
        grey = Image.fromarray(np.round(pixels * 255 / 16).astype(np.uint8))
        label = f"digit{2 * number + parity}"
        found.append(("digits_8", grey, label))
        found.append(
            ("digits_28", grey.resize((28, 28), Image.Resampling.LANCZOS), label)
        )
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
                found.append(("openclipart", image.copy(), path.stem[:40]))
        except (OSError, Image.DecompressionBombError):
            continue
    while len(found) < n:
        side = int(rng.integers(16, 129))
        if len(found) % 2:
            noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            found.append(("noise", Image.fromarray(noise), "noise"))
        else:  # smooth noise: blobs like a generator's early samples
            small = rng.integers(0, 256, (4, 4), dtype=np.uint8)
            smooth = Image.fromarray(small).resize(
                (side, side), Image.Resampling.BICUBIC
            )
            found.append(("smooth_noise", smooth, "smooth_noise"))
    return found[:n]


def lookup_time(index_dir: Path, matrix: np.ndarray, entries: int, query) -> dict:
    """The coarse stage over `entries` rows (the fine check reads 4 of them)."""
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
    # What the fine check reads per candidate.
    thumb = fingerprint.from_row(fingerprint.index_row(fingerprint.thumbnail(query)))
    times = []
    for _ in range(5):
        started = time.perf_counter()
        candidates = fingerprint.top_candidates(
            big, fingerprint.query_descriptors(query)
        )
        fine = fingerprint.FineQuery(query)
        for _, _, hypothesis in candidates:
            fine.similarity(fingerprint.hypothesis(hypothesis), thumb)
        times.append(time.perf_counter() - started)
    return {
        "entries": entries,
        "index_mb": round(
            entries * (fingerprint.DIMS * 4 + fingerprint.REF_DIMS) / 2**20, 1
        ),
        "lookup_s_median": round(float(np.median(times)), 3),
        "lookup_s_first": round(times[0], 3),
        "found_row": int(candidates[0][0]) if candidates else -1,
    }


def _decide(scored: list[dict], min_fine: float) -> dict | None:
    """The candidate a lookup returns at this threshold (as `by_fingerprint`)."""
    from imagegen.provenance import fingerprint

    passed = [
        c
        for c in scored
        if c["similarity"]
        >= (
            fingerprint.required_similarity(c["contrast"], min_fine)
            if c["stage"] == "fine"
            else c["required"]
        )
    ]
    if not passed:
        return None
    return max(passed, key=lambda c: (c["stage"] == "fine", c["similarity"]))


def _excess(c: dict, min_fine: float) -> float:
    from imagegen.provenance import fingerprint

    return c["similarity"] - fingerprint.required_similarity(c["contrast"], min_fine)


def score_copies(index, picks: list, rng) -> dict[str, list]:
    """Per transform: each copy's candidates and its (version, seed, row)."""
    out = {}
    for name, transform in transforms(rng).items():
        rows = []
        for png, version, seed, row in picks:
            with Image.open(io.BytesIO(png)) as image:
                image.load()
                copy = transform(image)
            rows.append((index.scored(copy), version, seed, row))
        out[name] = rows
    return out


def trace_report(
    index, scored: dict[str, list], min_fine: float, quiet: bool = False
) -> dict:
    """Share of laundered copies traced to the right version (and entry)."""
    per_transform = {}
    for name, rows in scored.items():
        traced = right_entry = 0
        own = []  # fine similarity of the right entry, when a candidate
        for candidates, version, _, row in rows:
            chosen = _decide(candidates, min_fine)
            if chosen is not None:
                entry = index.entry(chosen["row"])
                traced += entry["model_version"] == version
                right_entry += chosen["row"] == row
            own += [
                (c["similarity"], _excess(c, min_fine))
                for c in candidates
                if c["row"] == row
            ]
        similarity = np.array([o[0] for o in own] or [np.nan])
        excess = np.array([o[1] for o in own] or [np.nan])
        per_transform[name] = {
            "copies": len(rows),
            "traced": round(traced / len(rows), 4),
            "right_entry": round(right_entry / len(rows), 4),
            "right_entry_candidate": round(len(own) / len(rows), 4),
            "similarity_min": round(float(np.min(similarity)), 4),
            "similarity_p1": round(float(np.percentile(similarity, 1)), 4),
            "similarity_median": round(float(np.median(similarity)), 4),
            "excess_min": round(float(np.min(excess)), 4),
        }
        if not quiet:
            print(f"{name:22s} {per_transform[name]}", flush=True)
    return per_transform


def negative_report(scored: list[tuple[str, list]], min_fine: float) -> dict:
    """False matches among never-generated images, per kind, and their closest scores."""
    kinds: dict[str, list] = {}
    for kind, candidates in scored:
        fine = [c for c in candidates if c["stage"] == "fine"]
        best = max(fine, key=lambda c: _excess(c, min_fine), default=None)
        kinds.setdefault(kind, []).append(
            (
                _decide(candidates, min_fine) is not None,
                best["similarity"] if best else -1.0,
                _excess(best, min_fine) if best else -2.0,
            )
        )
    report = {}
    for kind, rows in kinds.items():
        a = np.array(rows, float)
        report[kind] = {
            "images": len(rows),
            "false_matches": int(a[:, 0].sum()),
            "similarity_max": round(float(a[:, 1].max()), 4),
            "similarity_p99": round(float(np.percentile(a[:, 1], 99)), 4),
            "similarity_median": round(float(np.median(a[:, 1])), 4),
            "excess_max": round(float(a[:, 2].max()), 4),
        }
    return report


def score_negatives(index, images: list[tuple[str, Image.Image, str]]) -> list:
    return [(kind, index.scored(image)) for kind, image, _ in images]


def margins(per_transform: dict, neg: dict) -> dict:
    """Per transform: lowest fine score of a copy's own entry less the highest negative's.

    Positive: one threshold between them separates every true copy from every
    never-generated image (`excess`: the same after the contrast rule).
    """
    top = max(k["similarity_max"] for k in neg.values())
    top_excess = max(k["excess_max"] for k in neg.values())
    return {
        name: {
            "similarity": round(t["similarity_min"] - top, 4),
            "excess": round(t["excess_min"] - top_excess, 4),
        }
        for name, t in per_transform.items()
    }


def save_pairs(
    folder: Path, index, images: list, scored: list, recorded: list, min_fine: float
) -> list[dict]:
    """Each false match and the 8 closest negatives beside the generated image they matched."""
    rows = []
    for (kind, image, label), (_, candidates) in zip(images, scored, strict=True):
        fine = [c for c in candidates if c["stage"] == "fine"]
        if fine:
            best = max(fine, key=lambda c: _excess(c, min_fine))
            rows.append((_excess(best, min_fine), kind, label, image, best))
    rows.sort(key=lambda r: -r[0])
    chosen = [r for r in rows if r[0] >= 0] + [r for r in rows if r[0] < 0][:8]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for number, (excess, kind, label, image, best) in enumerate(chosen):
        with Image.open(io.BytesIO(recorded[best["row"]][0])) as generated:
            left = generated.convert("RGB").resize((192, 192), Image.Resampling.NEAREST)
        right = image.convert("RGB").resize((192, 192), Image.Resampling.LANCZOS)
        sheet = Image.new("RGB", (392, 192), "white")
        sheet.paste(left, (0, 0))
        sheet.paste(right, (200, 0))
        name = f"{number:02d}_{kind}_{'match' if excess >= 0 else 'near'}.png"
        sheet.save(folder / name)
        entry = index.entry(best["row"])
        out.append(
            {
                "file": str(folder / name),
                "negative": f"{kind}:{label}",
                "matched": f"version {entry['model_version']} seed {entry['seed']}",
                "similarity": round(best["similarity"], 4),
                "excess": round(excess, 4),
            }
        )
        print(f"pair {out[-1]}", flush=True)
    return out


def calibrate(index, copies: dict, scored_negatives: list) -> dict:
    """The (MIN_FINE, FINE_FLOOR) with the fewest false matches here that traces the most."""
    from imagegen.provenance import fingerprint

    sweep = {}
    for floor in FLOORS:
        fingerprint.FINE_FLOOR = floor
        for min_fine in GRID:
            neg = negative_report(scored_negatives, min_fine)
            traced = trace_report(index, copies, min_fine, quiet=True)
            sweep[f"{min_fine}/{floor}"] = {
                "min_fine": min_fine,
                "fine_floor": floor,
                "false_matches": sum(k["false_matches"] for k in neg.values()),
                "traced_min": min(t["traced"] for t in traced.values()),
                "traced_mean": round(
                    float(np.mean([t["traced"] for t in traced.values()])), 4
                ),
            }
            print(sweep[f"{min_fine}/{floor}"], flush=True)
    fewest = min(v["false_matches"] for v in sweep.values())  # 0 when reachable
    clean = [v for v in sweep.values() if v["false_matches"] == fewest]
    top = max(clean, key=lambda v: (v["traced_mean"], -v["fine_floor"]))
    # The middle of the thresholds that trace the most with no false match
    # here: room on both sides for the report split.
    tied = sorted(
        (
            v
            for v in clean
            if (v["traced_mean"], v["fine_floor"])
            == (top["traced_mean"], top["fine_floor"])
        ),
        key=lambda v: v["min_fine"],
    )
    chosen = tied[len(tied) // 2]
    fingerprint.FINE_FLOOR = chosen["fine_floor"]
    per_transform = trace_report(index, copies, chosen["min_fine"])
    neg = negative_report(scored_negatives, chosen["min_fine"])
    margin = margins(per_transform, neg)
    print(f"margins: {margin}", flush=True)
    return {
        "benchmark": "fingerprints_calibration",
        "noise": fingerprint.NOISE,
        "sweep": sweep,
        "chosen": chosen,
        "transforms": per_transform,
        "negatives": neg,
        "margins": margin,
    }


def report_stage(index, copies: dict, scored_negatives: list, query, tmp, entries):
    """The shipped thresholds on the report split, and lookup time at `entries` rows."""
    from imagegen.provenance import fingerprint

    min_fine = fingerprint.MIN_FINE
    per_transform = trace_report(index, copies, min_fine)
    neg = negative_report(scored_negatives, min_fine)
    print(f"negatives: {neg}", flush=True)
    margin = margins(per_transform, neg)
    print(f"margins: {margin}", flush=True)
    lookup = lookup_time(Path(tmp), np.asarray(index.matrix()), entries, query)
    print(f"lookup: {lookup}", flush=True)
    return {
        "benchmark": "fingerprints",
        "host": platform.node(),
        "min_fine": min_fine,
        "noise": fingerprint.NOISE,
        "fine_floor": fingerprint.FINE_FLOOR,
        "transforms": per_transform,
        "traced_mean": round(
            float(np.mean([t["traced"] for t in per_transform.values()])), 4
        ),
        "traced_min": min(t["traced"] for t in per_transform.values()),
        "negatives": {
            "images": len(scored_negatives),
            "false_matches": sum(k["false_matches"] for k in neg.values()),
            "by_kind": neg,
        },
        "margins": margin,
        "lookup": lookup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=sorted(SPLITS), default="report")
    parser.add_argument("--generator", action="append", type=Path)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=250)
    parser.add_argument("--negatives", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--openclipart", type=Path, default=ROOT / "data/01_raw/openclipart"
    )
    parser.add_argument("--out", default=None)
    parser.add_argument("--pairs", type=Path, default=None)
    args = parser.parse_args()
    from imagegen.provenance.generation_index import GenerationIndex
    from imagegen.provenance.generation_ledger import record_images

    name = "fingerprints" if args.stage == "report" else "fingerprints_calibration"
    out = Path(args.out or ROOT / f"benchmarks/results/{name}.json")
    generators = args.generator or [ROOT / "data/06_models/generator.keras"]
    seed, parity = SPLITS[args.stage]
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "generation.jsonl"
        recorded = []  # (png, version, seed, row)
        for number, path in enumerate(generators, start=1):
            pngs = generated_pngs(path, args.images, seed=number)
            meta = [
                {"model_name": "bench", "model_version": str(number), "seed": i}
                for i in range(len(pngs))
            ]
            record_images(pngs, meta, ledger)
            recorded += [
                (png, str(number), i, len(recorded) + i) for i, png in enumerate(pngs)
            ]
        index = GenerationIndex(ledger)
        index.update()
        picks = rng.choice(len(recorded), size=min(args.copies, len(recorded)))
        copies = score_copies(index, [recorded[p] for p in picks], rng)
        images = negatives(args.openclipart, args.negatives, rng, parity)
        scored_negatives = score_negatives(index, images)
        if args.stage == "calibrate":
            report = calibrate(index, copies, scored_negatives)
        else:
            with Image.open(io.BytesIO(recorded[0][0])) as image:
                image.load()
                query = transforms(rng)["resize_0.9_jpeg_q85"](image)
            report = report_stage(
                index, copies, scored_negatives, query, tmp, args.entries
            )
            report["generators"] = [str(g) for g in generators]
            report["images_per_generator"] = args.images
        if args.pairs:
            min_fine = report.get("chosen", {}).get("min_fine", report.get("min_fine"))
            report["pairs"] = save_pairs(
                args.pairs, index, images, scored_negatives, recorded, min_fine
            )
    report["seconds"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
