"""benchmarks/curation_stage_cost.py runs on a tiny folder and splits a probe's CPU by stage."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.benchmarks.script import run_benchmark

pytestmark = pytest.mark.slow


def test_stage_costs_cover_every_probed_path(tmp_path):
    raw = tmp_path / "raw"
    (raw / "shapes").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(4):
        pixels = np.full((64, 48, 3), 255, np.uint8)
        pixels[8:40, 8:32] = rng.integers(0, 200, 3, dtype=np.uint8)
        Image.fromarray(pixels).save(raw / "shapes" / f"work_{index}.png")
    (raw / "shapes" / "notes.txt").write_text("not an image")
    _, report = run_benchmark(
        "curation_stage_cost.py",
        tmp_path / "stage_cost.json",
        f"--raw-dir={raw}",
        "--every=1",
        "--rounds=1",
    )
    assert report["files"] == 5  # four PNGs and the text file, every one probed
    stages = report["stages_ms_cpu_per_file"]
    assert stages["faces"] > 0 and stages["decode_only"] >= 0
    # Stages nest inside the probe: none costs more than the whole.
    assert max(stages.values()) <= report["ms_cpu_per_file"]
    assert stages["pixels_total"] >= stages["faces"]
