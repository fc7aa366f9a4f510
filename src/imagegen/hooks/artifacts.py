"""Datasets marked `metadata: {mlflow_artifact: <folder>}` logged as run artifacts.

Logged through the backlog: when the tracking server is unreachable the file
is kept aside and sent later by `imagegen tracking replay`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from imagegen.framework.backlog import log_artifact, report_backlog

logger = logging.getLogger(__name__)


class ArtifactHooks:
    """Log datasets marked `metadata: {mlflow_artifact: <folder>}` as run artifacts."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._failed = 0

    @hook_impl
    def before_pipeline_run(self, catalog) -> None:
        self._catalog = catalog
        self._failed = 0

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        import mlflow

        from imagegen.provenance.digests import dataset_path

        try:
            dataset = (
                self._catalog.get(dataset_name) if self._catalog is not None else None
            )
        except Exception:  # noqa: BLE001
            return
        folder = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact")
        run = mlflow.active_run()
        if folder is None or run is None:
            return
        local = dataset_path(dataset)
        if local is None or not Path(local).exists():
            return
        if not log_artifact(local, folder, run.info.run_id):
            self._failed += 1

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        report_backlog()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        report_backlog()
