"""Project pipelines."""

from __future__ import annotations

import importlib
import pkgutil

from kedro.pipeline import Pipeline

import imagegen.pipelines

# The stages of `train`, in order; `audit`, `generate` and others stay apart.
TRAIN_STAGES = ("curation", "preprocessing", "training", "evaluation", "registration")


def find_all_pipelines() -> dict[str, Pipeline]:
    """`create_pipeline()` of every package under `imagegen.pipelines`.

    Kedro's `find_pipelines` loads only the pipelines named on the command
    line; `train` is composed from the others, so all are loaded here.
    """
    found = {}
    for module in pkgutil.iter_modules(imagegen.pipelines.__path__):
        if module.ispkg:
            package = importlib.import_module(f"imagegen.pipelines.{module.name}")
            found[module.name] = package.create_pipeline()
    return found


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline package, plus `train` and `__default__`."""
    pipelines = find_all_pipelines()
    train = Pipeline([])
    for stage in TRAIN_STAGES:
        train += pipelines[stage]
    pipelines["train"] = train
    pipelines["__default__"] = train
    return pipelines
