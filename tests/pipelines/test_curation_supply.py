"""Nothing usable, nothing lost: too few works stop the run right after curation."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from kedro.io import MemoryDataset
from kedro.pipeline import Node, Pipeline

from imagegen.datasets.raw_folder import RawFolder
from imagegen.holdout import split_sizes
from imagegen.hooks.validation import CurationSupplyHooks
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.curation.supply import (
    NotEnoughWorks,
    NothingToCurate,
    supply_shortfall,
)
from imagegen.pipelines.preprocessing.nodes import split_holdout
from tests import media
from tests.project import copy_project, kedro

PARAMS = {
    "preprocessing": {"holdout_percent": 10, "max_works": None},
    "training": {"batch_size": 64},
    "evaluation": {"nearest_k": 5, "ct_min_cell_samples": 10},
}
ALL_STAGES = {"preprocessing", "training", "evaluation"}


def _decisions(n_accepted: int, rejected: dict[str, int]) -> pd.DataFrame:
    rows = [
        {
            "path": f"a{i}.png",
            "work_id": hashlib.sha256(str(i).encode()).hexdigest(),
            "decision": "accepted",
            "reason": "ok",
        }
        for i in range(n_accepted)
    ]
    for reason, count in rejected.items():
        rows += [
            {
                "path": f"{reason}{i}",
                "work_id": "",
                "decision": "review",
                "reason": reason,
            }
            for i in range(count)
        ]
    return pd.DataFrame(rows)


def test_split_sizes_match_the_split_preprocessing_makes():
    decisions = _decisions(300, {})
    for params in (
        {"holdout_percent": 10, "max_works": None},
        {"holdout_percent": 25, "max_works": 40},
        {"holdout_percent": 0, "max_works": None},
    ):
        training, held = split_holdout(decisions, params)
        assert split_sizes(decisions["work_id"].tolist(), params) == (
            len(training),
            len(held),
        )


def test_enough_works_pass():
    assert supply_shortfall(_decisions(2000, {}), ALL_STAGES, PARAMS) is None
    # Curation alone needs nothing.
    assert (
        supply_shortfall(_decisions(0, {"licence_unknown": 3}), set(), PARAMS) is None
    )


def test_the_line_names_counts_reasons_advice_and_parameters():
    decisions = _decisions(3, {"licence_unknown": 30, "duplicate:x": 5})
    message = supply_shortfall(decisions, ALL_STAGES, PARAMS)
    assert "\n" not in message
    assert "accepted 3 of 38 files" in message
    assert "64 training works (training.batch_size = 64)" in message
    assert "10 held back" in message
    assert "Not accepted: licence_unknown 30, duplicate 5" in message
    assert "manifest.csv" in message and "path,licence" in message
    for key in (
        "training.batch_size",
        "preprocessing.holdout_percent",
        "evaluation.nearest_k",
        "evaluation.ct_min_cell_samples",
    ):
        assert key in message
    assert "curation_decisions.csv" in message


def test_held_back_works_alone_can_be_short():
    # Enough to train, too few held back for k-NN metrics at 1%.
    params = {**PARAMS, "preprocessing": {"holdout_percent": 1, "max_works": None}}
    message = supply_shortfall(_decisions(300, {}), ALL_STAGES, params)
    assert "held back" in message and "training works" not in message


def _pipeline(*names):
    return Pipeline(
        [Node(lambda x: x, "a", f"out_{name}", name=name) for name in names]
    )


def _catalog():
    return {f"params:{k}": MemoryDataset(v) for k, v in PARAMS.items()}


class _Catalog(dict):
    def load(self, name):
        return self[name].load()


def test_hook_stops_before_select_accepted_only_when_stages_follow(caplog):
    hooks = CurationSupplyHooks()
    select = Node(lambda x: x, "curation_decisions", "accepted", name="select_accepted")
    few = {"curation_decisions": _decisions(3, {"licence_unknown": 2})}
    hooks.before_pipeline_run(
        _pipeline("split_holdout", "train_model"), _Catalog(_catalog())
    )
    with pytest.raises(NotEnoughWorks, match="accepted 3 of 5"):
        hooks.before_node_run(select, few)
    with pytest.raises(SystemExit, match="^imagegen: not enough works"):
        hooks.on_pipeline_error(NotEnoughWorks("not enough works"))
    hooks.on_pipeline_error(ValueError("another error"))  # left to Kedro
    # A curation-only run goes on, and says what a training run would need.
    hooks.before_pipeline_run(_pipeline("decide_works"), _Catalog(_catalog()))
    hooks.before_node_run(select, few)
    assert "a training run would stop here" in caplog.text


def test_an_empty_folder_is_nothing_to_curate(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,licence\na.png,CC0-1.0\n")
    (tmp_path / "empty_subfolder").mkdir()
    with pytest.raises(NothingToCurate, match="holds no works"):
        nodes.inventory_works(RawFolder(tmp_path), {}, _policy(), {"workers": 1})


def _policy():
    import yaml

    from tests.conftest import PROJECT_ROOT

    return yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]


# --- through the kedro CLI -------------------------------------------------------------

EARLIER = (
    "data/08_reporting/curation_decisions.csv",
    "data/08_reporting/attribution.csv",
    "data/08_reporting/ATTRIBUTION.md",
    "data/03_primary/accepted_works.parquet",
    "data/05_model_input/training_set.npz",
    "data/06_models/generator.keras",
    "data/08_reporting/evaluation_metrics.json",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("supply") / "project")


def _earlier_outputs(project):
    """Stand-ins for a previous run's outputs, to see whether anything overwrites them."""
    for rel in EARLIER:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(f"earlier {rel}")


def _untouched(project, rels):
    return {rel for rel in rels if (project / rel).read_text() == f"earlier {rel}"}


def _last_line(result):
    return (result.stdout + result.stderr).strip().splitlines()[-1]


@pytest.mark.slow
def test_an_empty_folder_stops_the_run_and_overwrites_nothing(project, tmp_path):
    _earlier_outputs(project)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = kedro(
        project, "run", "--pipeline", "train", "--params", f"raw_dir={empty}"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"imagegen: raw_dir {empty} holds no works")
    )
    assert "Traceback" not in output
    assert _untouched(project, EARLIER) == set(EARLIER)


@pytest.mark.slow
def test_too_few_works_stop_after_curation_with_the_decisions_written(
    project, tmp_path
):
    _earlier_outputs(project)
    raw = tmp_path / "few"
    raw.mkdir()
    for i in range(5):
        (raw / f"w{i}.png").write_bytes(media.encode(media.noise(seed=i), "PNG"))
    (raw / "manifest.csv").write_text(
        "path,licence\nw0.png,CC0-1.0\nw1.png,CC0-1.0\nw2.png,CC0-1.0\n"
    )
    result = kedro(project, "run", "--pipeline", "train", "--params", f"raw_dir={raw}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "imagegen: not enough works to go on: curation accepted 3 of 5"
    )
    assert "licence_unknown 2" in line and "training.batch_size" in line
    assert "Traceback" not in output
    assert "Running node: split_holdout" not in output
    # The decisions are this run's, so the user sees why; nothing after them is.
    decisions = pd.read_csv(project / EARLIER[0])
    assert sorted(decisions["path"]) == [f"w{i}.png" for i in range(5)]
    assert _untouched(project, EARLIER[1:]) == set(EARLIER[1:])

    # Curation alone goes on (exit 0) and warns what a training run would need.
    result = kedro(
        project, "run", "--pipeline", "curation", "--params", f"raw_dir={raw}"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "a training run would stop here" in output
