"""Where the inventory's per-file CPU goes: ms of process CPU per file, by stage.

Probes a fixed subset of the Open Clip Art set (every `--every`-th work of
the sorted listing, at most `--n`) in this one process, as a worker does,
`--rounds` times, and splits the CPU (`time.process_time`) between the
stages a worker runs: read and hash, decode, embedded and external
metadata, composited view, perceptual signatures, face cascade. CPU per
file in one process is robust to other load on the machine, where wall
figures are not; compare two versions of the code in one sitting.

    python benchmarks/curation_stage_cost.py [--n 2000] [--every 4] [--rounds 2]
        [--raw-dir data/01_raw/openclipart]
        [--out benchmarks/results/curation_stage_cost.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections import Counter
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

# Stage name -> inventory function timed (inclusive of what it calls).
STAGES = {
    "read_and_hash": "sha256_file",
    "decode_and_embedded_metadata": "_check_and_analyse",
    "embedded_metadata": "_embedded_metadata",
    "external_metadata": "_external_metadata",
    "pixels_total": "_analyse_pixels",
    "composite_view": "composite_view",
    "perceptual_signature": "perceptual_signature",
    "faces": "count_faces",
}


def _timed(module, name: str, spent: Counter) -> None:
    """Replace `module.name` by a wrapper that adds its CPU time to `spent[name]`."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started

    setattr(module, name, wrapper)


def main() -> int:
    from curation_throughput import openclipart_policy

    from imagegen.datasets.raw_folder import RawFolder
    from imagegen.pipelines.curation import inventory
    from imagegen.rights.policy import load_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=str(ROOT / "data/01_raw/openclipart"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/curation_stage_cost.json")
    )
    args = parser.parse_args()

    folder = RawFolder(args.raw_dir)
    if not folder.exists():
        print(f"{args.raw_dir} is missing", file=sys.stderr)  # noqa: T201
        return 2
    settings = inventory.ProbeSettings.from_policy(load_policy(openclipart_policy()))
    paths = list(islice(folder.iter_works(), 0, None, args.every))[: args.n]
    for rel in paths[:20]:  # imports, the cascade file, Pillow's plugins
        inventory.probe_file(folder, rel, settings)

    spent: Counter = Counter()
    for name in STAGES.values():
        _timed(inventory, name, spent)
    started = time.process_time()
    for _ in range(args.rounds):
        for rel in paths:
            inventory.probe_file(folder, rel, settings)
    total = time.process_time() - started
    count = args.rounds * len(paths)

    def ms(seconds: float) -> float:
        return round(seconds / count * 1000, 3)

    stages = {stage: ms(spent[name]) for stage, name in STAGES.items()}
    # Decode: the raster checks without the pixel analysis and embedded metadata.
    stages["decode_only"] = round(
        stages["decode_and_embedded_metadata"]
        - stages["pixels_total"]
        - stages["embedded_metadata"],
        3,
    )
    result = {
        "raw_dir": os.path.relpath(args.raw_dir, ROOT),
        "files": len(paths),
        "every": args.every,
        "rounds": args.rounds,
        "ms_cpu_per_file": ms(total),
        "files_per_cpu_s": round(count / total, 1),
        "stages_ms_cpu_per_file": stages,
    }
    for key, value in result.items():
        print(f"{key}: {value}")  # noqa: T201
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
