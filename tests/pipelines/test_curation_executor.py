"""Curation on a Dask cluster: the same decisions as the local executor."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import yaml

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.curation.executor import DaskExecutor, open_executor
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import build_corpus

POLICY_FILE = PROJECT_ROOT / "conf/base/policy.yml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    root, outside = base / "raw", base / "outside"
    root.mkdir()
    outside.mkdir()
    build_corpus(root, outside)
    return root


@pytest.fixture(scope="module")
def policy():
    base = yaml.safe_load(POLICY_FILE.read_text())["policy"]
    return {**base, "max_pixels": 100_000, "min_side": 8}


def _decisions(root, policy, params):
    folder = RawFolder(root)
    inventory = nodes.inventory_works(folder, {}, policy, params)
    return nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, policy),
        nodes.read_manifest(folder),
        nodes.read_takedown_list(folder),
        policy,
    )


@pytest.mark.slow
def test_dask_decisions_equal_the_local_ones_across_partitions(corpus, policy):
    local = _decisions(corpus, policy, {"workers": 1, "chunk_size": 4})
    # Chunks of 3 files: duplicates and links sit in different partitions.
    dask = _decisions(
        corpus,
        policy,
        {"executor": "dask", "chunk_size": 3, "dask": {"workers": 2}},
    )
    assert len(local) > 30
    assert {"duplicate", "corrupt", "opt_out"} <= set(
        local["reason"].str.split(":").str[0]
    )
    pd.testing.assert_frame_equal(dask, local)
    assert dask.to_csv(index=False) == local.to_csv(index=False)


def _kill_worker_once(marker: str, chunk: list[str]) -> list[dict]:
    """Ends its worker process the first time it runs (a crash, an OOM kill)."""
    if not os.path.exists(marker):
        open(marker, "w").close()  # noqa: SIM115 - the file's existence is the flag
        os._exit(1)
    return [{"path": rel} for rel in chunk]


@pytest.mark.slow
def test_a_task_whose_worker_dies_is_rerun_by_dask(tmp_path):
    marker = str(tmp_path / "died_once")
    chunks = [["a", "b"], ["c"]]
    with DaskExecutor(workers=2, retries=2) as executor:
        got = list(executor.map_chunks(_kill_worker_once, chunks, marker))
    assert os.path.exists(marker)
    assert got == [
        (["a", "b"], [{"path": "a"}, {"path": "b"}]),
        (["c"], [{"path": "c"}]),
    ]


def test_an_unknown_executor_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="curation.executor = 'spark': must be one of"):
        open_executor({"executor": "spark"}, 1)


@pytest.mark.slow
def test_kedro_curation_with_dask_writes_the_local_decisions(corpus, tmp_path):
    from tests.project import copy_project, kedro

    outputs = {}
    for executor in ("local", "dask"):
        project = copy_project(tmp_path / executor)
        result = kedro(
            project,
            "run",
            "--pipeline",
            "curation",
            "--params",
            f"curation.executor={executor},curation.chunk_size=8,raw_dir={corpus}",
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert f"(executor {executor})" in result.stdout + result.stderr
        outputs[executor] = (
            project / "data/08_reporting/curation_decisions.csv"
        ).read_bytes()
    assert outputs["dask"] == outputs["local"]
    assert outputs["local"].count(b"\n") > 30
