"""One writer per project, writes a kill cannot tear, and what a killed writer left.

`ProjectWriterHooks` takes the project's exclusive lock
(`framework/lock.py`) before any other hook of a run, so a second `kedro run`
in the same project stops at start with one line naming the holder. It then
closes MLflow runs left `RUNNING` by a dead process on this host (as
`KILLED`) and lists registry versions without their lineage tags.

Saves of single local files (`ATOMIC_TYPES`) go to a temporary file beside
the target, renamed into place before any other hook sees the save, so a
kill never leaves a torn output that later nodes or people read.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from imagegen.framework.lock import ProjectLock, _process_start, holder_gone

logger = logging.getLogger(__name__)

# Dataset types that write one local file through `_filepath`.
ATOMIC_TYPES = frozenset(
    {
        "JSONDataset",
        "TextDataset",
        "ParquetDataset",
        "CSVDataset",
        "NpzDataset",
        "BytesDataset",
        "MatplotlibDataset",
    }
)
# Tags on the run of a `kedro run`: which process owns it.
PID_TAG, HOST_TAG, START_TAG = "imagegen.pid", "imagegen.host", "imagegen.process_start"


class ProjectWriterHooks:
    """Exclusive lock for the run's lifetime; cleanup after a killed writer."""

    def __init__(self) -> None:
        self._root = Path.cwd()
        self._lock: ProjectLock | None = None
        self._tagged = False
        self._catalog: Any = None
        self._pending: dict[str, tuple[Any, Any, Any]] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._root = Path(context.project_path)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        self._catalog = catalog
        self._lock = ProjectLock(self._root)
        self._lock.acquire()
        atexit.register(self._lock.release)
        self._tagged = False
        try:
            from mlflow import MlflowClient

            client = MlflowClient()
            for run_id in close_dead_runs(client):
                logger.warning(
                    "MLflow run %s of a dead process closed as KILLED", run_id
                )
            from imagegen.registry import incomplete_versions

            for name, version, missing in incomplete_versions(client):
                logger.warning(
                    "Incomplete registration: %s version %s lacks %s (never aliased)",
                    name,
                    version,
                    ", ".join(missing),
                )
        except Exception as exc:  # noqa: BLE001 - tracking problems never stop a run
            logger.warning("MLflow: could not check earlier runs (%s)", exc)

    @hook_impl
    def before_node_run(self) -> None:
        if self._tagged:
            return
        import mlflow

        active = mlflow.active_run()
        if active is not None:
            try:
                mlflow.MlflowClient().set_tag(active.info.run_id, PID_TAG, os.getpid())
                mlflow.MlflowClient().set_tag(
                    active.info.run_id, HOST_TAG, socket.gethostname()
                )
                mlflow.MlflowClient().set_tag(
                    active.info.run_id, START_TAG, _process_start(os.getpid())
                )
            except Exception as exc:  # noqa: BLE001
                logger.warning("MLflow: could not tag the run's owner (%s)", exc)
        self._tagged = True

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if not atomic_candidate(dataset, data):
            return
        real = dataset._filepath
        # Left by a killed writer (one writer per project: none is live).
        for stray in Path(str(real.parent)).glob(f".{real.stem}.*.tmp{real.suffix}"):
            stray.unlink(missing_ok=True)
        tmp = real.with_name(f".{real.stem}.{os.getpid()}.tmp{real.suffix}")
        dataset._filepath = tmp
        self._pending[dataset_name] = (dataset, real, tmp)

    @hook_impl(tryfirst=True)
    def after_dataset_saved(self, dataset_name: str) -> None:
        pending = self._pending.pop(dataset_name, None)
        if pending is None:
            return
        dataset, real, tmp = pending
        dataset._filepath = real
        os.replace(tmp, real)
        invalidate = getattr(dataset, "_invalidate_cache", None)
        if invalidate is not None:
            invalidate()

    @hook_impl
    def on_node_error(self) -> None:
        self._restore()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _restore(self) -> None:
        """A failed save: the target keeps its earlier content, the temp file goes."""
        for dataset, real, tmp in self._pending.values():
            dataset._filepath = real
            Path(str(tmp)).unlink(missing_ok=True)
        self._pending.clear()

    def _release(self) -> None:
        self._restore()
        if self._lock is not None:
            self._lock.release()


def atomic_candidate(dataset: Any, data: Any) -> bool:
    """Whether a save of `data` to `dataset` is one local, unversioned file."""
    if dataset is None or type(dataset).__name__ not in ATOMIC_TYPES:
        return False
    if getattr(dataset, "_protocol", None) not in ("file", "local"):
        return False
    if getattr(dataset, "_version", None) is not None:
        return False
    if type(dataset).__name__ == "MatplotlibDataset" and isinstance(data, list | dict):
        return False  # several figures: a folder
    return bool(getattr(getattr(dataset, "_filepath", None), "suffix", ""))


def close_dead_runs(client) -> list[str]:
    """Set runs left RUNNING by a process that is provably gone to KILLED."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    closed = []
    for run in client.search_runs(
        experiments, filter_string="attributes.status = 'RUNNING'"
    ):
        tags = run.data.tags
        if PID_TAG not in tags:
            continue
        holder = {
            "pid": tags[PID_TAG],
            "host": tags.get(HOST_TAG),
            "process_start": tags.get(START_TAG, ""),
        }
        if holder_gone(holder):
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed
