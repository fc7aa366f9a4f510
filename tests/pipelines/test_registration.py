"""Registration: `candidate` always, `champion` only through every gate."""

import logging

import keras
import pandas as pd
import pytest

from imagegen.pipelines.registration.nodes import register_model

# Three MLflow model registrations (pyfunc logging): seconds each.
pytestmark = pytest.mark.slow

PARAMS = {
    "model_name_prefix": "imagegen-",
    "alias": "candidate",
    "champion_alias": "champion",
    "max_n": 4,
    "max_images_per_request": 8,
    "gates": {
        "fid_max": 10.0,
        "kid_max": 0.5,
        "ct_min": -3.0,
        "memorised_fraction_max": 0.15,
    },
}
GOOD = {
    "fid": 2.5,
    "kid": 0.05,
    "ct_score": 1.2,
    "memorised_fraction": 0.02,
    "extractor": "imagegen-autoencoder-8d@x",
    "source": "generator",
}


@pytest.fixture
def registry(tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("test")
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Reshape((4, 4, 1)),
        ]
    )
    inputs = {
        "generator": generator,
        "dataset_digest": {
            "dataset_digest": "d" * 64,
            "n_works": 2,
            "n_creators": 1,
            "licence_summary": {"CC0-1.0": 2},
        },
        "training_summary": {"model": "dcgan"},
        "attribution_table": pd.DataFrame({"work_id": ["a", "b"]}),
        "training_manifest": pd.DataFrame({"work_id": ["a", "b"]}),
        "raw_dir": "data/01_raw/digits",
    }

    def register(metrics):
        with mlflow.start_run():
            return register_model(evaluation_metrics=metrics, params=PARAMS, **inputs)

    yield register, MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def test_passing_gates_move_champion_and_failing_ones_do_not(registry, caplog):
    register, client = registry
    first = register(GOOD)
    assert first["champion"] is True
    assert (
        str(
            client.get_model_version_by_alias(
                "imagegen-digits-dcgan", "champion"
            ).version
        )
        == "1"
    )
    tags = client.get_model_version("imagegen-digits-dcgan", "1").tags
    assert tags["gate.fid_max.verdict"] == "pass"
    assert tags["gate.fid_max.value"] == "2.5"
    assert tags["gate.fid_max.limit"] == "<= 10.0"
    assert tags["gates_passed"] == "true"

    caplog.set_level(logging.INFO)
    second = register({**GOOD, "ct_score": -7.5, "memorised_fraction": 0.9})
    assert second["champion"] is False
    # candidate follows the newest version, champion stays on the one that passed.
    assert (
        str(
            client.get_model_version_by_alias(
                "imagegen-digits-dcgan", "candidate"
            ).version
        )
        == "2"
    )
    assert (
        str(
            client.get_model_version_by_alias(
                "imagegen-digits-dcgan", "champion"
            ).version
        )
        == "1"
    )
    tags = client.get_model_version("imagegen-digits-dcgan", "2").tags
    assert tags["gate.ct_min.verdict"] == "fail"
    assert tags["gate.ct_min.value"] == "-7.5"
    assert tags["gate.memorised_fraction_max.verdict"] == "fail"
    assert tags["gate.fid_max.verdict"] == "pass"
    assert tags["gates_passed"] == "false"
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "Champion not moved" in m and "ct_min: ct_score -7.5 >= -3.0: fail" in m
        for m in warning
    ), warning


def test_metrics_of_a_folder_never_make_a_champion(registry):
    register, client = registry
    record = register({**GOOD, "source": "folder:/somewhere"})
    assert record["champion"] is False
    assert (
        str(
            client.get_model_version_by_alias(
                "imagegen-digits-dcgan", "candidate"
            ).version
        )
        == "1"
    )
    assert (
        "champion" not in client.get_registered_model("imagegen-digits-dcgan").aliases
    )
    tags = client.get_model_version("imagegen-digits-dcgan", "1").tags
    assert tags["evaluation_source"] == "folder:/somewhere"


def test_the_input_example_check_records_no_generation(registry, tmp_path):
    import os

    from imagegen.provenance.generation_ledger import flush_background

    register, client = registry
    record = register(GOOD)
    flush_background()
    ledger = tmp_path / "generation.jsonl"
    assert os.environ["IMAGEGEN_GENERATION_LEDGER"] == str(ledger)  # restored
    assert not ledger.exists() or ledger.read_text() == ""
    config = client.get_model_version(record["name"], record["version"])
    assert config.name == "imagegen-digits-dcgan"
