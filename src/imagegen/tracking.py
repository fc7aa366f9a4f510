"""MLflow logging that survives an unreachable tracking server.

MLflow's HTTP client already retries with backoff (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR), which covers a server restart. When the
server stays down, metrics and artifacts go to a local backlog
(`data/09_lineage/mlflow_backlog.jsonl`) instead of failing the pipeline, and
`imagegen tracking replay` sends them once the server is back.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

logger = logging.getLogger(__name__)

BACKLOG = "data/09_lineage/mlflow_backlog.jsonl"
BACKLOG_FILES = "data/09_lineage/mlflow_backlog_files"


class Backlog:
    """Append-only JSON lines of MLflow calls that could not be made."""

    def __init__(self, path: str | os.PathLike[str] = BACKLOG):
        self.path = Path(path)
        self.files = self.path.with_name(Path(BACKLOG_FILES).name)

    def add(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def keep_file(self, local_path: str) -> str:
        """Copy an artifact aside (later runs overwrite the original); return the copy."""
        target = self.files / str(time.time_ns()) / Path(local_path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(local_path).is_dir():
            shutil.copytree(local_path, target)
        else:
            shutil.copy2(local_path, target)
        return str(target)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]

    def replay(self, client) -> tuple[int, int]:
        """Send every record; keep those that still fail. Returns (sent, left)."""
        from mlflow.entities import Metric

        sent, left = 0, []
        for record in self.records():
            try:
                if record["op"] == "metrics":
                    client.log_batch(
                        record["run_id"],
                        metrics=[
                            Metric(m["key"], m["value"], m["timestamp"], m["step"])
                            for m in record["metrics"]
                        ],
                    )
                elif record["op"] == "artifact":
                    if Path(record["local_path"]).is_dir():
                        client.log_artifacts(
                            record["run_id"],
                            record["local_path"],
                            record.get("artifact_path"),
                        )
                    else:
                        client.log_artifact(
                            record["run_id"],
                            record["local_path"],
                            record.get("artifact_path"),
                        )
                sent += 1
            except Exception:  # noqa: BLE001 - still unreachable: keep it
                left.append(record)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in left))
        os.replace(tmp, self.path)
        return sent, len(left)


def _backlog_for_cwd() -> Backlog:
    from imagegen.config import project_root

    return Backlog(Path(project_root()) / BACKLOG)


class MlflowMetricsDataset(MlflowMetricsHistoryDataset):
    """kedro-mlflow's metrics history, sent in one `log_batch`, kept locally on failure."""

    # kedro-mlflow implements the legacy `_save`, which Kedro's `save` wraps.
    def _save(self, data: dict[str, Any]) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        if not self._logging_activated:
            return
        run_id = self.run_id
        now = int(time.time() * 1000)
        metrics = [
            {"key": key, "value": float(v), "step": int(s), "timestamp": now}
            for name, item in data.items()
            for key, v, s in self._build_args_list_from_metric_item(name, item)
        ]
        try:
            client = MlflowClient()
            for start in range(0, len(metrics), 1000):  # MLflow's batch limit
                chunk = metrics[start : start + 1000]
                client.log_batch(
                    run_id,
                    metrics=[
                        Metric(m["key"], m["value"], m["timestamp"], m["step"])
                        for m in chunk
                    ],
                )
        except Exception as exc:  # noqa: BLE001 - tracking must not fail the run
            _backlog_for_cwd().add(
                {"op": "metrics", "run_id": run_id, "metrics": metrics}
            )
            logger.warning(
                "MLflow unreachable (%s): %d metrics kept in %s",
                type(exc).__name__,
                len(metrics),
                BACKLOG,
            )


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
            backlog = _backlog_for_cwd()
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
        _report_backlog()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        _report_backlog()


def is_unreachable(exc: BaseException) -> bool:
    """True when `exc` (or its cause) says the tracking server could not be reached."""
    import requests

    while exc is not None:
        if isinstance(exc, requests.exceptions.RequestException | ConnectionError):
            return True
        text = str(exc)
        if "Max retries exceeded" in text or "Connection refused" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _report_backlog() -> None:
    pending = _backlog_for_cwd().records()
    if pending:
        logger.error(
            "MLflow tracking server unreachable: %d metric/artifact records are kept "
            "in %s; outputs are on disk (e.g. data/06_models/). Send them with "
            "`imagegen tracking replay` when the server is back.",
            len(pending),
            BACKLOG,
        )
