"""OmegaConf resolvers of `settings.py`: the project root and the MLflow locations."""

from __future__ import annotations

import os
from pathlib import Path


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
    from kedro.config import OmegaConfigLoader

    base = Path(root if root is not None else project_root())
    loader = OmegaConfigLoader(
        conf_source=str(base / "conf"),
        env=os.environ.get("KEDRO_ENV"),
        base_env="base",
        default_run_env="local",
        merge_strategy={"catalog": "soft"},
    )
    path = Path(loader["catalog"][dataset]["filepath"])
    return path if path.is_absolute() else base / path


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
