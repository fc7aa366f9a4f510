"""Datasets marked `metadata: {mlflow_artifact: <folder>}` logged as run artifacts.

Logged through the backlog: when the tracking server is unreachable the file
is kept aside and sent later by `imagegen tracking replay`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from imagegen.framework.backlog import BACKLOG, backlog_for_project, report_backlog

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
        try:
            if Path(local).is_dir():
                mlflow.log_artifacts(local, folder)
            else:
                mlflow.log_artifact(local, folder)
        except Exception as exc:  # noqa: BLE001 - tracking must not fail the run
            backlog = backlog_for_project()
            backlog.add(
                {
                    "op": "artifact",
                    "run_id": run.info.run_id,
                    "local_path": backlog.keep_file(local),
                    "artifact_path": folder,
                }
            )
            self._failed += 1
            logger.warning(
                "MLflow unreachable (%s): artifact %s kept in %s",
                type(exc).__name__,
                dataset_name,
                BACKLOG,
            )

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        report_backlog()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        report_backlog()
