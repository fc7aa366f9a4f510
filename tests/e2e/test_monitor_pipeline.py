"""Monitoring end to end: a memorising and a degraded version are caught."""

import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.project import kedro, project_env

pytestmark = pytest.mark.slow


def memorising_generator(images: np.ndarray) -> keras.Model:
    """Noise -> (almost exactly) one of `images`: softmax(1000 z) picks one."""
    count = len(images)
    noise = keras.Input((count,))
    pick = keras.layers.Dense(count, use_bias=False, trainable=False)(noise)
    pick = keras.layers.Softmax()(pick)
    flat = keras.layers.Dense(int(np.prod(images.shape[1:])), use_bias=False)(pick)
    model = keras.Model(noise, keras.layers.Reshape(images.shape[1:])(flat))
    model.layers[1].set_weights([np.eye(count, dtype="float32") * 1000.0])
    model.layers[3].set_weights([images.reshape(count, -1).astype("float32")])
    return model


def noise_generator(path) -> keras.Model:
    """The trained generator with every weight replaced by noise."""
    model = keras.saving.load_model(path, compile=False)
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.normal(0, 1, w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    return model


@pytest.fixture(scope="module")
def monitored(smoke_project, tmp_path_factory):
    """A copy of the smoke project with two extra versions and images from each."""
    import mlflow
    from mlflow import MlflowClient

    from imagegen.registry import log_generator

    project = tmp_path_factory.mktemp("monitor") / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    uri = f"sqlite:///{project}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    candidate = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    training = np.load(project / "data/05_model_input/training_set.npz")["images"]
    versions = {}
    mlflow.set_tracking_uri(uri)
    try:
        # Same run as the candidate: same lineage, training set and extractor.
        with mlflow.start_run(run_id=candidate.run_id):
            for kind, generator in (
                ("memorising", memorising_generator(training[:64])),
                (
                    "degraded",
                    noise_generator(project / "data/06_models/generator.keras"),
                ),
            ):
                version = log_generator(
                    generator,
                    "imagegen-digits-dcgan",
                    candidate.run_id,
                    candidate.tags["dataset_digest"],
                    max_n=64,
                )
                for key in ("dataset_digest", "fid", "extractor"):
                    client.set_model_version_tag(
                        "imagegen-digits-dcgan", version, key, candidate.tags[key]
                    )
                versions[kind] = version
    finally:
        mlflow.set_tracking_uri(None)
    for kind, version in versions.items():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "imagegen.cli",
                "generate",
                "--model",
                f"imagegen-digits-dcgan/{version}",
                "--n",
                "40",
                "--seed",
                "11",
                "--out",
                str(project / "generated" / kind),
            ],
            cwd=project,
            env=project_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    return project, versions, client


def test_alerts_name_the_memorising_and_the_degraded_version(monitored):
    project, versions, client = monitored
    result = kedro(
        project,
        "run",
        "--pipeline",
        "monitor",
        "--env",
        "smoke",
        "--params",
        "monitor.fail_on_alert=true",
    )
    assert result.returncode != 0
    assert "monitoring alerts" in result.stdout + result.stderr
    report = json.loads(
        (project / "data/08_reporting/monitoring/monitoring_report.json").read_text()
    )
    memorising = report["versions"][f"imagegen-digits-dcgan/{versions['memorising']}"]
    degraded = report["versions"][f"imagegen-digits-dcgan/{versions['degraded']}"]
    assert memorising["reproduction_mismatches"] == 0
    assert memorising["memorised_fraction"] > 0.9
    assert [a.split(":")[0] for a in memorising["alerts"]] == ["memorisation"]
    assert any(a.startswith("quality: kid") for a in degraded["alerts"])
    assert degraded["memorised_fraction"] < 0.15
    tag = client.get_model_version("imagegen-digits-dcgan", versions["degraded"]).tags
    assert tag["monitor.alert"].startswith("quality: kid")
    assert (project / "data/08_reporting/monitoring/monitoring_trend.png").exists()
    assert (
        "Monitoring"
        in (project / "data/08_reporting/monitoring/index.html").read_text()
    )


def test_the_next_check_sees_only_new_images(monitored):
    project, _, _ = monitored
    result = kedro(project, "run", "--pipeline", "monitor", "--env", "smoke")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(
        (project / "data/08_reporting/monitoring/monitoring_report.json").read_text()
    )
    assert report["versions"] == {}
    assert report["alerts"] == []
