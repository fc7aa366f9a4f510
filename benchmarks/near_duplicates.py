"""Near-duplicate matcher on Open Clip Art: recall under resizes and re-encodes,
precision and recall on the labelled pairs, and blank images against real works.

For N renders drawn at random (seeded) whose half-size copy still gets a
perceptual hash (smaller side at least 2 x `duplicates.min_side`), each transformed copy (resized 0.5-2x
with two filters, re-encoded as JPEG at quality 70 and 85, and both) is run
through the inventory's own decode and signature code and matched against its
original with the curation matcher (`near_duplicates`, the policy's
thresholds). Palette PNGs are resized in RGBA, as editors do (nearest
neighbour, Pillow's own choice for them, is a transform of its own). It also
reports:

- recall_in_set: each copy added after the whole set of renders, caught when
  the matcher joins it to any kept work (what curation would decide);

- fixture: precision and recall of the matcher on two sets of 200 labelled
  pairs: `tests/fixtures/openclipart_near_duplicate_labels.csv` (drawn from
  the grey pHash's flags) and `..._labels_shape.csv` (drawn from this
  matcher's own flags on the whole set);
- blanks: near-uniform images (white, light grey, solid colours, a dot,
  faint noise) matched against the N renders (must be none);
- distinct_pairs: pairs among the N renders themselves that the matcher joins
  (distinct paths; some are real re-exports).

    python benchmarks/near_duplicates.py [--n 300] [--seed 0]
        [--raw-dir data/01_raw/openclipart]
        [--out benchmarks/results/near_duplicates.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a script: this folder is on sys.path, so the benchmarks share one policy.
from curation_throughput import openclipart_policy
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# Pairs flagged by the grey pHash, the earlier shape stage and the current matcher.
LABELS = {
    "phash_pairs": ROOT / "tests/fixtures/openclipart_near_duplicate_labels.csv",
    "shape_matcher_pairs": ROOT
    / "tests/fixtures/openclipart_near_duplicate_labels_shape.csv",
    "matcher_pairs": ROOT / "tests/fixtures/openclipart_near_duplicate_labels_blur.csv",
}


def _bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _rgb_on_white(image: Image.Image) -> Image.Image:
    from imagegen.images import on_white

    return on_white(image.convert("RGBA")).convert("RGB")


def _transforms(image: Image.Image) -> dict[str, bytes]:
    """Each transformed copy of one render, as file bytes."""
    w, h = image.size

    # Pillow resizes palette and bilevel images by nearest neighbour whatever
    # the filter asked; editors resample them in RGBA, so the copies do too.
    # Nearest neighbour is measured as its own transform.
    smooth = image.convert("RGBA") if image.mode in ("P", "1", "PA") else image

    def scaled(factor, method=Image.Resampling.LANCZOS, source=smooth):
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return source.resize(size, method)

    out = {}
    for factor in (0.5, 0.75, 1.5, 2.0):
        out[f"resize_{factor}x"] = _bytes(scaled(factor), "PNG")
    bilinear = Image.Resampling.BILINEAR
    out["resize_0.5x_bilinear"] = _bytes(scaled(0.5, bilinear), "PNG")
    out["resize_2.0x_bilinear"] = _bytes(scaled(2.0, bilinear), "PNG")
    nearest = Image.Resampling.NEAREST
    out["resize_0.5x_nearest"] = _bytes(scaled(0.5, nearest, image), "PNG")
    flat = _rgb_on_white(image)
    out["jpeg_q70"] = _bytes(flat, "JPEG", quality=70)
    out["jpeg_q85"] = _bytes(flat, "JPEG", quality=85)
    half = _rgb_on_white(scaled(0.5))
    out["resize_0.5x_jpeg_q70"] = _bytes(half, "JPEG", quality=70)
    twice = _rgb_on_white(scaled(2.0))
    out["resize_2.0x_jpeg_q70"] = _bytes(twice, "JPEG", quality=70)
    return out


def _blanks() -> dict[str, bytes]:
    """Near-uniform images: blank icons, a lone dot, faint noise."""
    rng = np.random.default_rng(0)
    dot = Image.new("RGB", (200, 200), "white")
    dot.paste((30, 30, 30), (98, 98, 102, 102))
    noise = np.clip(250 + rng.normal(0, 2, (200, 200, 3)), 0, 255).astype(np.uint8)
    images = {
        "white": Image.new("RGB", (200, 200), "white"),
        "light_grey": Image.new("RGB", (200, 200), (235, 235, 235)),
        "black": Image.new("RGB", (200, 200), "black"),
        "red": Image.new("RGB", (200, 200), (200, 30, 30)),
        "blue_card": Image.new("RGB", (300, 200), (40, 60, 160)),
        "transparent": Image.new("RGBA", (200, 200), (0, 0, 0, 0)),
        "dot": dot,
        "faint_noise": Image.fromarray(noise),
    }
    return {name: _bytes(image, "PNG") for name, image in images.items()}


class Matcher:
    """The inventory's decode and signature code, and the curation matcher."""

    def __init__(self, policy: dict):
        from imagegen.pipelines.curation.inventory import ProbeSettings
        from imagegen.rights.policy import load_policy

        rules = load_policy(policy)
        self.settings = ProbeSettings.from_policy(rules)
        self.max_distance = rules.duplicates.max_distance
        self.max_colour = rules.duplicates.max_colour_distance
        self.hash_size = rules.duplicates.hash_size
        self.max_shape = rules.duplicates.max_shape_difference
        self.pair = (
            rules.duplicates.pair_distance,
            rules.duplicates.pair_shape_difference,
        )

    def signature(self, data: bytes) -> tuple[str, str, str]:
        from imagegen.pipelines.curation.inventory import (
            FileRecord,
            _check_and_analyse,
        )

        record = FileRecord(path="x")
        reason = _check_and_analyse(data, record, self.settings, [])
        if reason or not record.phash:
            return ("", "", "")
        return (record.phash, record.colour, record.shape)

    def joined(self, paths: list[str], sigs: list[tuple]) -> dict[str, str]:
        from imagegen.pipelines.curation.inventory import near_duplicates

        return near_duplicates(
            paths,
            paths,
            [s[0] for s in sigs],
            self.max_distance,
            [s[1] for s in sigs],
            self.max_colour,
            [s[2] for s in sigs],
            self.max_shape,
            *self.pair,
        )

    def match(self, a: tuple, b: tuple) -> bool:
        return bool(a[0] and b[0]) and "b" in self.joined(["a", "b"], [a, b])


def _renders(raw: Path, seed: int) -> list[str]:
    renders = sorted(
        p.relative_to(raw).as_posix()
        for p in raw.rglob("*.png")
        if "_sources" not in p.parts and not p.is_symlink()
    )
    random.Random(seed).shuffle(renders)
    return renders


def transform_recall(matcher: Matcher, raw: Path, n: int, seed: int, min_side: int):
    """Signatures of N originals, and per transform whether each copy matched."""
    originals: dict[str, tuple] = {}
    copies_signed: dict[str, dict[str, tuple]] = {}
    hits: dict[str, list[bool]] = {}
    missed: dict[str, list[str]] = {}
    skipped = Counter()
    for rel in _renders(raw, seed):
        if len(originals) >= n:
            break
        data = (raw / rel).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            if min(image.size) < min_side or max(image.size) > 2048:
                skipped["size"] += 1
                continue
            image.load()
            copies = _transforms(image)
        sig = matcher.signature(data)
        if not sig[0]:
            skipped["no_signature"] += 1  # near-uniform: never matched
            continue
        originals[rel] = sig
        for name, copy in copies.items():
            copy_sig = matcher.signature(copy)
            copies_signed.setdefault(name, {})[rel] = copy_sig
            ok = matcher.match(sig, copy_sig)
            hits.setdefault(name, []).append(ok)
            if not ok:
                missed.setdefault(name, []).append(rel)
    recall = {name: round(float(np.mean(v)), 4) for name, v in hits.items()}
    return originals, copies_signed, recall, missed, dict(skipped)


def recall_in_set(
    matcher: Matcher, raw: Path, copies_signed: dict[str, dict[str, tuple]]
) -> dict:
    """Per transform, the share of copies that curation flags when each is added
    after the whole set: caught if it joins any work of the set (its original
    or another work the matcher takes for the same drawing)."""
    paths = sorted(
        p.relative_to(raw).as_posix()
        for p in raw.rglob("*.png")
        if "_sources" not in p.parts and not p.is_symlink()
    )
    sigs = []
    for rel in paths:
        sigs.append(matcher.signature((raw / rel).read_bytes()))
    known = set(paths)
    out = {}
    for name, copies in copies_signed.items():
        added = [f"copy:{rel}" for rel in copies]
        joined = matcher.joined(paths + added, sigs + list(copies.values()))
        caught = [joined.get(a, "") in known for a in added]
        out[name] = {
            "recall": round(float(np.mean(caught)), 4),
            "own_original": round(
                float(np.mean([joined.get(a, "") == a[5:] for a in added])), 4
            ),
        }
    return out


def fixture_scores(matcher: Matcher, raw: Path, path: Path) -> dict:
    labels = pd.read_csv(path)
    labels["flagged"] = [
        matcher.match(
            matcher.signature((raw / row.kept).read_bytes()),
            matcher.signature((raw / row.path).read_bytes()),
        )
        for row in labels.itertuples()
    ]
    flagged = int(labels["flagged"].sum())
    same = int(labels["same_work"].sum())
    true = int((labels["flagged"] & labels["same_work"]).sum())
    columns = ["path", "kept"]
    return {
        "pairs": len(labels),
        "same_work": same,
        "flagged": flagged,
        "true_positives": true,
        "precision": round(true / max(1, flagged), 4),
        "recall": round(true / max(1, same), 4),
        "false_positives": labels[labels["flagged"] & ~labels["same_work"]][
            columns
        ].to_dict("records"),
        "false_negatives": labels[~labels["flagged"] & labels["same_work"]][
            columns
        ].to_dict("records"),
    }


def blank_matches(matcher: Matcher, originals: dict[str, tuple]) -> dict:
    out = {}
    for name, data in _blanks().items():
        sig = matcher.signature(data)
        matched = [p for p, s in originals.items() if matcher.match(s, sig)]
        out[name] = {"hashed": bool(sig[0]), "matched_works": matched[:10]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=str(ROOT / "data/01_raw/openclipart"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/near_duplicates.json")
    )
    args = parser.parse_args()
    raw = Path(args.raw_dir)
    if not (raw / "_sources").is_dir():
        print(f"{raw} is missing: run scripts/fetch_openclipart.sh", file=sys.stderr)  # noqa: T201
        return 2
    policy = openclipart_policy()
    matcher = Matcher(policy)
    started = time.perf_counter()
    # Originals whose half-size copy still gets a signature (duplicates.min_side).
    min_side = 2 * policy["duplicates"]["min_side"]
    originals, copies_signed, recall, missed, skipped = transform_recall(
        matcher, raw, args.n, args.seed, min_side
    )
    in_set = recall_in_set(matcher, raw, copies_signed)
    fixture = {
        name: fixture_scores(matcher, raw, path) for name, path in LABELS.items()
    }
    blanks = blank_matches(matcher, originals)
    paths = list(originals)
    joined = matcher.joined(paths, [originals[p] for p in paths])
    result = {
        "raw_dir": os.path.relpath(raw, ROOT),
        "n": len(originals),
        "seed": args.seed,
        "original_min_side": min_side,
        "skipped": skipped,
        "max_distance": matcher.max_distance,
        "max_colour_distance": matcher.max_colour,
        "hash_size": matcher.hash_size,
        "max_shape_difference": matcher.max_shape,
        "recall_per_transform": recall,
        "recall_in_set_per_transform": in_set,
        "missed_examples": {k: v[:5] for k, v in missed.items()},
        "fixture": fixture,
        "blanks": blanks,
        "distinct_pairs": dict(sorted(joined.items())),
        "seconds": round(time.perf_counter() - started, 1),
    }
    summary = {
        "n": result["n"],
        "recall_per_transform": recall,
        "recall_in_set": {k: v["recall"] for k, v in in_set.items()},
        "fixture": {
            name: {k: f[k] for k in ("flagged", "precision", "recall")}
            for name, f in fixture.items()
        },
        "blanks_matched": sum(bool(b["matched_works"]) for b in blanks.values()),
        "distinct_pairs": len(joined),
        "seconds": result["seconds"],
    }
    print(json.dumps(summary, indent=1))  # noqa: T201
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
