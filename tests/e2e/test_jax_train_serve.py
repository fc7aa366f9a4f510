"""`KERAS_BACKEND=jax kedro run --pipeline train --env smoke` registers a model that serves.

The run trains on JAX; the registered version then loads through MLflow's
pyfunc loader (what `mlflow models serve` runs) in a process on the default
TensorFlow backend, and draws images.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

from tests.project import copy_project, kedro, project_env

pytestmark = pytest.mark.slow


def test_a_jax_trained_model_registers_and_serves_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    project = copy_project(tmp_path / "project")
    result = kedro(
        project,
        "run",
        "--pipeline",
        "train",
        "--env",
        "smoke",
        timeout=1500,
        KERAS_BACKEND="jax",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(
        (project / "data/08_reporting/training_summary.json").read_text()
    )
    assert summary["backend"] == "jax"
    assert summary["steps"] > 0
    assert all(math.isfinite(v) for v in summary["final"].values())

    load = textwrap.dedent(
        f"""
        import json, keras, mlflow, pandas as pd
        mlflow.set_tracking_uri("sqlite:///{project}/mlflow.db")
        model = mlflow.pyfunc.load_model("models:/imagegen-digits-dcgan/1")
        out = model.predict(pd.DataFrame({{"seed": [3], "n": [2]}}))
        rows = out.to_dict("records") if hasattr(out, "to_dict") else list(out)
        print(json.dumps({{"backend": keras.backend.backend(), "n": len(rows),
                          "png": all(r["png_base64"] for r in rows)}}))
        """
    )
    env = project_env()
    env.pop("KERAS_BACKEND", None)
    served = subprocess.run(
        [sys.executable, "-c", load],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    answer = json.loads(served.stdout.strip().splitlines()[-1])
    assert answer == {"backend": "tensorflow", "n": 2, "png": True}
