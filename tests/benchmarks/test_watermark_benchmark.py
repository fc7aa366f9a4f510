"""benchmarks/watermark.py --quick runs end to end on tiny data, so it never rots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imagegen.provenance import watermark
from tests.benchmarks.script import run_benchmark
from tests.provenance.test_watermark import _drawings

pytestmark = pytest.mark.slow


def test_quick_run_reports_every_transform_and_the_false_positive_rate(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    for index, pixels in enumerate(_drawings(6, 200, seed=0)):
        Image.fromarray(pixels).save(folder / f"work_{index}.png")
    result, report = run_benchmark(
        "watermark.py",
        tmp_path / "watermark.json",
        "--quick",
        f"--openclipart={folder}",
        f"--generator={tmp_path / 'none.keras'}",
    )
    for size in (64, 256):
        marked = report["marked"][f"openclipart_{size}"]
        assert marked["images"] == 4
        assert marked["psnr_min"] >= 38.0
        assert marked["transforms"]["none"]["detection_rate"] == 1.0
        assert {"jpeg_q50", "resize_0.5", "crop_20", "webp_q80"} <= set(
            marked["transforms"]
        )
        assert all(
            not np.isnan(t["bit_accuracy"]) for t in marked["transforms"].values()
        )
    assert report["false_positives"]["images"] == 200
    assert report["false_positives"]["detected"] <= 1
    calibration = report["calibration"]
    assert calibration["images"] == 40
    assert 0.0 < calibration["reliability_median"] < watermark.MIN_RELIABILITY
    assert "false positives:" in result.stdout


def test_the_crop_diagnosis_sees_the_mark_only_at_the_true_box(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    for index, pixels in enumerate(_drawings(4, 200, seed=1)):
        Image.fromarray(pixels).save(folder / f"work_{index}.png")
    _, report = run_benchmark(
        "watermark_crops.py",
        tmp_path / "crops.json",
        "--images=4",
        f"--openclipart={folder}",
    )
    for size in (64, 256):
        for crop in ("crop_10", "crop_20"):
            row = report[f"openclipart_{size}"][crop]
            by_error = row["reliability_by_box_error_px"]
            # Aligned, the surviving symbols carry the mark; a pixel off, not.
            assert row["interior_agreement"] > 0.7
            assert by_error["0.0"] > by_error["1.0"] + 0.2
            assert row["bits_without_copy_mean"] > 0
            # A copy of every bit in the central blocks: none left without one.
            what_if = report[f"openclipart_{size}"]["what_if_central_layout"]
            assert what_if[crop]["bits_without_copy_mean"] == 0
        bright = report[f"openclipart_{size}"]["brightness_+20"]
        assert 0.0 <= bright["unclipped_blocks_mean"] < 1.0
