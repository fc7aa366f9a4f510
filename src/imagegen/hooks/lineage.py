"""Per-node lineage: one ledger entry and one nested MLflow run per node run.

kedro-mlflow keeps one MLflow run per `kedro run`. For each node this hook
adds a nested run (parent = that run) holding the node's name, duration,
parameters and the SHA-256 of every input and output dataset, and appends the
same record to the hash-chained lineage ledger. The nested runs are created
with `MlflowClient` and never made active, so whatever the node itself logs
still goes to the parent run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from imagegen.provenance.digests import data_digest, dataset_path, path_digest
from imagegen.provenance.ledger import Ledger, canonical_json, lineage_ledger_path

logger = logging.getLogger(__name__)


@dataclass
class _NodeRun:
    name: str
    started: float
    inputs: dict[str, dict[str, Any]]
    parameters: dict[str, Any]
    pending: set[str]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


class LineageHooks:
    """Digests every dataset a node reads and writes; records each node run."""

    def __init__(self) -> None:
        self._root = Path.cwd()
        self._ledger: Ledger | None = None
        self._catalog: Any = None
        self._pipeline = ""
        self._session = ""
        self._runs: dict[str, _NodeRun] = {}
        self._file_cache: dict[tuple[str, int, int], str] = {}

    # --- Kedro hooks -------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context) -> None:
        self._root = Path(context.project_path)
        self._ledger = Ledger(lineage_ledger_path(self._root))

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline, catalog
    ) -> None:
        self._catalog = catalog
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
        self._pipeline = ",".join(str(n) for n in names if n) or "__default__"
        self._session = str(
            run_params.get("run_id") or run_params.get("session_id") or ""
        )
        self._runs.clear()

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any]) -> None:
        parameters = {
            name.removeprefix("params:"): value
            for name, value in inputs.items()
            if name.startswith("params:") or name == "parameters"
        }
        digests = {
            name: self._describe(name, value, catalog)
            for name, value in inputs.items()
            if not (name.startswith("params:") or name == "parameters")
        }
        self._runs[node.name] = _NodeRun(
            name=node.name,
            started=time.time(),
            inputs=digests,
            parameters=parameters,
            pending=set(node.outputs),
        )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        run = self._runs.get(node.name) if node is not None else None
        if run is None or dataset_name not in run.pending:
            return
        run.outputs[dataset_name] = self._describe(dataset_name, data, self._catalog)
        run.pending.discard(dataset_name)
        if not run.pending:
            self._finish(self._runs.pop(node.name), status="ok")

    @hook_impl
    def on_node_error(self, error: Exception, node) -> None:
        run = self._runs.pop(node.name, None)
        if run is not None:
            self._finish(run, status="failed", error=type(error).__name__)

    # --- records ------------------------------------------------------------------

    def _relative(self, path: str) -> str:
        try:
            return Path(path).absolute().relative_to(self._root).as_posix()
        except ValueError:
            return str(Path(path).absolute())

    def _cached_path_digest(self, path: str) -> str | None:
        target = Path(path)
        if target.is_file():
            stat = target.stat()
            key = (str(target.absolute()), stat.st_size, stat.st_mtime_ns)
            if key not in self._file_cache:
                self._file_cache[key] = path_digest(target)
            return self._file_cache[key]
        return path_digest(target)

    def _describe(self, name: str, data: Any, catalog) -> dict[str, Any]:
        """{"sha256", "path"?}: the file's bytes when on disk, else the data's."""
        path = None
        try:
            dataset = catalog.get(name) if catalog is not None else None
            path = dataset_path(dataset) if dataset is not None else None
        except Exception:  # noqa: BLE001 - a dataset we cannot introspect is hashed as data
            path = None
        if path is not None:
            digest = self._cached_path_digest(path)
            if digest is not None:
                return {"sha256": digest, "path": self._relative(path)}
        return {"sha256": data_digest(data)}

    def _finish(self, run: _NodeRun, status: str, error: str = "") -> None:
        duration = time.time() - run.started
        parent = _active_run_id()
        record = {
            "kind": "node",
            "node": run.name,
            "status": status,
            "pipeline": self._pipeline,
            "kedro_run_id": self._session,
            "mlflow_run_id": parent or "",
            "duration_s": round(duration, 3),
            "parameters_sha256": data_digest(run.parameters),
            "inputs": run.inputs,
            "outputs": run.outputs,
        }
        if error:
            record["error"] = error
        if parent:
            record["mlflow_node_run_id"] = _log_node_run(parent, run, record) or ""
        if self._ledger is not None:
            entry = self._ledger.append(record)
            _set_parent_tag(
                parent, "lineage.ledger_head", f"{entry['seq']}:{entry['hash']}"
            )


def _active_run_id() -> str | None:
    import mlflow

    active = mlflow.active_run()
    return active.info.run_id if active else None


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = canonical_json(value)[:6000]


# MLflow's UI opens an experiment of this kind on its runs, not its GenAI overview.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
_kind_checked: set[str] = set()


def mark_experiment_kind(client, experiment_id: str) -> None:
    """Tag the experiment as model development unless it already names a kind."""
    if experiment_id in _kind_checked:
        return
    _kind_checked.add(experiment_id)
    key, value = EXPERIMENT_KIND
    if key not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, key, value)


def _log_node_run(parent_id: str, run: _NodeRun, record: dict[str, Any]) -> str | None:
    """A finished nested run for the node; tracking problems are logged, not raised."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    try:
        client = MlflowClient()
        parent = client.get_run(parent_id)
        # An experiment created before the kind was set in mlflow.yml gets it here.
        mark_experiment_kind(client, parent.info.experiment_id)
        tags = {
            "mlflow.parentRunId": parent_id,
            "mlflow.runName": run.name,
            "kedro.node": run.name,
            "kedro.pipeline": record["pipeline"],
            "lineage.status": record["status"],
        }
        for name, info in run.inputs.items():
            tags[f"input.{name}.sha256"] = info["sha256"]
            if "path" in info:
                tags[f"input.{name}.path"] = info["path"]
        for name, info in run.outputs.items():
            tags[f"output.{name}.sha256"] = info["sha256"]
            if "path" in info:
                tags[f"output.{name}.path"] = info["path"]
        child = client.create_run(
            parent.info.experiment_id,
            start_time=int(run.started * 1000),
            tags=tags,
            run_name=run.name,
        )
        params: dict[str, str] = {}
        _flatten("", run.parameters, params)
        now = int(time.time() * 1000)
        client.log_batch(
            child.info.run_id,
            metrics=[Metric("duration_s", record["duration_s"], now, 0)],
            params=[Param(k, v) for k, v in sorted(params.items())][:100],
            tags=[RunTag("parameters.sha256", record["parameters_sha256"])],
        )
        client.set_terminated(
            child.info.run_id, "FINISHED" if record["status"] == "ok" else "FAILED"
        )
        return child.info.run_id
    except Exception as exc:  # noqa: BLE001 - lineage still goes to the ledger
        logger.warning("MLflow: could not record node %s (%s)", run.name, exc)
        return None


def _set_parent_tag(parent_id: str | None, key: str, value: str) -> None:
    if not parent_id:
        return
    from mlflow import MlflowClient

    try:
        MlflowClient().set_tag(parent_id, key, value)
    except Exception as exc:  # noqa: BLE001
        logger.warning("MLflow: could not tag run %s (%s)", parent_id, exc)
