import pandas as pd
import pytest

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation import nodes
from tests.pipelines.corpus import build_corpus, snapshot


@pytest.fixture
def corpus(tmp_path):
    root, outside = tmp_path / "raw", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    expected = build_corpus(root, outside)
    return root, expected


@pytest.fixture
def policy(base_policy):
    return {**base_policy, "max_pixels": 20_000, "min_side": 8}


def _curate(root, policy, tmp_path, workers=1):
    folder = RawFolder(root)
    inventory = nodes.inventory_works(
        folder, {}, policy, {"workers": workers, "chunk_size": 4}
    )
    decisions = nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, policy),
        nodes.read_manifest(folder),
        nodes.read_takedown_list(folder),
        policy,
    )
    validation = nodes.validate_decisions(decisions, policy, str(tmp_path / "docs"))
    return decisions, validation


def test_every_file_gets_the_expected_decision_and_reason(corpus, policy, tmp_path):
    root, expected = corpus
    decisions, validation = _curate(root, policy, tmp_path)
    got = {row.path: (row.decision, row.reason) for row in decisions.itertuples()}
    assert got == expected
    assert validation["success"]
    assert (tmp_path / "docs" / "index.html").exists()


def test_raw_folder_is_left_untouched(corpus, policy, tmp_path):
    root, _ = corpus
    before = snapshot(root)
    _curate(root, policy, tmp_path)
    assert snapshot(root) == before


def test_accepted_rows_carry_licence_and_creator(corpus, policy, tmp_path):
    root, _ = corpus
    decisions, validation = _curate(root, policy, tmp_path)
    accepted = nodes.select_accepted(decisions, validation)
    assert sorted(accepted["path"]) == [
        "dup/a_original.png",
        "ok/cc0.png",
        "ok/cc_by.png",
        "ok/grey.png",
    ]
    assert set(accepted["licence"]) == {
        "CC-BY-4.0",
        "CC0-1.0",
        "LicenseRef-PublicDomain",
    }
    table, markdown = nodes.build_attribution(accepted)
    assert len(table) == 4
    assert "A. Artist" in markdown and "CC-BY-4.0" in markdown


def test_validation_stops_an_accepted_denied_licence(corpus, policy, tmp_path):
    root, _ = corpus
    decisions, _ = _curate(root, policy, tmp_path)
    tampered = decisions.copy()
    row = tampered["path"] == "licence/nc.png"
    tampered.loc[row, ["decision", "reason"]] = ["accepted", "ok"]
    tampered.loc[row, "licence"] = "CC-BY-NC-4.0"
    with pytest.raises(ValueError, match="failed validation"):
        nodes.validate_decisions(tampered, policy, str(tmp_path / "docs2"))


def test_validation_stops_an_accepted_opt_out(corpus, policy, tmp_path):
    root, _ = corpus
    decisions, _ = _curate(root, policy, tmp_path)
    tampered = decisions.copy()
    row = tampered["path"] == "optout/takedown.png"
    tampered.loc[row, ["decision", "reason"]] = ["accepted", "ok"]
    with pytest.raises(ValueError, match="opt_out"):
        nodes.validate_decisions(tampered, policy, str(tmp_path / "docs3"))


def test_counts_become_metrics(corpus, policy, tmp_path):
    root, expected = corpus
    decisions, _ = _curate(root, policy, tmp_path)
    metrics = nodes.count_decisions(decisions)
    assert metrics["files"]["value"] == len(expected)
    assert metrics["accepted"]["value"] == 4
    assert metrics["reason.duplicate"]["value"] == 2


def test_default_data_is_written_once_and_never_over_user_files(tmp_path):
    target = tmp_path / "digits"
    spec = {"name": "digits", "dir": str(target)}
    assert nodes.materialise_default_data(str(target), spec)["written"] == 1797
    manifest = pd.read_csv(target / "manifest.csv")
    assert len(manifest) == 1797
    assert set(manifest["licence"]) == {"CC-BY-4.0"}
    # Second run: present, nothing written.
    assert nodes.materialise_default_data(str(target), spec)["written"] == 0
    # A user's folder with files but no manifest is left as it is.
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.png").write_bytes(b"x")
    spec_user = {"name": "digits", "dir": str(user)}
    assert nodes.materialise_default_data(str(user), spec_user)["written"] == 0
    assert sorted(p.name for p in user.iterdir()) == ["a.png"]
