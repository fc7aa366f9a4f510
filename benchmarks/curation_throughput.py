"""Curation throughput on the Open Clip Art PNG set: files/s per core and in total.

Runs the curation nodes that touch every file (inventory: hash, header,
metadata, decode, pHash, faces; then duplicates and decisions) the way the
pipeline does, and prints and writes (JSON):

- files_per_s: wall-clock files per second with `--workers` processes;
- files_per_cpu_s: files per CPU-second used by all processes, i.e. the
  throughput of one fully used core (robust to other load on the machine);
  parent_cpu_s and workers_cpu_s split it (listing, duplicates and decisions
  run in the parent; probing in the workers);
- peak_rss_mib: the largest resident set of the parent and of any worker.

    python benchmarks/curation_throughput.py [--raw-dir data/01_raw/openclipart]
        [--workers 2] [--out benchmarks/results/curation_throughput.json]
        [--decisions-csv /tmp/decisions.csv]

Fetch the data first: scripts/fetch_openclipart.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def openclipart_policy() -> dict:
    """The policy of `--env openclipart`: base merged with its override."""
    policy = yaml.safe_load((ROOT / "conf/base/policy.yml").read_text())["policy"]
    override = ROOT / "conf/openclipart/policy.yml"
    if override.exists():
        for key, value in (yaml.safe_load(override.read_text())["policy"]).items():
            if isinstance(value, dict):
                policy[key] = {**policy.get(key, {}), **value}
            else:
                policy[key] = value
    return policy


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=str(ROOT / "data/01_raw/openclipart"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/curation_throughput.json")
    )
    parser.add_argument(
        "--decisions-csv",
        default="",
        help="also write the per-work decisions here (to diff two versions)",
    )
    args = parser.parse_args()

    from imagegen.datasets.raw_folder import RawFolder
    from imagegen.pipelines.curation import nodes

    folder = RawFolder(args.raw_dir)
    if not folder.exists():
        print(  # noqa: T201 - a benchmark prints its figures
            f"{args.raw_dir} is missing: run scripts/fetch_openclipart.sh",
            file=sys.stderr,
        )
        return 2
    policy = openclipart_policy()
    params = {"workers": args.workers, "chunk_size": args.chunk_size}
    load_before = os.getloadavg()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    inventory = nodes.inventory_works(folder, {}, policy, params)
    wall_inventory = time.perf_counter() - wall0
    duplicates = nodes.find_duplicates(inventory, policy)
    manifest = nodes.read_manifest(folder)
    decisions = nodes.decide_works(
        inventory,
        duplicates,
        manifest,
        nodes.read_takedown_list(folder),
        policy,
        nodes.check_site_reservations(folder, inventory, manifest, policy),
    )
    wall = time.perf_counter() - wall0
    parent_cpu, workers_cpu = (b - a for a, b in zip(cpu0, _cpu_seconds(), strict=True))
    cpu = parent_cpu + workers_cpu
    files = len(decisions)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "raw_dir": os.path.relpath(args.raw_dir, ROOT),
        "files": files,
        "decoded": int(
            (
                inventory["format"].isin(["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"])
                & (inventory["link_target"] == "")
            ).sum()
        ),
        "links": int((inventory["link_target"] != "").sum()),
        "workers": args.workers,
        "wall_s": round(wall, 2),
        "inventory_wall_s": round(wall_inventory, 2),
        "cpu_s": round(cpu, 2),
        "parent_cpu_s": round(parent_cpu, 2),
        "workers_cpu_s": round(workers_cpu, 2),
        "files_per_s": round(files / wall, 1),
        "files_per_s_per_worker": round(files / wall / args.workers, 1),
        "files_per_cpu_s": round(files / cpu, 1),
        "peak_rss_mib_parent": round(peak_self, 1),
        "peak_rss_mib_worker": round(peak_child, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "decisions": dict(Counter(decisions["decision"])),
        "reasons": dict(Counter(decisions["reason"].str.split(":", n=1).str[0])),
    }
    for key, value in result.items():
        print(f"{key}: {value}")  # noqa: T201
    if args.decisions_csv:
        decisions.to_csv(args.decisions_csv, index=False)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
