"""A real MLflow server: PostgreSQL backend via scripts/mlflow_server.sh, and a server
stopped in the middle of a run."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.project import PROJECT_ROOT, copy_project, kedro, project_env

pytestmark = pytest.mark.slow

SCRIPT = PROJECT_ROOT / "scripts" / "mlflow_server.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory):
    if shutil.which("pg_lsclusters") is None:
        pytest.skip("PostgreSQL not installed (Debian postgresql; CI installs it)")
    port = _free_port()
    env = project_env(
        MLFLOW_PORT=str(port),
        MLFLOW_SERVER_DIR=str(tmp_path_factory.mktemp("mlflow-server")),
        PG_DB=f"imagegen_test_{os.getpid()}",
    )
    start = subprocess.run(
        ["bash", str(SCRIPT), "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert start.returncode == 0, start.stdout + start.stderr
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, timeout=60, check=False)


def test_train_logs_and_registers_on_the_postgres_server(postgres_server, tmp_path):
    from mlflow import MlflowClient

    project = copy_project(tmp_path / "project")
    result = kedro(
        project,
        "run",
        "--pipeline",
        "train",
        "--env",
        "smoke",
        MLFLOW_TRACKING_URI=postgres_server,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (project / "mlflow.db").exists()
    client = MlflowClient(tracking_uri=postgres_server, registry_uri=postgres_server)
    version = client.get_model_version_by_alias("imagegen-digits-dcgan", "candidate")
    run = client.get_run(version.run_id)
    assert run.data.params["training.epochs"] == "1"
    assert len(client.get_metric_history(version.run_id, "training.g_loss")) == 1
    # Artifacts travel through the server (--serve-artifacts).
    assert version.source.startswith("models:/") or "mlflow-artifacts" in version.source
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagegen.cli",
            "audit",
            "model",
            "imagegen-digits-dcgan@candidate",
            "--format",
            "json",
        ],
        cwd=project,
        env=project_env(MLFLOW_TRACKING_URI=postgres_server),
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stderr
    assert json.loads(audit.stdout)["dataset"]["n_works"] == 256


def _sqlite_server(port: int, store: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}/mlflow.db",
            "--artifacts-destination",
            str(store / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=project_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("mlflow server did not start")


def test_a_server_stopped_mid_run_loses_nothing(tmp_path):
    from mlflow import MlflowClient

    port, store = _free_port(), tmp_path / "store"
    store.mkdir()
    server = _sqlite_server(port, store)
    uri = f"http://127.0.0.1:{port}"
    project = copy_project(tmp_path / "project")
    env = project_env(
        MLFLOW_TRACKING_URI=uri,
        PYTHONUNBUFFERED="1",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="5",
    )
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kedro",
            "run",
            "--pipeline",
            "train",
            "--env",
            "smoke",
            "--params",
            "training.epochs=3",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    for line in run.stdout:
        output.append(line)
        if "Running node: train_model" in line:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    run.wait(timeout=600)
    text = "".join(output)
    # The run stops with a clear message; the model is on disk.
    assert (project / "data/06_models/generator.keras").exists()
    # Rich wraps log lines at the terminal width: compare with spaces collapsed.
    flat = " ".join(text.split())
    assert "MLflow tracking server unreachable" in flat
    assert "imagegen tracking replay" in flat
    backlog = [
        json.loads(x)
        for x in (project / "data/09_lineage/mlflow_backlog.jsonl")
        .read_text()
        .splitlines()
    ]
    training = [
        r
        for r in backlog
        if r["op"] == "metrics"
        and any(m["key"] == "training.d_loss" for m in r["metrics"])
    ]
    assert len(training) == 1
    run_id = training[0]["run_id"]

    # Server back on the same store: the replay delivers what was kept.
    server = _sqlite_server(port, store)
    try:
        replay = subprocess.run(
            [sys.executable, "-m", "imagegen.cli", "tracking", "replay"],
            cwd=project,
            env=project_env(MLFLOW_TRACKING_URI=uri),
            capture_output=True,
            text=True,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        assert f"sent {len(backlog)} records, 0 still kept" in replay.stdout
        client = MlflowClient(tracking_uri=uri)
        assert len(client.get_metric_history(run_id, "training.d_loss")) == 3
        artifacts = {a.path for a in client.list_artifacts(run_id, "training")}
        # What train_model saved while the server was down: the epoch grids and
        # the summary (the run stops before the next node, whose MLflow
        # parameters cannot be logged).
        assert {
            "training/training_samples",
            "training/training_summary.json",
        } <= artifacts
        grids = client.list_artifacts(run_id, "training/training_samples")
        assert len(grids) == 3  # one per epoch
    finally:
        os.killpg(server.pid, signal.SIGKILL)
