"""Training on another folder registers its own model: the default's aliases stay put."""

import re
import shutil

import pytest

from tests.project import PROJECT_ROOT, imagegen

pytestmark = pytest.mark.slow


def _readme_refs() -> set[str]:
    """The model references of the README's `audit model` and `generate` commands."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    refs = set(re.findall(r"imagegen audit model (\S+)", readme))
    refs |= set(re.findall(r"imagegen generate --model (\S+)", readme))
    assert refs, "the README shows no audit/generate command"
    return refs


def _aliases(client, name: str) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture(scope="module")
def two_datasets(second_folder):
    """The smoke project, then a `train` on a second folder of 120 works (e2e/conftest.py)."""
    return second_folder.project, second_folder.client, second_folder.before


def test_the_second_folder_gets_its_own_model(two_datasets):
    _, client, before = two_datasets
    names = {m.name for m in client.search_registered_models()}
    assert names == {*before, "imagegen-sketches-dcgan"}
    assert _aliases(client, "imagegen-sketches-dcgan")["candidate"] == "1"
    for name, aliases in before.items():
        assert _aliases(client, name) == aliases, f"{name}'s aliases moved"


def test_the_readme_commands_still_address_the_default_model(two_datasets, tmp_path):
    project, client, before = two_datasets
    default = before["imagegen-digits-dcgan"]
    for ref in _readme_refs():
        name, alias = ref.split("@")
        assert name == "imagegen-digits-dcgan"
        assert (
            str(client.get_model_version_by_alias(name, alias).version)
            == (default[alias])
        )
    ref = sorted(_readme_refs())[0]
    audit = imagegen(project, "audit", "model", ref)
    assert audit.returncode == 0, audit.stderr
    assert f"# imagegen-digits-dcgan version {default['candidate']}" in audit.stdout
    out = tmp_path / "generated"
    made = imagegen(
        project,
        "generate",
        "--model",
        ref,
        "--n",
        "2",
        "--seed",
        "0",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.stderr
    # The training set on disk is now the second folder's: the image's own
    # version's works are rebuilt from the raw folder its lineage names.
    traced = imagegen(project, "audit", "image", str(sorted(out.glob("*.png"))[0]))
    assert traced.returncode == 0, traced.stderr
    assert "from the raw works in data/01_raw/digits" in traced.stdout
    assert "nearest training works (pixel RMSE" in traced.stdout


def test_a_missing_raw_work_is_named_with_how_to_restore_it(two_datasets, tmp_path):
    project, _, _ = two_datasets
    out = tmp_path / "generated"
    ref = "imagegen-digits-dcgan@candidate"
    made = imagegen(
        project,
        "generate",
        "--model",
        ref,
        "--n",
        "1",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.stderr
    digits = project / "data/01_raw/digits"
    moved = tmp_path / "digits-away"
    shutil.move(digits, moved)
    try:
        traced = imagegen(project, "audit", "image", str(next(out.glob("*.png"))))
    finally:
        shutil.move(moved, digits)
    assert traced.returncode == 0, traced.stderr
    assert "data/01_raw/digits (raw_dir of the version's run) is missing" in (
        traced.stdout
    )
    assert "restore it from the works listed in lineage/training_manifest.csv" in (
        traced.stdout
    )
