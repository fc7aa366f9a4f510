import pytest
from kedro.io import MemoryDataset
from kedro.pipeline import Node, Pipeline

from imagegen.framework.schema import ConfigurationError
from imagegen.hooks.validation import SamplesFolderHooks


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


def test_samples_dir_refuses_other_pipelines_and_missing_folders(tmp_path):
    with pytest.raises(ConfigurationError, match="run it with --pipeline evaluation"):
        SamplesFolderHooks().before_pipeline_run(
            {"runtime_params": {"samples_dir": str(tmp_path)}},
            _pipeline("evaluation", "training", "registration"),
            {},
        )
    with pytest.raises(ConfigurationError, match="samples_dir = .*: not a folder"):
        SamplesFolderHooks().before_pipeline_run(
            {"runtime_params": {"samples_dir": str(tmp_path / "absent")}},
            _pipeline("evaluation"),
            {},
        )
