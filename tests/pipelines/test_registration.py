"""Registration: `candidate` always, `champion` only through every gate."""

import logging
from pathlib import Path

import keras
import pandas as pd
import pytest

from imagegen.pipelines.registration.nodes import publish_version, register_model

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
# What `record_model_lineage` adds (tested end to end in tests/e2e).
LINEAGE = {"lineage_head": "0:" + "a" * 64, "audit": "runs:/x/audit/audit.md"}
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
    monkeypatch.chdir(tmp_path)  # the artifact store: ./mlruns
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
            plan = register_model(evaluation_metrics=metrics, params=PARAMS, **inputs)
            return publish_version(plan, LINEAGE, metrics, PARAMS)

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


def test_version_is_created_with_every_tag_and_digests(registry):
    register, client = registry
    record = register(GOOD)
    version = client.get_model_version("imagegen-digits-dcgan", record["version"])
    for key in ("dataset_digest", "run_id", "lineage_head", "audit", "fid"):
        assert version.tags[key], key
    for name in ("MLmodel", "python_model.pkl", "code", "artifacts"):
        assert len(version.tags[f"digest.{name}"]) == 64, name


def test_version_without_lineage_tags_never_gets_an_alias(registry):
    from imagegen.provenance.audit import AuditError
    from imagegen.registry import incomplete_versions, promote, set_alias

    register, client = registry
    record = register(GOOD)
    # A version as an older writer, killed between creation and tags, left it.
    bare = client.create_model_version(
        "imagegen-digits-dcgan",
        client.get_model_version("imagegen-digits-dcgan", "1").source,
    )
    with pytest.raises(AuditError, match="lacks lineage tag"):
        set_alias(client, "imagegen-digits-dcgan", bare.version, "candidate")
    with pytest.raises(AuditError, match="lacks lineage tag"):
        promote(client, "imagegen-digits-dcgan", bare.version, "champion", "looks fine")
    assert incomplete_versions(client) == [
        (
            "imagegen-digits-dcgan",
            str(bare.version),
            ["dataset_digest", "run_id", "lineage_head", "audit"],
        )
    ]
    held = client.get_registered_model("imagegen-digits-dcgan").aliases
    assert {a: str(v) for a, v in held.items()} == {
        "candidate": record["version"],
        "champion": record["version"],
    }


def test_a_tampered_code_file_is_refused_at_load(registry, tmp_path):
    from imagegen.provenance.audit import AuditError
    from imagegen.registry import load_verified_model

    register, client = registry
    record = register(GOOD)
    model = load_verified_model(client, "imagegen-digits-dcgan", record["version"])
    assert len(model.predict(pd.DataFrame({"seed": [1], "n": [2]}))) == 2
    # The artifact store is a folder here; an attacker with write access edits it.
    serving = sorted((tmp_path / "mlruns").rglob("code/imagegen/serving.py"))
    assert serving, "the version's code/ is in the local artifact store"
    for path in serving:
        path.write_text(path.read_text() + "\nimport os  # injected\n")
    with pytest.raises(AuditError, match="code differ"):
        load_verified_model(client, "imagegen-digits-dcgan", record["version"])


KILL_SCRIPT = """
import sys
import keras, mlflow, pandas as pd
sys.path.insert(0, sys.argv[2])
from test_registration import GOOD, LINEAGE, PARAMS
from imagegen.pipelines.registration.nodes import publish_version, register_model
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("test")
generator = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(16), keras.layers.Reshape((4, 4, 1))]
)
with mlflow.start_run():
    plan = register_model(
        generator,
        {"dataset_digest": "d" * 64, "n_works": 2, "n_creators": 1,
         "licence_summary": {"CC0-1.0": 2}},
        GOOD,
        {"model": "dcgan"},
        pd.DataFrame({"work_id": ["a"]}),
        pd.DataFrame({"work_id": ["a"]}),
        PARAMS,
        "data/01_raw/digits",
    )
    publish_version(plan, LINEAGE, GOOD, PARAMS)
"""


def test_sigkill_at_every_registration_step_leaves_no_alias_on_an_incomplete_version(
    tmp_path,
):
    import os
    import signal
    import subprocess
    import sys

    from mlflow import MlflowClient

    from imagegen.registry import KILL_AT_ENV, missing_lineage_tags

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    script = tmp_path / "register.py"
    script.write_text(KILL_SCRIPT)
    steps = ["model_logged", "version_created", "candidate_set", "champion_set"]
    for step in steps:
        done = subprocess.run(
            [sys.executable, str(script), uri, str(Path(__file__).parent)],
            cwd=tmp_path,
            env={**os.environ, KILL_AT_ENV: step, "MLFLOW_TRACKING_URI": uri},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == -signal.SIGKILL, (step, done.stderr[-2000:])
        client = MlflowClient(uri, uri)
        for model in client.search_registered_models():
            aliases = client.get_registered_model(model.name).aliases
            for alias, version in aliases.items():
                tags = client.get_model_version(model.name, version).tags
                assert not missing_lineage_tags(tags), (step, alias, version)
    client = MlflowClient(uri, uri)
    # Killed after logging the model: no version; after creation: versions 1-3,
    # each complete; the alias reached the versions killed after setting it.
    versions = client.search_model_versions("name = 'imagegen-digits-dcgan'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    assert all(not missing_lineage_tags(v.tags) for v in versions)
    aliases = client.get_registered_model("imagegen-digits-dcgan").aliases
    assert {a: str(v) for a, v in aliases.items()} == {
        "candidate": "3",
        "champion": "3",
    }
