"""Takedown after training, against a real MLflow registry (SQLite) and a real
raw folder: which versions trained on the work, what is recorded, what curation
and the monitor then see."""

import hashlib

import pandas as pd
import pytest
from mlflow import MlflowClient

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation.nodes import read_takedown_list
from imagegen.pipelines.monitor.nodes import measure_generations
from imagegen.provenance.audit import audit_model
from imagegen.provenance.ledger import Ledger, lineage_ledger_path
from imagegen.provenance.takedown import (
    TakedownError,
    append_to_takedown_list,
    parse_work_id,
)
from imagegen.provenance.verify import verify_lineage
from imagegen.registry import promote, take_down

WORKS = [hashlib.sha256(f"work {i}".encode()).hexdigest() for i in range(4)]
NAME = "imagegen-digits-dcgan"


def _table(ids: list[str]) -> str:
    return pd.DataFrame(
        {
            "work_id": ids,
            "path": [f"{i[:6]}.png" for i in ids],
            "title": "t",
            "creator": "c",
            "licence": "CC0-1.0",
            "source_url": "",
        }
    ).to_csv(index=False)


def _version(client, experiment: str, trained: list[str], decided: list[str]) -> str:
    run = client.create_run(experiment).info.run_id
    client.log_text(run, _table(trained), "lineage/training_manifest.csv")
    client.log_text(run, _table([]), "lineage/holdout_works.csv")
    decisions = pd.DataFrame(
        {"work_id": decided, "decision": "accepted", "reason": "ok", "opt_out": ""}
    )
    client.log_text(
        run, decisions.to_csv(index=False), "lineage/curation_decisions.csv"
    )
    client.log_dict(
        run,
        {"dataset_digest": "0" * 64, "licence_summary": {"CC0-1.0": len(trained)}},
        "lineage/dataset_digest.json",
    )
    client.set_terminated(run)
    # With its lineage tags, as registration creates every version.
    tags = {
        "dataset_digest": "d" * 64,
        "run_id": run,
        "lineage_head": "0:" + "a" * 64,
        "audit": f"runs:/{run}/audit/audit.md",
    }
    return client.create_model_version(
        NAME, f"runs:/{run}/generator", run, tags=tags
    ).version


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a raw folder, a ledger and a registry of two versions:
    version 1 trained on WORKS[0], version 2 did not (it only decided on it)."""
    root = tmp_path / "project"
    raw = root / "data/01_raw/works"
    raw.mkdir(parents=True)
    (raw / "a.png").write_bytes(b"not really a png")
    Ledger(lineage_ledger_path(root)).append({"node": "inventory_works"})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(
        "imagegen", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    client.create_registered_model(NAME)
    v1 = _version(client, experiment, WORKS[:3], WORKS[:3])
    v2 = _version(client, experiment, WORKS[1:3], WORKS[:3])
    client.set_registered_model_alias(NAME, "champion", v1)
    client.set_registered_model_alias(NAME, "production", v1)
    client.set_registered_model_alias(NAME, "candidate", v2)
    return root, raw, client


def _take_down(project, work_id, reason="creator's request of 2026-12-01"):
    root, raw, client = project
    return take_down(
        client, work_id, reason, raw, lineage_ledger_path(root), root, by="legal"
    )


def test_versions_trained_on_the_work_are_tagged_and_lose_every_alias(project):
    root, raw, client = project
    result = _take_down(project, WORKS[0].upper())
    assert result["versions"] == {f"{NAME}/1": ["champion", "production"]}
    assert result["seen_not_trained"] == [f"{NAME}/2"]
    aliases = client.get_registered_model(NAME).aliases
    assert {a: str(v) for a, v in aliases.items()} == {"candidate": "2"}
    tags = client.get_model_version(NAME, "1").tags
    assert tags[f"takedown.{WORKS[0]}"].endswith(
        "by legal: creator's request of 2026-12-01"
    )
    decisions = {k: v for k, v in tags.items() if k.startswith("decision.")}
    assert sorted(k.split(".")[1] for k in decisions) == ["champion", "production"]
    assert all(
        v.startswith("demoted by legal: takedown of work") for v in decisions.values()
    )
    assert not any(
        k.startswith("takedown.") for k in client.get_model_version(NAME, "2").tags
    )


def test_curation_reads_the_listed_work_and_the_ledger_still_verifies(project):
    root, raw, _ = project
    (raw / "takedown.txt").write_text(
        f"# existing list\n{WORKS[3]}"
    )  # no final newline
    _take_down(project, WORKS[0])
    _take_down(project, WORKS[0])  # twice: listed once, recorded twice
    assert read_takedown_list(RawFolder(raw)) == sorted([WORKS[0], WORKS[3]])
    assert (raw / "takedown.txt").read_text().count(WORKS[0]) == 1
    entries = list(Ledger(lineage_ledger_path(root)).entries())
    assert [e["node"] for e in entries] == ["inventory_works", "takedown", "takedown"]
    assert entries[1]["work_id"] == WORKS[0]
    assert entries[1]["versions"] == [f"{NAME}/1"]
    # The raw folder changed: the takedown entry records its new digest.
    assert verify_lineage(lineage_ledger_path(root), root)["entries"] == 3


def test_the_audit_names_the_takedown_and_the_version_stays_auditable(project):
    _, _, client = project
    _take_down(project, WORKS[0])
    audit = audit_model(client, f"{NAME}/1")
    assert [t["work_id"] for t in audit["takedowns"]] == [WORKS[0]]
    assert audit["model"]["aliases"] == []
    assert WORKS[0] in {w["work_id"] for w in audit["works"]}


def test_the_monitor_flags_an_affected_version_that_holds_an_alias(project):
    _, _, client = project
    _take_down(project, WORKS[0])
    params = {"experiment": "imagegen-monitoring"}
    empty = pd.DataFrame(columns=["seq", "model_name", "model_version"])
    assert measure_generations(empty, {}, {}, {}, {}, params)["alerts"] == []
    # A person promotes the withdrawn version again: the monitor says so.
    promote(client, NAME, "1", "champion", "re-promoted by mistake", by="ops")
    report = measure_generations(empty, {}, {}, {}, {}, params)
    assert list(report["takedowns"]) == [f"{NAME}/1"]
    assert report["alerts"] == [
        f"{NAME}/1: rights: trained on withdrawn work(s) {WORKS[0][:16]} yet holds "
        "@champion"
    ]


@pytest.mark.parametrize(
    ("work_id", "reason", "message"),
    [
        ("abc", "x", "is not a work id"),
        ("g" * 64, "x", "is not a work id"),
        (WORKS[0], "  \n ", "needs a reason"),
        (WORKS[3], "x", "no registered version's lineage names work"),
    ],
)
def test_refusals_change_nothing(project, work_id, reason, message):
    root, raw, client = project
    with pytest.raises(ValueError, match=message):
        _take_down(project, work_id, reason)
    assert not (raw / "takedown.txt").exists()
    assert len(list(Ledger(lineage_ledger_path(root)).entries())) == 1
    assert str(client.get_registered_model(NAME).aliases["champion"]) == "1"


def test_a_linked_takedown_list_is_refused(tmp_path):
    (tmp_path / "elsewhere.txt").write_text("")
    (tmp_path / "takedown.txt").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(TakedownError, match="not a plain file"):
        append_to_takedown_list(tmp_path, WORKS[0], f"{WORKS[0]}\n")
    assert parse_work_id(f"  {WORKS[1].upper()}\n") == WORKS[1]
