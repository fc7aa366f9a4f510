"""Scale-out figures: curation local vs Dask, and training memory from shards.

Two parts, each printing its figures and writing JSON under benchmarks/results/:

1. `curation`: the first `--files` works of a raw folder (Open Clip Art by
   default; regular files copied to a temporary folder) curated with the local
   executor (`--workers` processes) and with a Dask LocalCluster of the same
   number of one-thread worker processes. Reports files/s, CPU seconds per
   file, the distributed path's overhead per file (wall and CPU, with and
   without the cluster's start), whether the decisions are identical, and the
   cluster size that 10 million works would need for `--target-hours`.
2. `training`: peak RSS of one training epoch (smoke-size DCGAN) on
   `--works` synthetic 64x64x3 works written as shards, each size in a fresh
   process (shards are written by another process first); with
   `--input-only`, one epoch of the streamed batches without the model.

    python benchmarks/scale.py curation [--files 2000] [--workers 2]
    python benchmarks/scale.py training [--works 5000 50000] [--input-only]

Wall times depend on the machine's load, which is printed with them; CPU
seconds per file are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results"
TEN_MILLION = 10_000_000


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _print(result: dict) -> None:
    for key, value in result.items():
        print(f"{key}: {value}")  # noqa: T201 - a benchmark prints its figures


def _write(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


# --- 1. curation ---------------------------------------------------------------------


def _subset(raw_dir: Path, files: int, dest: Path) -> int:
    """Copy the first `files` regular works of `raw_dir` (listing order) to `dest`."""
    from imagegen.datasets.raw_folder import RawFolder, decode_rel_path

    copied = 0
    for rel in RawFolder(raw_dir).iter_works():
        source = raw_dir / decode_rel_path(rel)
        if source.is_symlink() or not source.is_file():
            continue
        target = dest / decode_rel_path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied += 1
        if copied == files:
            break
    return copied


def _curate(folder, policy: dict, params: dict):
    from imagegen.pipelines.curation import nodes

    inventory = nodes.inventory_works(folder, {}, policy, params)
    return nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, policy),
        nodes.read_manifest(folder),
        nodes.read_takedown_list(folder),
        policy,
    )


def _policy() -> dict:
    import yaml

    policy = yaml.safe_load((ROOT / "conf/base/policy.yml").read_text())["policy"]
    override = ROOT / "conf/openclipart/policy.yml"
    if override.exists():
        for key, value in (yaml.safe_load(override.read_text())["policy"]).items():
            policy[key] = (
                {**policy.get(key, {}), **value} if isinstance(value, dict) else value
            )
    return policy


def _timed(fn):
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    value = fn()
    return value, time.perf_counter() - wall0, _cpu_seconds() - cpu0


def curation(args) -> dict:
    from distributed import Client, LocalCluster

    from imagegen.datasets.raw_folder import RawFolder

    policy = _policy()
    with tempfile.TemporaryDirectory(prefix="scale-curation-") as tmp:
        files = _subset(Path(args.raw_dir), args.files, Path(tmp))
        folder = RawFolder(tmp)
        load_before = os.getloadavg()
        chunk = {"chunk_size": args.chunk_size}
        local, local_wall, local_cpu = _timed(
            lambda: _curate(folder, policy, {"workers": args.workers, **chunk})
        )
        dask_params = {
            "executor": "dask",
            "workers": args.workers,
            **chunk,
            "dask": {"workers": args.workers, "threads_per_worker": 1},
        }
        distributed, dask_wall, dask_cpu = _timed(
            lambda: _curate(folder, policy, dask_params)
        )

        # The cluster's start and stop alone, to separate it from per-file cost.
        def start_stop():
            with (
                LocalCluster(
                    n_workers=args.workers,
                    threads_per_worker=1,
                    dashboard_address=None,
                ) as cluster,
                Client(cluster),
            ):
                pass

        _, cluster_wall, cluster_cpu = _timed(start_stop)
        identical = local.to_csv(index=False) == distributed.to_csv(index=False)
    per_file_cpu = dask_cpu / files
    cores = TEN_MILLION * per_file_cpu / (args.target_hours * 3600)
    result = {
        "files": files,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "local_wall_s": round(local_wall, 2),
        "local_cpu_s": round(local_cpu, 2),
        "local_files_per_s": round(files / local_wall, 1),
        "dask_wall_s": round(dask_wall, 2),
        "dask_cpu_s": round(dask_cpu, 2),
        "dask_files_per_s": round(files / dask_wall, 1),
        "cluster_start_stop_wall_s": round(cluster_wall, 2),
        "cluster_start_stop_cpu_s": round(cluster_cpu, 2),
        "overhead_ms_per_file_wall": round(1000 * (dask_wall - local_wall) / files, 3),
        "overhead_ms_per_file_wall_without_start": round(
            1000 * (dask_wall - cluster_wall - local_wall) / files, 3
        ),
        "overhead_ms_per_file_cpu": round(1000 * (dask_cpu - local_cpu) / files, 3),
        "cpu_ms_per_file_local": round(1000 * local_cpu / files, 3),
        "cpu_ms_per_file_dask": round(1000 * per_file_cpu, 3),
        "decisions_identical": identical,
        "target_hours_for_10m": args.target_hours,
        "cores_for_10m_at_target": round(cores, 1),
        # Workers of one thread each; a third more for stragglers and retries.
        "workers_for_10m_at_target": int(cores * 4 / 3) + 1,
        "tasks_for_10m": TEN_MILLION // args.chunk_size,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    _print(result)
    _write(args.out or "scale_curation.json", result)
    return result


# --- 2. training memory ------------------------------------------------------------


def _write_synthetic(directory: str, works: int, side: int) -> None:
    """Shards of random works in [-1, 1], one shard in memory at a time."""
    import numpy as np

    from imagegen.datasets.shards import ShardWriter

    rng = np.random.default_rng(0)
    per_shard = max(1, (256 << 20) // (side * side * 3 * 4))
    writer = ShardWriter(Path(directory), per_shard, [])
    for start in range(0, works, 1000):
        count = min(1000, works - start)
        images = rng.uniform(-1, 1, (count, side, side, 3)).astype(np.float32)
        ids = [f"{start + i:064x}" for i in range(count)]
        writer.add(images, [-1] * count, ids, ids)
    writer.close()


def _input_epoch(directory: str) -> None:
    """One epoch of the streamed input alone (batch 64); prints peak RSS as JSON."""
    from imagegen.datasets.shards import ShardedTrainingSet
    from imagegen.training.streaming import make_sharded_dataset

    data = ShardedTrainingSet(directory)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    steps = sum(1 for _ in make_sharded_dataset(data, None, 64, 0, 0, 1))
    print(  # noqa: T201
        json.dumps(
            {
                "mode": "input_only",
                "works": len(data),
                "shards": len(data.shards),
                "steps": steps,
                "epoch_s": round(time.perf_counter() - started, 1),
                "peak_rss_mib_before_epoch": round(rss_before, 1),
                "peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )


def _train_epoch(directory: str, checkpoints: str) -> None:
    """One epoch of a smoke-size DCGAN from the shards; prints peak RSS as JSON."""
    import yaml

    from imagegen.datasets.shards import ShardedTrainingSet
    from imagegen.framework.parameters import TrainingParams
    from imagegen.training.loop import train

    base = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    smoke = yaml.safe_load((ROOT / "conf/smoke/parameters_training.yml").read_text())
    params = base["training"]
    for key, value in smoke["training"].items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    params.update(
        model="dcgan",
        epochs=1,
        checkpoint_dir=checkpoints,
        checkpoint_every_n_steps=0,
        progress_bar=False,
    )
    data = ShardedTrainingSet(directory)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = train(data, TrainingParams.model_validate(params))
    print(  # noqa: T201
        json.dumps(
            {
                "mode": "train",
                "works": len(data),
                "shards": len(data.shards),
                "steps": result.summary["steps"],
                "epoch_s": round(time.perf_counter() - started, 1),
                "peak_rss_mib_before_training": round(rss_before, 1),
                "peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )


def training(args) -> dict:
    runs = []
    for works in args.works:
        with tempfile.TemporaryDirectory(prefix="scale-shards-") as tmp:
            shards, checkpoints = f"{tmp}/shards", f"{tmp}/checkpoints"
            script = [sys.executable, str(Path(__file__).resolve())]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            subprocess.run(
                [*script, "write-shards", shards, str(works)], check=True, env=env
            )
            epoch = (
                ["input-epoch", shards]
                if args.input_only
                else ["train-epoch", shards, checkpoints]
            )
            done = subprocess.run(
                [*script, *epoch],
                check=True,
                env=env,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]))  # noqa: T201
    peaks = [r["peak_rss_mib"] for r in runs]
    result = {
        "side": 64,
        "runs": runs,
        "peak_rss_ratio_largest_to_smallest": round(max(peaks) / min(peaks), 3),
        "within_10_percent": max(peaks) <= 1.1 * min(peaks),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    _print(result)
    default = "scale_training_input.json" if args.input_only else "scale_training.json"
    _write(args.out or default, result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    cur = parts.add_parser("curation")
    cur.add_argument("--raw-dir", default=str(ROOT / "data/01_raw/openclipart"))
    cur.add_argument("--files", type=int, default=2000)
    cur.add_argument("--workers", type=int, default=2)
    cur.add_argument("--chunk-size", type=int, default=64)
    cur.add_argument("--target-hours", type=float, default=8.0)
    cur.add_argument("--out", help="file name under benchmarks/results/")
    tra = parts.add_parser("training")
    tra.add_argument("--works", type=int, nargs="+", default=[5000, 50000])
    tra.add_argument(
        "--input-only",
        action="store_true",
        help="stream the epoch's batches without a model (minutes, not hours)",
    )
    tra.add_argument("--out", help="file name under benchmarks/results/")
    # Internal: each run of `training` in fresh processes.
    write = parts.add_parser("write-shards")
    write.add_argument("directory")
    write.add_argument("works", type=int)
    epoch = parts.add_parser("train-epoch")
    epoch.add_argument("directory")
    epoch.add_argument("checkpoints")
    parts.add_parser("input-epoch").add_argument("directory")
    args = parser.parse_args()
    if args.part == "input-epoch":
        _input_epoch(args.directory)
        return 0
    if args.part == "write-shards":
        _write_synthetic(args.directory, args.works, 64)
        return 0
    if args.part == "train-epoch":
        _train_epoch(args.directory, args.checkpoints)
        return 0
    if args.part == "curation" and not Path(args.raw_dir).is_dir():
        print(f"{args.raw_dir} is missing", file=sys.stderr)  # noqa: T201
        return 2
    (curation if args.part == "curation" else training)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
