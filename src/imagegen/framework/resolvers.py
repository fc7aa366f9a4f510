"""OmegaConf resolvers of `settings.py`: the project root and the MLflow locations."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> str:
    """Absolute path of the Kedro project that the current directory belongs to."""
    from kedro.utils import find_kedro_project

    found = find_kedro_project(Path.cwd())
    return str(Path(found or Path.cwd()).resolve())


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
