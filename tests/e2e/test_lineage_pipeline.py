"""Lineage end to end: per-node records, ledger, audits and labelled generation."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.project import PROJECT_ROOT, imagegen, kedro

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(smoke_project):
    from mlflow import MlflowClient

    uri = f"sqlite:///{smoke_project}/mlflow.db"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _train_nodes():
    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from imagegen.pipeline_registry import register_pipelines

    return {n.name for n in register_pipelines()["train"].nodes}


def test_every_train_node_has_a_nested_run_with_digests(smoke_project, client):
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    parent = client.get_run(version.run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{version.run_id}'",
        max_results=500,
    )
    by_node = {r.data.tags["kedro.node"]: r for r in children}
    assert set(by_node) == _train_nodes()
    train = by_node["train_model"]
    assert len(train.data.tags["input.training_set.sha256"]) == 64
    assert train.data.tags["output.generator.path"] == "data/06_models/generator.keras"
    assert train.data.params["training.epochs"] == "1"
    assert train.data.metrics["duration_s"] > 0
    assert train.info.status == "FINISHED"
    # The training data is an MLflow dataset input carrying our SHA-256.
    digest = json.loads(
        (smoke_project / "data/05_model_input/dataset_digest.json").read_text()
    )
    inputs = parent.inputs.dataset_inputs
    assert any(
        {t.key: t.value for t in i.tags}.get("sha256") == digest["dataset_digest"]
        for i in inputs
    )


def test_ledger_has_one_entry_per_node_and_verifies(smoke_project):
    lines = (smoke_project / "data/09_lineage/ledger.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert {e["node"] for e in entries} == _train_nodes()
    result = imagegen(smoke_project, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert f"{len(entries)} entries" in result.stdout


def test_audit_model_lists_exactly_the_accepted_works(smoke_project):
    result = imagegen(
        smoke_project,
        "audit",
        "model",
        "imagegen-digits-dcgan@candidate",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    decisions = pd.read_csv(smoke_project / "data/08_reporting/curation_decisions.csv")
    accepted = set(decisions.loc[decisions.decision == "accepted", "work_id"])
    listed = {
        w["work_id"]
        for key in ("works", "held_back_works", "accepted_not_used")
        for w in audit[key]
    }
    assert listed == accepted
    manifest = pd.read_csv(smoke_project / "data/05_model_input/training_manifest.csv")
    assert {w["work_id"] for w in audit["works"]} == set(manifest["work_id"])
    assert audit["dataset"]["licence_summary"] == {"CC-BY-4.0": len(manifest)}
    markdown = imagegen(
        smoke_project, "audit", "model", "imagegen-digits-dcgan@candidate", "--works"
    )
    assert "## 3 Data processing aspects" in markdown.stdout
    assert "E. Alpaydin" in markdown.stdout
    assert len(markdown.stdout.splitlines()) > len(manifest)
    summary = imagegen(
        smoke_project, "audit", "model", "imagegen-digits-dcgan@candidate"
    ).stdout
    assert len(summary.splitlines()) < 60
    assert f"- works trained on: {len(manifest)}, by 1 creator(s)" in summary
    assert f"- CC-BY-4.0: {len(manifest)}" in summary
    assert "- E. Alpaydin" in summary
    assert "- fid_max: " in summary and "public_summary.md" in summary


def test_generated_images_trace_back_to_their_version(
    smoke_project, client, tmp_path, monkeypatch
):
    from tests.provenance.test_content_credentials import _edit_one_pixel, _make_test_ca

    ca = _make_test_ca()(tmp_path / "ca")  # imagegen() passes the environment on
    monkeypatch.setenv("IMAGEGEN_C2PA_SIGN_KEY", str(ca["key"]))
    monkeypatch.setenv("IMAGEGEN_C2PA_SIGN_CERTS", str(ca["chain"]))
    monkeypatch.setenv("IMAGEGEN_C2PA_TRUST_ANCHORS", str(ca["ca"]))
    out = tmp_path / "generated"
    result = imagegen(
        smoke_project,
        "generate",
        "--model",
        "imagegen-digits-dcgan@candidate",
        "--n",
        "3",
        "--seed",
        "5",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.png"))
    assert len(files) == 3
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    audit = imagegen(smoke_project, "audit", "image", str(files[0]))
    assert audit.returncode == 0, audit.stderr
    assert f"imagegen-digits-dcgan version {version.version}" in audit.stdout
    assert "trainedAlgorithmicMedia" in audit.stdout
    assert "nearest training works" in audit.stdout
    assert "C2PA manifest: present, intact, signed by a trusted chain" in audit.stdout
    edited = tmp_path / "edited.png"
    edited.write_bytes(_edit_one_pixel(files[0].read_bytes()))
    tampered = imagegen(smoke_project, "audit", "image", str(edited))
    assert tampered.returncode == 0, tampered.stderr
    assert "NOT intact" in tampered.stdout
    assert "hash binding failed" in tampered.stdout
    # Stripped of its metadata, the image is still traced through the generation ledger.
    from PIL import Image

    stripped = tmp_path / "stripped.png"
    with Image.open(files[1]) as image:
        Image.frombytes(image.mode, image.size, image.tobytes()).save(stripped)
    traced = imagegen(smoke_project, "audit", "image", str(stripped))
    assert traced.returncode == 0, traced.stderr
    assert f"imagegen-digits-dcgan version {version.version}" in traced.stdout
    assert "fingerprint match" in traced.stdout
    # A resized JPEG copy needs structure the smoke model (one epoch, near-flat
    # grey: std about 2 levels) does not draw: tests/provenance/test_fingerprint.py.
    ledger = smoke_project / "data/09_lineage/generation_ledger.jsonl"
    entries = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert [e["source"] for e in entries[-3:]] == ["cli"] * 3
    if shutil.which("exiftool"):
        xmp = subprocess.run(
            ["exiftool", "-XMP:all", str(files[0])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "trainedAlgorithmicMedia" in xmp


def test_cli_failures_are_one_line(smoke_project, tmp_path):
    (tmp_path / "plain.png").write_bytes(
        (smoke_project / "data/01_raw/digits/0/digit_0000.png").read_bytes()
    )
    for args in (
        ["audit", "model", "imagegen-digits-dcgan@nope"],
        ["audit", "model", "not a ref"],
        ["audit", "image", str(tmp_path / "plain.png")],
    ):
        result = imagegen(smoke_project, *args)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def rerun_project(smoke_project, tmp_path):
    """A copy of the smoke project, to be changed and run again."""
    project = tmp_path / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    return project


def test_tampering_is_named_by_verify(rerun_project):
    ledger = rerun_project / "data/09_lineage/ledger.jsonl"
    data = bytearray(ledger.read_bytes())
    data[len(data) // 2] ^= 0x01
    ledger.write_bytes(bytes(data))
    result = imagegen(rerun_project, "audit", "verify")
    assert result.returncode == 1
    assert result.stderr.startswith("error: line ")


def test_a_changed_output_file_is_named_by_verify(rerun_project):
    target = rerun_project / "data/08_reporting/curation_decisions.csv"
    target.write_text(target.read_text().replace("accepted", "accepted ", 1))
    result = imagegen(rerun_project, "audit", "verify")
    assert result.returncode == 1
    assert "curation_decisions.csv changed" in result.stderr


def test_rerun_audits_differ_exactly_where_the_data_did(taken_down):
    # One training work taken down, then the next `train` (tests/e2e/conftest.py).
    project, withdrawn = taken_down.project, taken_down.work
    first = json.loads(
        imagegen(
            project,
            "audit",
            "model",
            "imagegen-digits-dcgan/1",
            "--format",
            "json",
        ).stdout
    )
    second = json.loads(
        imagegen(
            project,
            "audit",
            "model",
            "imagegen-digits-dcgan/2",
            "--format",
            "json",
        ).stdout
    )
    before = {w["work_id"] for w in first["works"]}
    after = {w["work_id"] for w in second["works"]}
    assert withdrawn in before and withdrawn not in after
    # max_works keeps the training set at 256: the next work by id takes the place.
    assert len(before - after) == 1 and len(after - before) == 1
    assert second["curation"]["opt_outs_honoured"] == 1
    assert first["curation"]["opt_outs_honoured"] == 0
    assert second["dataset"]["digest"] != first["dataset"]["digest"]
    assert imagegen(project, "audit", "verify").returncode == 0


def test_generate_pipeline_writes_labelled_images(rerun_project):
    from imagegen.provenance.xmp import read_png_provenance

    result = kedro(
        rerun_project,
        "run",
        "--pipeline",
        "generate",
        "--env",
        "smoke",
        "--params",
        "generate.n=2,generate.seed=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted((rerun_project / "data/07_model_output/generated").glob("*.png"))
    assert len(files) == 2
    provenance = read_png_provenance(files[0])
    assert provenance["model_name"] == "imagegen-digits-dcgan"
    assert provenance["seed"] == "3"
    manifest = pd.read_csv(
        rerun_project / "data/07_model_output/generation_manifest.csv"
    )
    assert len(manifest) == 2
    assert imagegen(rerun_project, "audit", "verify").returncode == 0


def test_a_consistent_rewrite_is_caught_by_the_registry_anchor(rerun_project):
    from imagegen.provenance.ledger import Ledger, canonical_json, entry_hash

    result = imagegen(rerun_project, "audit", "verify", "--anchor")
    assert result.returncode == 0, result.stderr
    assert "anchors match" in result.stdout
    kept = [line.split(": ", 1)[1] for line in result.stdout.splitlines()[1:2]]
    ledger = Ledger(rerun_project / "data/09_lineage/ledger.jsonl")
    entries = list(ledger.entries())
    # A forger swaps the training set's record and recomputes every later hash.
    entries[3]["outputs"] = {"forged": {"sha256": "0" * 64}}
    prev = entries[2]["hash"]
    for entry in entries[3:]:
        entry["prev_hash"] = prev
        entry["hash"] = prev = entry_hash(entry)
    ledger.path.write_text("".join(canonical_json(e) + "\n" for e in entries))
    ledger.repair_head()
    result = imagegen(rerun_project, "audit", "verify")
    assert result.returncode == 1
    assert "the ledger was rewritten or restarted" in result.stderr
    assert "imagegen-digits-dcgan version 1 (lineage_head)" in result.stderr
    # The head kept offline catches it even without the registry.
    offline = imagegen(
        rerun_project,
        "audit",
        "verify",
        "--expect",
        kept[0],
        "--tracking-uri",
        f"sqlite:///{rerun_project}/nothing.db",
    )
    assert offline.returncode == 1 and "--expect records head" in offline.stderr
