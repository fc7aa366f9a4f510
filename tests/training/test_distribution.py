"""tf.distribute strategies, each in a fresh process (devices are set at start-up)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT
from tests.project import project_env

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys, tempfile
from pathlib import Path
import tensorflow as tf
if sys.argv[1] == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
from imagegen.training.loop import train
from tests.training.conftest import smoke_training_params
from tests.training.digits import digits_training_set
out = {}
for model in sys.argv[2:]:
    params = smoke_training_params(
        Path(tempfile.mkdtemp()), model=model, distribution=sys.argv[1]
    )
    summary = train(digits_training_set(), params).summary
    out[model] = {k: summary[k] for k in ("replicas", "devices", "final")}
print("RESULT" + json.dumps(out))
"""


def run(distribution: str, *models: str) -> dict:
    env = project_env()
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, distribution, *models],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_mirrored_strategy_trains_every_model_on_two_replicas():
    # Two logical CPU devices stand in for two GPUs.
    results = run("mirrored", "dcgan", "cgan", "wgan_gp", "vae")
    for model, result in results.items():
        assert result["replicas"] == 2, model
        assert len(result["devices"]) == 2, model
        assert all(math.isfinite(v) for v in result["final"].values()), model


def test_multi_worker_strategy_without_tf_config_is_one_local_worker():
    result = run("multi_worker", "dcgan")["dcgan"]
    assert result["replicas"] == 1
    assert result["devices"] == ["/job:localhost/replica:0/task:0/device:CPU:0"]
