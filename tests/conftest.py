"""Shared fixtures: the project's own configuration files, read as a user would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _yaml(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / name).read_text())


@pytest.fixture(autouse=True)
def _generation_ledger_in_tmp(tmp_path, monkeypatch):
    """In-process generation never writes into the repository's data/."""
    monkeypatch.setenv("IMAGEGEN_GENERATION_LEDGER", str(tmp_path / "generation.jsonl"))


_MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
)


@pytest.fixture(autouse=True)
def _mlflow_state_per_test():
    """Each test leaves MLflow's process-wide state as it found it.

    `mlflow.set_tracking_uri`, `set_registry_uri` and `set_experiment` keep module
    globals and export environment variables that later tests and their
    subprocesses inherit; without this a test's outcome depends on which modules
    ran before it in the same worker.
    """
    saved = {name: os.environ.get(name) for name in _MLFLOW_ENV}
    yield
    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils

    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    # No public call resets these two; set_registry_uri(None) keeps the variable.
    registry_utils._registry_uri = None
    fluent._active_experiment_id = None
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def base_policy() -> dict:
    return _yaml("base/policy.yml")["policy"]


@pytest.fixture
def base_params() -> dict:
    params: dict = {}
    for path in sorted((PROJECT_ROOT / "conf/base").glob("parameters*.yml")):
        params.update(yaml.safe_load(path.read_text()) or {})
    return params


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """`kedro run --pipelines train --env smoke` in a fresh project copy: (project, result).

    One training for the whole session: modules that inspect a trained, registered
    project read it, modules that change it copy the folder, and
    tests/e2e/test_quiet_run.py reads the run's own output.
    """
    from tests.project import copy_project, kedro

    project = copy_project(tmp_path_factory.mktemp("smoke") / "project")
    # The project sets TensorFlow's log level itself; the quiet-run test checks that.
    result = kedro(
        project,
        "run",
        "--pipelines",
        "train",
        "--env",
        "smoke",
        TF_CPP_MIN_LOG_LEVEL="",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return project, result


@pytest.fixture(scope="session")
def smoke_project(smoke_run):
    """A project copy after `kedro run --pipelines train --env smoke` (shared, read-only)."""
    return smoke_run[0]


@pytest.fixture(scope="session")
def viz_project(tmp_path_factory):
    """A fresh project copy after `kedro viz build`: the static site is in build/."""
    from tests.project import copy_project, kedro

    project = copy_project(tmp_path_factory.mktemp("viz") / "project")
    result = kedro(project, "viz", "build", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return project
