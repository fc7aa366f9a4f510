"""The prepared GPU run: the project's dcgan on JAX (bf16, XLA) beside a PyTorch DCGAN.

One call on a lent GPU machine (benchmarks/gpu/README.md says how to start
it), under 8 minutes, each arm in its own child process (JAX and PyTorch do
not share the GPU's memory well in one process):

1. throughput at 64x64x3, batch 128 and 256, on the same synthetic images:
   - project: `imagegen.training.loop.train` with `training.model=dcgan`,
     widths 64, on `KERAS_BACKEND=jax` with `mixed_precision` and
     `jit_compile` on `auto` (bf16 and XLA on a GPU): the whole training loop
     (NaN guard, epoch grids, checkpoint at the end), timed per step;
   - reference: `torch_dcgan.py`, an independent PyTorch DCGAN in the
     pytorch/examples recipe with the same layers, AMP bf16, `torch.compile`;
2. the time of 2,000 steps of the project's Open Clip Art defaults
   (conf/base + conf/openclipart parameters) on the images carried in
   `data/openclipart_64.npz` (`prepare.py` writes it).

Prints images/s, the ratio project/reference and the 2,000-step time, and
writes `gpu_benchmark.json` under `--out` ($OUT on the device machine).

    KERAS_BACKEND=jax python benchmarks/gpu/run.py --out DIR           # the GPU run
    KERAS_BACKEND=jax python benchmarks/gpu/run.py --tiny --out DIR    # CPU, seconds

`--tiny` runs every part at toy sizes on CPU (what CI runs, so the script
never rots); the PyTorch arm is skipped where torch is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = HERE / "data" / "openclipart_64.npz"

GPU = {
    "side": 64,
    "batches": [128, 256],
    "widths": 64,
    "steps": 300,
    "warmup": 30,
    "n_images": 4096,
    "oca_steps": 2000,
}
TINY = {
    "side": 16,
    "batches": [8],
    "widths": 4,
    "steps": 3,
    "warmup": 2,
    "n_images": 64,
    "oca_steps": 4,
}


def synthetic(n: int, side: int, seed: int = 0) -> np.ndarray:
    """Smooth random images in [-1, 1] (the same array for both arms)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (n, side // 4, side // 4, 3)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)


def training_params(overrides: dict, env: str | None = None):
    """conf/base's training parameters, then conf/<env>'s, then `overrides`."""
    import yaml

    from imagegen.framework.parameters import TrainingParams

    params = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    params = params["training"]
    layers = [env] if env else []
    for layer in layers:
        path = ROOT / f"conf/{layer}/parameters_training.yml"
        for key, value in yaml.safe_load(path.read_text())["training"].items():
            if isinstance(value, dict):
                params[key] = {**params[key], **value}
            else:
                params[key] = value
    for key, value in overrides.items():
        if isinstance(value, dict):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    return TrainingParams.model_validate(params)


def project_arm(images: np.ndarray, params, stop_after: int, warmup: int) -> dict:
    """Run `train` until `stop_after` steps; images/s after `warmup` steps."""
    import keras

    from imagegen.training.loop import train

    marks: list[float] = []

    class Marks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append(time.perf_counter())
            if len(marks) == stop_after:
                self.model.stop_training = True

    started = time.perf_counter()
    result = train({"images": images}, params, extra_callbacks=(Marks(),))
    total = time.perf_counter() - started
    images_per_step = result.summary["images_per_step"]
    measured = marks[-1] - marks[warmup - 1]
    return {
        "images_per_second": round(
            (len(marks) - warmup) * images_per_step / measured, 1
        ),
        "steps": len(marks),
        "seconds_after_first_step": round(marks[-1] - marks[0], 2),
        "seconds_total": round(total, 2),
        "batch": images_per_step,
        "backend": result.summary["backend"],
        "precision": result.summary["precision"],
        "jit_compile": result.summary["jit_compile"],
        "devices": result.summary["devices"],
        "final": result.summary["final"],
    }


def child(spec: dict) -> dict:
    """One arm, in this process."""
    cfg = spec["cfg"]
    if spec["arm"] == "torch":
        sys.path.insert(0, str(HERE))
        import torch_dcgan

        images = synthetic(cfg["n_images"], cfg["side"])
        return torch_dcgan.run(
            images, spec["batch"], cfg["steps"], cfg["warmup"], cfg["widths"]
        )
    with tempfile.TemporaryDirectory() as tmp:
        common = {
            "checkpoint_dir": str(Path(tmp) / "checkpoints"),
            "checkpoint_every_n_steps": 0,
            "progress_bar": False,
            "mixed_precision": "auto",
            "jit_compile": "auto",
        }
        if spec["arm"] == "project":
            images = synthetic(cfg["n_images"], cfg["side"])
            steps = cfg["warmup"] + cfg["steps"]
            per_epoch = len(images) // spec["batch"]
            params = training_params(
                {
                    **common,
                    "model": "dcgan",
                    "batch_size": spec["batch"],
                    "epochs": -(-steps // per_epoch),
                    "dcgan": {
                        "generator_filters": cfg["widths"],
                        "discriminator_filters": cfg["widths"],
                    },
                }
            )
            return project_arm(images, params, steps, cfg["warmup"])
        images = openclipart_images(cfg)
        params = training_params({**common, "model": "dcgan"}, env="openclipart")
        per_epoch = len(images) // params.batch_size
        params = params.model_copy(update={"epochs": -(-cfg["oca_steps"] // per_epoch)})
        result = project_arm(images, params, cfg["oca_steps"], 1)
        result["n_images"] = len(images)
        result["data"] = str(DATA) if DATA.exists() else "synthetic"
        return result


def openclipart_images(cfg: dict) -> np.ndarray:
    """The carried Open Clip Art images in [-1, 1], else synthetic ones (tiny runs)."""
    if DATA.exists():
        with np.load(DATA) as archive:
            return archive["images"].astype(np.float32) / 127.5 - 1.0
    return synthetic(cfg["n_images"], cfg["side"], seed=1)


def run_child(arm: str, cfg: dict, batch: int | None = None) -> dict:
    spec = json.dumps({"arm": arm, "cfg": cfg, "batch": batch})
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", spec],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        return {"error": done.stderr[-2000:], "returncode": done.returncode}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["child_seconds"] = round(time.perf_counter() - started, 1)
    return result


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes (CPU, CI)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--skip-openclipart", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    cfg = dict(TINY if args.tiny else GPU)
    started = time.perf_counter()
    report: dict = {"config": cfg, "tiny": args.tiny, "throughput": {}}
    arms = ["project"] + (["torch"] if torch_available() else [])
    if "torch" not in arms:
        report["torch"] = "not installed: reference arm skipped"
    for batch in cfg["batches"]:
        row = {arm: run_child(arm, cfg, batch) for arm in arms}
        project = row["project"].get("images_per_second")
        reference = row.get("torch", {}).get("images_per_second")
        if project and reference:
            row["ratio_project_over_torch"] = round(project / reference, 3)
        report["throughput"][str(batch)] = row
        print(
            f"{cfg['side']}x{cfg['side']} batch {batch}: project (JAX) "
            f"{project} img/s, PyTorch reference {reference} img/s, ratio "
            f"{row.get('ratio_project_over_torch')}",
            flush=True,
        )
    if not args.skip_openclipart:
        oca = run_child("openclipart", cfg)
        report["openclipart"] = oca
        print(
            f"Open Clip Art defaults, {cfg['oca_steps']} steps: "
            f"{oca.get('seconds_total')} s in all "
            f"({oca.get('seconds_after_first_step')} s after the first step), "
            f"{oca.get('images_per_second')} img/s",
            flush=True,
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "gpu_benchmark_tiny.json" if args.tiny else "gpu_benchmark.json"
    (out / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / name} ({report['seconds']} s)")
    failed = [
        arm
        for row in report["throughput"].values()
        for arm, value in row.items()
        if isinstance(value, dict) and "error" in value
    ]
    if failed or "error" in report.get("openclipart", {}):
        print(f"failed arms: {failed or ['openclipart']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
