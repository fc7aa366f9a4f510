"""End to end: `kedro run --pipeline train --env smoke` in a copy of the project."""

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(smoke_project):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{smoke_project}/mlflow.db")


def test_every_digit_is_decided_and_accepted(smoke_project):
    decisions = pd.read_csv(smoke_project / "data/08_reporting/curation_decisions.csv")
    assert len(decisions) == 1797
    assert set(decisions["decision"]) == {"accepted"}
    assert set(decisions["reason"]) == {"ok"}
    assert set(decisions["licence"]) == {"CC-BY-4.0"}
    assert decisions["work_id"].is_unique
    validation = json.loads(
        (smoke_project / "data/08_reporting/curation_validation.json").read_text()
    )
    assert validation["success"]
    assert (smoke_project / "data/08_reporting/data_docs/index.html").exists()


def test_candidate_version_is_registered_with_lineage_tags(smoke_project, client):
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    digest = json.loads(
        (smoke_project / "data/05_model_input/dataset_digest.json").read_text()
    )
    assert version.tags["dataset_digest"] == digest["dataset_digest"]
    assert json.loads(version.tags["licence_summary"]) == {"CC-BY-4.0": 256}
    assert version.tags["n_works"] == "256"
    run = client.get_run(version.run_id)
    assert run.data.params["training.epochs"] == "1"
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "training")}
    assert "training/training_sample_grid.png" in artifacts
    attribution = client.download_artifacts(
        version.run_id, "attribution/attribution.csv"
    )
    assert len(pd.read_csv(attribution)) == 1797


def test_run_holds_epoch_losses_and_the_evaluation_metric(smoke_project, client):
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    history = client.get_metric_history(version.run_id, "training.g_loss")
    assert [m.step for m in history] == [1]
    assert np.isfinite(history[0].value)
    run = client.get_run(version.run_id)
    assert run.data.metrics["evaluation.fid"] >= 0
    metrics = json.loads(
        (smoke_project / "data/08_reporting/evaluation_metrics.json").read_text()
    )
    assert metrics["fid"] == pytest.approx(run.data.metrics["evaluation.fid"])
    assert metrics["extractor"].startswith("imagegen-autoencoder-")


def test_registered_model_loads_by_alias_and_generates(smoke_project, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{smoke_project}/mlflow.db")
    model = mlflow.pyfunc.load_model("models:/imagegen-digits-dcgan@candidate")
    out = model.predict(pd.DataFrame({"seed": [0], "n": [5]}))
    assert len(out) == 5
    for encoded in out["png_base64"]:
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert image.size == (28, 28)
    version = mlflow.MlflowClient().get_model_version_by_alias(
        "imagegen-digits-dcgan", "candidate"
    )
    raw = mlflow.pyfunc.load_model(
        f"models:/imagegen-digits-dcgan/{version.version}"
    ).unwrap_python_model()
    images = np.asarray(raw.generator(np.zeros((3, raw.latent_dim), "float32")))
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_each_stage_runs_alone_in_order(tmp_path):
    from mlflow import MlflowClient

    from tests.project import copy_project, kedro

    project = copy_project(tmp_path / "project")
    for stage in (
        "curation",
        "preprocessing",
        "training",
        "evaluation",
        "registration",
    ):
        result = kedro(project, "run", "--pipeline", stage, "--env", "smoke")
        assert result.returncode == 0, f"{stage}: " + result.stderr[-3000:]
    uri = f"sqlite:///{project}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    # Registration alone still logs the full lineage into the version's own run.
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "lineage")}
    assert "lineage/training_manifest.csv" in artifacts
    assert "lineage/curation_decisions.csv" in artifacts


def test_training_logs_epoch_grids_diversity_and_a_checkpoint(smoke_project, client):
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    grids = client.list_artifacts(version.run_id, "training/training_samples")
    assert [a.path for a in grids] == ["training/training_samples/epoch_0001.png"]
    diversity = client.get_metric_history(version.run_id, "training.sample_diversity")
    assert [m.step for m in diversity] == [1]
    curves = {a.path for a in client.list_artifacts(version.run_id, "training")}
    assert "training/training_curves.png" in curves
    events = client.list_artifacts(version.run_id, "training/tensorboard")
    assert [a.path.rsplit("/", 1)[-1][:20] for a in events] == ["events.out.tfevents."]
    summary = json.loads(
        (smoke_project / "data/08_reporting/training_summary.json").read_text()
    )
    assert summary["devices"] and summary["jit_compile"] is False
    assert summary["tracking_fraction"] < 0.5
    checkpoint = smoke_project / "data/06_models/checkpoints/dcgan"
    assert (checkpoint / f"ckpt-{summary['steps']:09d}.npz").exists()


def test_mlflow_opens_the_experiment_on_its_training_runs(smoke_project, client):
    # MLflow 3's UI reads the kind: model development shows runs, not GenAI traces.
    experiment = client.get_experiment_by_name("imagegen")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
