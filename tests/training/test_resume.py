"""`kedro run --pipeline training`: SIGKILL mid-run, then `--params training.resume=true`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from imagegen.training.checkpoints import CheckpointStore
from tests.project import copy_project, kedro, project_env
from tests.training.digits import digits_training_set

pytestmark = pytest.mark.slow

# 512 digits, batch 64: 8 steps per epoch, 320 steps, a checkpoint every 10.
PARAMS = "training.epochs=40,training.checkpoint_every_n_steps=10"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("resume") / "project")
    np.savez(
        project / "data/05_model_input/training_set.npz",
        **digits_training_set(n=512),
    )
    return project


def summary(project) -> dict:
    return json.loads((project / "data/08_reporting/training_summary.json").read_text())


def test_a_killed_run_resumes_to_the_uninterrupted_result(project):
    command = [sys.executable, "-m", "kedro", "run", "--pipeline", "training"]
    command += ["--env", "smoke", "--params", f"{PARAMS},training.run_name=killed"]
    store = CheckpointStore(project / "data/06_models/checkpoints/killed")
    run = subprocess.Popen(
        command,
        cwd=project,
        env=project_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not store.paths() and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.05)
        time.sleep(1.0)  # into the next interval
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL
    killed_at = store.latest().step
    assert 0 < killed_at < 320
    assert not (project / "data/08_reporting/training_summary.json").exists()

    resumed = kedro(
        project,
        "run",
        "--pipeline",
        "training",
        "--env",
        "smoke",
        "--params",
        f"{PARAMS},training.run_name=killed,training.resume=true",
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after_resume = summary(project)
    assert after_resume["resumed_from_step"] == killed_at
    assert after_resume["steps"] == 320

    straight = kedro(
        project,
        "run",
        "--pipeline",
        "training",
        "--env",
        "smoke",
        "--params",
        f"{PARAMS},training.run_name=straight",
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    uninterrupted = summary(project)
    assert uninterrupted["resumed_from_step"] is None
    for key, value in uninterrupted["final"].items():
        assert after_resume["final"][key] == pytest.approx(value, rel=1e-3), key
