"""Per-file CPU cost of the near-duplicate signatures on Open Clip Art renders.

Decodes N renders (seeded), builds the inventory's composited view of each,
then times (process CPU, 3 rounds) the shape and grid colours of the trimmed
drawing (`similarity.drawing_signatures`, one call gives both) and the grey
copy + pHash, in ms per file; writes JSON.

    python benchmarks/shape_cost.py [--n 300] [--seed 0]
        [--raw-dir data/01_raw/openclipart]
        [--out benchmarks/results/shape_cost.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _ms_per_file(fn, views: list, rounds: int = 3) -> float:
    started = time.process_time()
    for _ in range(rounds):
        for view in views:
            fn(view)
    return round((time.process_time() - started) / (rounds * len(views)) * 1000, 3)


def main() -> int:
    import imagehash

    from imagegen.pipelines.curation.inventory import COLOUR_GRID, composite_view
    from imagegen.pipelines.curation.similarity import drawing_signatures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=str(ROOT / "data/01_raw/openclipart"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/shape_cost.json")
    )
    args = parser.parse_args()
    raw = Path(args.raw_dir)
    if not (raw / "_sources").is_dir():
        print(f"{raw} is missing: run scripts/fetch_openclipart.sh", file=sys.stderr)  # noqa: T201
        return 2
    files = sorted(p for p in raw.rglob("*.png") if "_sources" not in p.parts)
    random.Random(args.seed).shuffle(files)
    views = []
    for path in files[: args.n]:
        with Image.open(path) as image:
            image.load()
            views.append(composite_view(image, 128))  # faces.detect_size

    def phash(view):
        grey = view.convert("L")
        grey.thumbnail((128, 128), Image.Resampling.BILINEAR)
        imagehash.phash(grey, hash_size=16)

    result = {
        "n": len(views),
        "seed": args.seed,
        "ms_per_file_cpu": {
            "shape_and_colour": _ms_per_file(
                lambda view: drawing_signatures(view, COLOUR_GRID), views
            ),
            "grey_and_phash": _ms_per_file(phash, views),
        },
    }
    print(json.dumps(result, indent=1))  # noqa: T201
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
