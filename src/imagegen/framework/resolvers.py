"""OmegaConf resolvers of `settings.py`: the project root and the MLflow locations."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def project_root() -> str:
    """Absolute path of the Kedro project that the current directory belongs to."""
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    return str(Path(found or Path.cwd()).resolve())


def catalog_filepath(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The file the catalog (`conf/`, env `$KEDRO_ENV` or local) names for `dataset`.

    For code that runs outside a Kedro session (the CLI); relative paths are
    taken from `root`, by default the project root.
    """
    base = Path(root if root is not None else project_root())
    path = Path(_config_loader(base)["catalog"][dataset]["filepath"])
    return path if path.is_absolute() else base / path


def configured_raw_dir(
    root: str | os.PathLike[str] | None = None, env: str | None = None
) -> Path:
    """The raw folder the project's parameters name (`raw_dir`, conf/<env>/globals.yml).

    For the CLI; `env` defaults to `$KEDRO_ENV`, else local. Relative to `root`.
    """
    import warnings

    base = Path(root if root is not None else project_root())
    with warnings.catch_warnings():
        # OmegaConf's resolver-API deprecation notes: a CLI's stderr is its one-line error.
        warnings.simplefilter("ignore", UserWarning)
        value = str(_config_loader(base, env)["parameters"]["raw_dir"])
    if "://" in value and not value.startswith("file://"):
        raise ValueError(
            f"raw_dir = {value!r}: not a local folder; name one with --raw-dir"
        )
    path = Path(value.removeprefix("file://"))
    return path if path.is_absolute() else base / path


def _config_loader(base: Path, env: str | None = None):
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(
        conf_source=str(base / "conf"),
        env=env or os.environ.get("KEDRO_ENV"),
        **CONFIG_LOADER_ARGS,
    )


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set, else the project's own `mlflow.db`."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root()}/mlflow.db"
    )


def artifact_location() -> str | None:
    """Artifact root for new experiments in the default local store.

    MLflow resolves its default artifact root against the current directory;
    pin it to the project. A remote server keeps its own artifact root.
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (Path(project_root()) / "mlartifacts").as_uri()


# The resolvers conf/ uses. Registered here with OmegaConf's current API rather
# than through Kedro's `custom_resolvers`, which registers them with the deprecated
# `register_new_resolver` (a warning on every config loader).
RESOLVERS = {
    "project_root": project_root,
    "imagegen.tracking_uri": tracking_uri,
    "imagegen.artifact_location": artifact_location,
}
for _name, _resolver in RESOLVERS.items():
    OmegaConf.register_resolver(_name, _resolver, replace=True)

# The project's config loader arguments: settings.py hands them to Kedro, and
# `catalog_filepath` reads the catalog with them outside a session.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
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
