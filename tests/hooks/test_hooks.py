import re

import pytest
from kedro.io import MemoryDataset
from kedro.pipeline import Node, Pipeline

from imagegen.framework.schema import ConfigurationError
from imagegen.hooks.validation import CurationSupplyHooks, SamplesFolderHooks


def _pipeline(*tags):
    return Pipeline(
        [
            Node(lambda x: x, "a", f"b{i}", name=f"node_{i}_{tag}", tags=[tag])
            for i, tag in enumerate(tags)
        ]
    )


def test_without_samples_dir_nothing_changes():
    catalog = {"generator": "the model"}
    SamplesFolderHooks().before_pipeline_run(
        {"runtime_params": {"raw_dir": "x"}}, _pipeline("training"), catalog
    )
    assert catalog == {"generator": "the model"}


def test_samples_dir_replaces_the_generator_for_the_evaluation(tmp_path):
    catalog = {"generator": "the model"}
    SamplesFolderHooks().before_pipeline_run(
        {"runtime_params": {"samples_dir": str(tmp_path)}},
        _pipeline("evaluation", "evaluation"),
        catalog,
    )
    assert isinstance(catalog["generator"], MemoryDataset)
    assert catalog["generator"].load() is None


def test_samples_dir_refuses_other_pipelines_and_missing_folders(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        SamplesFolderHooks().before_pipeline_run(
            {"runtime_params": {"samples_dir": str(tmp_path)}},
            _pipeline("evaluation", "training", "registration"),
            {},
        )
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "run it with --pipelines evaluation" in err
    assert len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        SamplesFolderHooks().before_pipeline_run(
            {"runtime_params": {"samples_dir": str(tmp_path / "absent")}},
            _pipeline("evaluation"),
            {},
        )
    assert re.fullmatch(
        r"imagegen: samples_dir = .*: not a folder\n", capsys.readouterr().err
    )


def test_a_configuration_error_in_a_node_stops_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        CurationSupplyHooks().on_pipeline_error(
            ConfigurationError("policy.min_side = -1: must be >= 1")
        )
    assert stop.value.code == 2
    assert capsys.readouterr().err == "imagegen: policy.min_side = -1: must be >= 1\n"
