"""Acceptance: `kedro run --pipeline evaluation --params samples_dir=...` on real digits.

A "generator" that memorised (copies of training works) must be flagged by
C_T and the memorised fraction and fail the gates; real digits that were never
trained on must pass them. No generator is trained: the folder mode must not
need one.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.project import kedro

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(smoke_project, tmp_path_factory):
    """The curated, preprocessed smoke project (tests/conftest.py) without its models."""
    project = tmp_path_factory.mktemp("evaluation") / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    # Curation and preprocessing are the smoke run's; the folder mode must not need
    # the generator (nor the feature encoder, which evaluation trains itself).
    shutil.rmtree(project / "data/06_models")
    (project / "data/06_models").mkdir()
    return project


def _folder(project, tmp_path, name, paths):
    folder = tmp_path / name
    for rel in paths:
        target = folder / rel.replace("/", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project / "data/01_raw/digits" / rel, target)
    return folder


@pytest.fixture(scope="module")
def works(project):
    manifest = pd.read_csv(
        project / "data/05_model_input/training_manifest.csv", dtype=str
    )
    decisions = pd.read_csv(
        project / "data/08_reporting/curation_decisions.csv", dtype=str
    )
    holdout = np.load(project / "data/05_model_input/holdout_set.npz")["work_ids"]
    accepted = decisions[decisions["decision"] == "accepted"]
    unseen = accepted[
        ~accepted["work_id"].isin(manifest["work_id"])
        & ~accepted["work_id"].isin(holdout)
    ]
    return manifest, unseen


def _evaluate(project, folder):
    result = kedro(
        project,
        "run",
        "--pipeline",
        "evaluation",
        "--env",
        "smoke",
        "--params",
        f"samples_dir={folder}",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    metrics = json.loads(
        (project / "data/08_reporting/evaluation_metrics.json").read_text()
    )
    table = pd.read_csv(project / "data/08_reporting/evaluation/memorisation.csv")
    return result, metrics, table


def test_copies_of_training_works_are_flagged_and_fail_the_gates(
    project, works, tmp_path
):
    manifest, _ = works
    copied = manifest.sample(n=150, random_state=0)
    folder = _folder(project, tmp_path, "copies", copied["path"])
    (folder / "notes.txt").write_text("not an image")

    result, metrics, table = _evaluate(project, folder)

    assert metrics["source"] == f"folder:{folder}"
    assert metrics["n_samples"] == 150
    assert len(metrics["skipped_files"]) == 1
    assert metrics["skipped_files"][0].startswith("notes.txt: ")
    assert metrics["ct_score"] < -3
    assert metrics["memorised_fraction"] > 0.9
    assert metrics["gate_passed"] is False
    assert metrics["gates"]["ct_min"]["verdict"] == "fail"
    assert metrics["gates"]["memorised_fraction_max"]["verdict"] == "fail"
    assert "Gate ct_min: ct_score" in result.stdout + result.stderr
    for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert np.isfinite(metrics[key]), key
    assert metrics["extractor"].startswith("imagegen-autoencoder-8d@")
    # Every copy's nearest training work is the work it was copied from.
    by_name = dict(zip(table["sample_name"], table["work_id"], strict=True))
    for row in copied.itertuples():
        assert by_name[row.path.replace("/", "_")] == row.work_id
    assert (table["ssim"] > 0.999).all()
    assert set(table["licence"]) == {"CC-BY-4.0"}
    report = project / "data/08_reporting/evaluation"
    for name in ("report.html", "memorisation_sheet.png", "sample_grid.png"):
        assert (report / name).stat().st_size > 0, name
    assert "gates FAILED" in (report / "report.html").read_text()


def test_real_digits_never_trained_on_pass_the_gates(project, works, tmp_path):
    _, unseen = works
    folder = _folder(
        project, tmp_path, "unseen", unseen.sample(n=150, random_state=1)["path"]
    )

    _, metrics, table = _evaluate(project, folder)

    assert metrics["n_samples"] == 150
    assert metrics["ct_score"] > -3
    assert metrics["memorised_fraction"] < 0.15
    assert metrics["gate_passed"] is True, metrics["gates"]
    assert (table["pixel_distance"] > 0).all()


def test_metrics_reach_mlflow(project):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs(
        [client.get_experiment_by_name("imagegen").experiment_id],
        order_by=["attributes.start_time DESC"],
    )
    # The newest `kedro run` (its nodes have nested runs of their own).
    runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    metrics = runs[0].data.metrics
    for key in ("fid", "kid", "precision", "ct_score", "memorised_fraction"):
        assert f"evaluation.{key}" in metrics, key
    assert metrics["evaluation.gate_passed"] == 1.0
    artifacts = {
        a.path for a in client.list_artifacts(runs[0].info.run_id, "evaluation")
    }
    assert "evaluation/memorisation.csv" in artifacts
    assert "evaluation/report.html" in artifacts


def test_samples_dir_refuses_a_missing_folder(project, tmp_path):
    result = kedro(
        project,
        "run",
        "--pipeline",
        "evaluation",
        "--env",
        "smoke",
        "--params",
        f"samples_dir={tmp_path / 'absent'}",
    )
    assert result.returncode != 0
    assert "not a folder" in result.stdout + result.stderr
