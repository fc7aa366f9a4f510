"""Hooks that check a run before it does anything: parameters, samples folder, supply."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

from imagegen.framework.parameters import validate_parameters
from imagegen.framework.schema import ConfigurationError
from imagegen.pipelines.curation.supply import (
    CurationStop,
    NotEnoughWorks,
    supply_shortfall,
)

logger = logging.getLogger(__name__)

# Exit status of a run stopped by its configuration (click's usage-error status).
CONFIGURATION_EXIT = 2


def stop_on(error: ConfigurationError) -> SystemExit:
    """One line on stderr for a bad configuration, and the exit that follows it.

    A SystemExit passes Kedro's CLI without its traceback box.
    """
    sys.stderr.write(f"imagegen: {error}\n")
    sys.stderr.flush()
    return SystemExit(CONFIGURATION_EXIT)


class ConfigValidationHooks:
    """Stop a run before any node when a parameter is out of range.

    Also, for a run that trains: `training.backend` must be the Keras backend
    this process runs (Keras reads `KERAS_BACKEND` once, at import), so a
    mismatch stops the run before curation rather than at the training node.
    """

    def __init__(self) -> None:
        self._backend = "auto"

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            validate_parameters(context.params)
        except ConfigurationError as error:
            raise stop_on(error) from None
        self._backend = (context.params.get("training") or {}).get("backend", "auto")

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog
    ) -> None:
        if self._backend == "auto" or "train_model" not in {
            node.name for node in pipeline.nodes
        }:
            return
        from imagegen.training.runtime import BackendMismatch, check_backend

        try:
            check_backend(self._backend)
        except BackendMismatch as error:
            raise stop_on(ConfigurationError(str(error))) from None


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
            raise stop_on(
                ConfigurationError(f"samples_dir = {samples_dir!r}: not a folder")
            )
        others = sorted(n.name for n in pipeline.nodes if "evaluation" not in n.tags)
        if others:
            raise stop_on(
                ConfigurationError(
                    f"samples_dir = {samples_dir!r} evaluates a folder of images: run "
                    f"it with --pipelines evaluation (this run also has "
                    f"{', '.join(others)})"
                )
            )
        catalog["generator"] = MemoryDataset(data=None)


class CurationSupplyHooks:
    """Stop a run right after curation when it accepted too few works to go on.

    Checked before `select_accepted`, when the decisions are written and
    nothing derived from the accepted works is: a run that cannot train
    leaves the earlier accepted set, attribution, training set, model,
    reports and registry as they were. A curation-only run goes on and only
    warns. The stop is one line on stderr (exit status 1), not a traceback.
    """

    # The node whose presence in the run says that stage follows curation.
    STAGE_NODES = {
        "preprocessing": "split_holdout",
        "training": "train_model",
        "evaluation": "measure_quality",
    }

    def __init__(self) -> None:
        self._stages: set[str] = set()
        self._params: dict[str, dict] = {}

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog) -> None:
        names = {node.name for node in pipeline.nodes}
        self._stages = {s for s, n in self.STAGE_NODES.items() if n in names}
        self._params = {}
        for group in ("preprocessing", "training", "evaluation"):
            if f"params:{group}" in catalog:
                self._params[group] = catalog.load(f"params:{group}")

    # First, so no other hook (a nested MLflow run per node) starts for the node.
    @hook_impl(tryfirst=True)
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        if node.name != "select_accepted" or "curation_decisions" not in inputs:
            return
        decisions = inputs["curation_decisions"]
        if self._stages:
            message = supply_shortfall(decisions, self._stages, self._params)
            if message:
                raise NotEnoughWorks(message)
        elif set(self._params) == set(self.STAGE_NODES):
            message = supply_shortfall(decisions, set(self.STAGE_NODES), self._params)
            if message:
                logger.warning("a training run would stop here: %s", message)

    # Last, after kedro-mlflow and the project's hooks have closed their runs.
    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception) -> None:
        if isinstance(error, ConfigurationError):
            raise stop_on(error) from None
        if isinstance(error, CurationStop):
            raise SystemExit(f"imagegen: {error}")
