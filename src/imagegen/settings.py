"""Kedro project settings."""
# ruff: noqa: E402

# First: the C++ log levels of TensorFlow/absl are read when TensorFlow loads.
from imagegen.framework import quiet

quiet.configure()

# The config loader arguments live with the resolvers they name, so code that reads
# the configuration outside a Kedro session uses the same ones.
from imagegen.framework.resolvers import CONFIG_LOADER_ARGS  # noqa: F401
from imagegen.hooks.artifacts import ArtifactHooks
from imagegen.hooks.lineage import LineageHooks
from imagegen.hooks.validation import (
    ConfigValidationHooks,
    CurationSupplyHooks,
    SamplesFolderHooks,
)
from imagegen.hooks.writer import ProjectWriterHooks

HOOKS = (
    ProjectWriterHooks(),
    ConfigValidationHooks(),
    SamplesFolderHooks(),
    LineageHooks(),
    ArtifactHooks(),
    CurationSupplyHooks(),
)
