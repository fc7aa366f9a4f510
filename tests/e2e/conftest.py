"""Trained projects shared by several e2e modules: each costs a whole smoke `train`.

Both start from a copy of the session's smoke project (tests/conftest.py), train
at once (tests/project.py::kedro_at_once) and are shared read-only; a test that
changes one copies it first or restores it.
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.e2e.hostile import hostile_manifest
from tests.project import imagegen, kedro_at_once

TRAIN = ("run", "--pipeline", "train", "--env", "smoke")


def _client(project) -> MlflowClient:
    uri = f"sqlite:///{project}/mlflow.db"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}


def _second_folder(smoke_project, tmp_path_factory) -> SimpleNamespace:
    """A copy of the smoke project and a second folder of 120 works to train on."""
    project = tmp_path_factory.mktemp("apart") / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    client = _client(project)
    before = {
        name: _aliases(client, name)
        for name in (m.name for m in client.search_registered_models())
    }
    digits = project / "data/01_raw/digits"
    manifest = pd.read_csv(digits / "manifest.csv", dtype=str, keep_default_na=False)
    chosen = manifest.iloc[::15].head(120)  # 64 training works and 6 held back at least
    sketches = tmp_path_factory.mktemp("second") / "sketches"
    for rel in chosen["path"]:
        (sketches / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(digits / rel, sketches / rel)
    chosen.to_csv(sketches / "manifest.csv", index=False)
    hostile_manifest(sketches)
    return SimpleNamespace(
        project=project,
        client=client,
        before=before,
        args=(*TRAIN, "--params", f"raw_dir={sketches}"),
    )


def _taken_down(smoke_project, tmp_path_factory) -> SimpleNamespace:
    """A copy of the smoke project after `imagegen takedown add` of a training work,
    with the registry and the audit as they are right after it."""
    project = tmp_path_factory.mktemp("takedown") / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    manifest = pd.read_csv(project / "data/05_model_input/training_manifest.csv")
    work = manifest["work_id"].iloc[3]
    registration = json.loads(
        (project / "data/08_reporting/registration.json").read_text()
    )
    version = str(registration["version"])
    ref = f"imagegen-digits-dcgan/{version}"
    takedown = imagegen(
        project, "takedown", "add", work, "--reason", "Creator's request of 2026-12-01"
    )
    assert takedown.returncode == 0, takedown.stderr
    return SimpleNamespace(
        project=project,
        work=work,
        version=version,
        takedown=takedown,
        audit=imagegen(project, "audit", "model", ref),
        audit_json=imagegen(project, "audit", "model", ref, "--format", "json"),
        aliases=_aliases(_client(project), "imagegen-digits-dcgan"),
        verify=imagegen(project, "audit", "verify"),
        args=TRAIN,
    )


@pytest.fixture(scope="session")
def _retrained(smoke_project, tmp_path_factory) -> dict[str, SimpleNamespace]:
    """Both projects below, after their next `train` (the two runs go at once)."""
    projects = {
        "second_folder": _second_folder(smoke_project, tmp_path_factory),
        "taken_down": _taken_down(smoke_project, tmp_path_factory),
    }
    results = kedro_at_once({k: (p.project, p.args) for k, p in projects.items()})
    for key, result in results.items():
        assert result.returncode == 0, (
            key + result.stdout[-3000:] + result.stderr[-3000:]
        )
    return projects


@pytest.fixture(scope="session")
def second_folder(_retrained) -> SimpleNamespace:
    """The smoke project, then a `train` on a second folder of 120 works.

    The second folder's metadata is hostile (tests/e2e/hostile.py): one training
    serves test_datasets_apart.py (a second model beside the default) and
    test_hostile_metadata.py (what a person reads of that run is safe).
    """
    return _retrained["second_folder"]


@pytest.fixture(scope="session")
def taken_down(_retrained) -> SimpleNamespace:
    """The smoke project, `imagegen takedown add` of one training work, then the
    next `train` (test_rights_after_training.py, test_lineage_pipeline.py)."""
    return _retrained["taken_down"]
