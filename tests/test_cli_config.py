"""Bad configuration stops `kedro run` at start, naming the key."""

import pytest

from tests.project import copy_project, kedro

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("config") / "project")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("training.model=stylegan", "training.model"),
        ("training.epochs=-2", "training.epochs"),
    ],
)
def test_bad_parameter_stops_the_run_before_any_node(project, override, key):
    result = kedro(
        project,
        "run",
        "--pipeline",
        "train",
        "--env",
        "smoke",
        "--params",
        override,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert key in output
    assert "Running node" not in output
    assert not (project / "data/01_raw/digits").exists()


def test_viz_build_shows_the_five_stages(viz_project):
    import json

    # `kedro viz build` ran in the session's viz_project (tests/conftest.py).
    main = json.loads((viz_project / "build/api/main").read_text())
    names = {p["id"] for p in main["pipelines"]}
    assert {
        "curation",
        "preprocessing",
        "training",
        "evaluation",
        "registration",
        "train",
        "__default__",
    } <= names
    # Every stage and the audit nodes carry a tag to filter by.
    tags = {t["id"] for t in main["tags"]}
    assert {
        "curation",
        "preprocessing",
        "training",
        "evaluation",
        "registration",
        "audit",
    } <= tags
