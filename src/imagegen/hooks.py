"""Kedro hooks of the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

from imagegen.config import ConfigurationError, validate_parameters


class ConfigValidationHooks:
    """Stop a run before any node when a parameter is out of range."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        validate_parameters(context.params)


class SamplesFolderHooks:
    """`--params samples_dir=/folder`: evaluate that folder, without a generator.

    A Kedro pipeline cannot drop an input at run time, so the catalog's
    `generator` is replaced by an empty in-memory dataset for this run: the
    evaluation reads the folder and never loads a model. Only the evaluation
    pipeline may run so; training or registering a model with a folder's
    numbers would mix the two up.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog
    ) -> None:
        samples_dir = (run_params.get("runtime_params") or {}).get("samples_dir")
        if not samples_dir:
            return
        if not Path(str(samples_dir)).is_dir():
            raise ConfigurationError(f"samples_dir = {samples_dir!r}: not a folder")
        others = sorted(n.name for n in pipeline.nodes if "evaluation" not in n.tags)
        if others:
            raise ConfigurationError(
                f"samples_dir = {samples_dir!r} evaluates a folder of images: run it "
                f"with --pipeline evaluation (this run also has {', '.join(others)})"
            )
        catalog["generator"] = MemoryDataset(data=None)
