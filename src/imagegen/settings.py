"""Kedro project settings."""

from omegaconf.resolvers import oc

from imagegen.framework.resolvers import artifact_location, project_root, tracking_uri
from imagegen.hooks.artifacts import ArtifactHooks
from imagegen.hooks.lineage import LineageHooks
from imagegen.hooks.validation import (
    ConfigValidationHooks,
    CurationSupplyHooks,
    SamplesFolderHooks,
)

HOOKS = (
    ConfigValidationHooks(),
    SamplesFolderHooks(),
    LineageHooks(),
    ArtifactHooks(),
    CurationSupplyHooks(),
)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        # Kedro enables oc.env only for credentials; mlflow.yml needs it too.
        "oc.env": oc.env,
        "project_root": project_root,
        "imagegen.tracking_uri": tracking_uri,
        "imagegen.artifact_location": artifact_location,
    },
    # Environments override single keys of a group, not whole groups.
    "merge_strategy": {"parameters": "soft", "catalog": "soft", "mlflow": "soft"},
    # policy.yml is read as parameters (`params:policy`), so `--params` overrides it.
    "config_patterns": {
        "parameters": [
            "parameters*",
            "parameters*/**",
            "**/parameters*",
            "policy*",
            "policy*/**",
        ],
    },
}
