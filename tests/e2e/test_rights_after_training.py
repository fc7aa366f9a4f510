"""Rights after training, end to end: the public summary of a smoke `train`, then a
takedown of one training work and the next `train` (tests/e2e/conftest.py)."""

import json
import re

import pandas as pd
import pytest

from tests.project import imagegen

pytestmark = pytest.mark.slow

SECTIONS = ("1", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "2.2.1", "2.2.2", "2.3")
SECTIONS += ("2.4", "2.5", "2.6", "3", "3.1", "3.2", "3.3")
# Words of a statement about where data came from or how it was obtained.
SOURCE_WORDS = re.compile(
    r"crawl|scrap|user data|synthetic|commercial|licensed by|public(ly)? available"
    r"|third part|no web|was used|were used|not used",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def client(smoke_project):
    from mlflow import MlflowClient

    uri = f"sqlite:///{smoke_project}/mlflow.db"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_the_public_summary_follows_the_template_and_states_only_what_it_knows(
    smoke_project, client, tmp_path
):
    reporting = smoke_project / "data/08_reporting"
    markdown = (reporting / "public_summary.md").read_text()
    numbers = re.findall(r"^## (\d+(?:\.\d+)*) \S", markdown, flags=re.MULTILINE)
    assert tuple(numbers) == SECTIONS
    bullets = [line for line in markdown.splitlines() if line.startswith("- **")]
    for line in bullets:
        assert line.endswith(("not stated", "_(lineage)_")), line
        if SOURCE_WORDS.search(line.split("**: ", 1)[-1]):
            assert line.endswith("not stated"), line
    for number in ("2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6"):
        section = markdown.split(f"## {number} ", 1)[1].split("\n## ", 1)[0]
        assert "- **Used**: not stated" in section, number
    # What lineage knows is filled in: the training set's size, licences and source.
    manifest = pd.read_csv(smoke_project / "data/05_model_input/training_manifest.csv")
    assert f"- **Number of training images**: {len(manifest)} _(lineage)_" in markdown
    assert f"CC-BY-4.0: {len(manifest)} _(lineage)_" in markdown
    assert "archive.ics.uci.edu: 100.0 _(lineage)_" in markdown
    assert "No web crawling" not in markdown
    # The same summary is logged as artifacts of the registry version.
    record = json.loads((reporting / "public_summary.json").read_text())
    version = client.get_model_version(
        "imagegen-digits-dcgan", record["model"]["version"]
    )
    logged = client.download_artifacts(version.run_id, "audit", str(tmp_path))
    assert (tmp_path / "audit/public_summary.md").read_text() == markdown
    assert json.loads((tmp_path / "audit/public_summary.json").read_text()) == record
    assert logged


def test_a_takedown_withdraws_the_version_and_the_next_train_leaves_the_work_out(
    taken_down,
):
    # The takedown, the audit right after it and the next `train`: e2e/conftest.py.
    project, work, version = taken_down.project, taken_down.work, taken_down.version
    result = taken_down.takedown
    assert result.returncode == 0, result.stderr
    assert f"imagegen-digits-dcgan/{version}" in result.stdout

    audit = taken_down.audit
    assert audit.returncode == 0, audit.stderr
    assert "## Takedowns affecting this version" in audit.stdout
    assert f"`{work}`: " in audit.stdout and "Creator's request" in audit.stdout
    record = json.loads(taken_down.audit_json.stdout)
    assert [t["work_id"] for t in record["takedowns"]] == [work]
    assert record["model"]["aliases"] == []
    assert work in {w["work_id"] for w in record["works"]}  # still auditable
    assert version not in set(taken_down.aliases.values())
    assert taken_down.verify.returncode == 0

    retrained = pd.read_csv(project / "data/05_model_input/training_manifest.csv")
    assert work not in set(retrained["work_id"])
    decisions = pd.read_csv(project / "data/08_reporting/curation_decisions.csv")
    assert decisions.set_index("work_id").loc[work, "reason"] == "opt_out:takedown"
    summary = (project / "data/08_reporting/public_summary.md").read_text()
    assert "takedown: 1" in summary


def test_takedown_failures_are_one_line(smoke_project):
    for work_id in ("not-a-sha", "ab" * 32):
        result = imagegen(smoke_project, "takedown", "add", work_id, "--reason", "x")
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (smoke_project / "data/01_raw/digits/takedown.txt").exists()
