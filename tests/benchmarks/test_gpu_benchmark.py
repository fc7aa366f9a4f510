"""benchmarks/gpu/run.py runs at toy sizes on CPU, as on the device image, so it never rots.

The device image has no TensorFlow, Kedro or MLflow: a `sitecustomize` on the
children's path makes those imports fail here too, so a dependency that the
wheel folder would not carry shows up in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = ("tensorflow", "kedro", "kedro_datasets", "mlflow", "great_expectations")

    class NotOnTheDevice(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (not on the device)")
            return None

    sys.meta_path.insert(0, NotOnTheDevice())
    """
)


def test_the_prepared_gpu_run_works_at_toy_sizes_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")]),
    }
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu/run.py", "--tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_benchmark_tiny.json").read_text())
    project = report["throughput"]["8"]["project"]
    assert project["backend"] == "jax"
    assert project["images_per_second"] > 0
    assert project["steps"] == 5
    oca = report["openclipart"]
    assert oca["steps"] == 4 and oca["seconds_total"] > 0
    if importlib.util.find_spec("torch") is None:
        assert "torch" not in report["throughput"]["8"]
        assert "skipped" in report["torch"]
    else:
        assert report["throughput"]["8"]["torch"]["images_per_second"] > 0
