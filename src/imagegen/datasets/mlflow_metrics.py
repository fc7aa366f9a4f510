"""kedro-mlflow's metrics history dataset, sent in one batch and kept locally on failure."""

from __future__ import annotations

import logging
import time
from typing import Any

from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

from imagegen.framework.backlog import BACKLOG, backlog_for_project

logger = logging.getLogger(__name__)


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
            backlog_for_project().add(
                {"op": "metrics", "run_id": run_id, "metrics": metrics}
            )
            logger.warning(
                "MLflow unreachable (%s): %d metrics kept in %s",
                type(exc).__name__,
                len(metrics),
                BACKLOG,
            )
