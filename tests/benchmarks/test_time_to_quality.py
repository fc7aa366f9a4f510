"""benchmarks/time_to_quality.py runs end to end on tiny data, so it never rots."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _drawings(n: int, seed: int) -> np.ndarray:
    """White 32x32 RGB images, each with one coloured rectangle: clip art in small."""
    rng = np.random.default_rng(seed)
    images = np.ones((n, 32, 32, 3), np.float32)
    for image in images:
        top, left = rng.integers(0, 20, 2)
        height, width = rng.integers(4, 12, 2)
        image[top : top + height, left : left + width] = rng.uniform(-1, 1, 3)
    return images


def test_every_arm_trains_to_the_budget_and_draws_its_curve(tmp_path):
    np.savez(tmp_path / "training.npz", images=_drawings(192, 0))
    np.savez(tmp_path / "holdout.npz", images=_drawings(40, 1))
    out = tmp_path / "ttq.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/time_to_quality.py"),
            "--env=smoke",
            "--budget-images=256",
            "--seeds=3",
            "--arms",
            "plain",
            "ada_recipe",
            "project",
            "--curve-every=0.0001",
            f"--training-set={tmp_path / 'training.npz'}",
            f"--holdout-set={tmp_path / 'holdout.npz'}",
            f"--out={out}",
        ],
        check=False,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["budget"] == {"images": 256}
    assert [run["arm"] for run in report["runs"]] == ["plain", "ada_recipe", "project"]
    for run in report["runs"]:
        assert run["seed"] == 3
        # Each arm stops at the first step that reaches the budget.
        assert 256 <= run["images_seen"] < 256 + 128
        assert all(math.isfinite(run[k]) for k in ("fid", "kid", "diversity"))
        curve = run["curve"]
        seen = [point["images_seen"] for point in curve]
        assert (
            len(curve) >= 2 and seen == sorted(seen) and seen[-1] <= run["images_seen"]
        )
        # Measuring is not training: the probes' time is kept out of the budget.
        assert run["train_seconds"] > 0
        assert all(point["probe_seconds"] > 0 for point in curve)
        assert (tmp_path / "ttq" / f"{run['arm']}_seed3.png").stat().st_size > 0
    assert set(report["medians"]) == {"plain", "ada_recipe", "project"}
    assert "project FID / plain FID" in result.stdout
