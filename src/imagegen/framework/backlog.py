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
                    _send_artifact(
                        client,
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


def _send_artifact(client, run_id: str, local: str, artifact_path: str | None) -> None:
    if Path(local).is_dir():
        client.log_artifacts(run_id, local, artifact_path)
    else:
        client.log_artifact(run_id, local, artifact_path)


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None,
    run_id: str | None = None,
) -> bool:
    """Log a file or folder to the run (default: the active one); when that fails,
    keep a copy in the project's backlog and return False. Tracking never fails
    the node that called it."""
    import mlflow
    from mlflow import MlflowClient

    run_id = run_id or mlflow.active_run().info.run_id
    local = str(local_path)
    try:
        _send_artifact(MlflowClient(), run_id, local, artifact_path)
        return True
    except Exception as exc:  # noqa: BLE001 - kept for `imagegen tracking replay`
        backlog = backlog_for_project()
        backlog.add(
            {
                "op": "artifact",
                "run_id": run_id,
                "local_path": backlog.keep_file(local),
                "artifact_path": artifact_path,
            }
        )
        logger.warning(
            "MLflow unreachable (%s): artifact %s kept in %s",
            type(exc).__name__,
            Path(local).name,
            BACKLOG,
        )
        return False


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> bool:
    """`mlflow.log_text` through `log_artifact`: `artifact_file` is `folder/name`."""
    import tempfile

    folder, _, name = artifact_file.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        return log_artifact(path, folder or None, run_id)


def log_dict(
    data: dict[str, Any], artifact_file: str, run_id: str | None = None
) -> bool:
    """`mlflow.log_dict` (JSON) through `log_artifact`."""
    return log_text(json.dumps(data, indent=2, default=str), artifact_file, run_id)


def backlog_for_project() -> Backlog:
    """The backlog of the Kedro project the current directory belongs to."""
    from imagegen.framework.resolvers import project_root

    return Backlog(Path(project_root()) / BACKLOG)


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


def report_backlog() -> None:
    """Log, as an error, how many records the backlog still keeps."""
    pending = backlog_for_project().records()
    if pending:
        logger.error(
            "MLflow tracking server unreachable: %d metric/artifact records are kept "
            "in %s; outputs are on disk (e.g. data/06_models/). Send them with "
            "`imagegen tracking replay` when the server is back.",
            len(pending),
            BACKLOG,
        )
