"""The buffered MLflow path: what cannot reach the server is kept, then replayed."""

import json

import pytest

from imagegen.framework.backlog import Backlog, log_dict, log_text


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "imagegen"\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _store(path):
    import mlflow

    uri = f"sqlite:///{path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    return mlflow, uri


def test_artifacts_reach_the_run_when_the_server_is_there(project):
    mlflow, _ = _store(project)
    try:
        with mlflow.start_run() as run:
            assert log_text("a,b\n1,2\n", "lineage/table.csv")
            assert log_dict({"works": 2}, "lineage/digest.json")
        client = mlflow.MlflowClient()
        names = {a.path for a in client.list_artifacts(run.info.run_id, "lineage")}
        assert names == {"lineage/table.csv", "lineage/digest.json"}
        local = client.download_artifacts(
            run.info.run_id, "lineage/digest.json", str(project)
        )
        assert json.loads(open(local).read()) == {"works": 2}
        assert not (project / "data/09_lineage/mlflow_backlog.jsonl").exists()
    finally:
        mlflow.set_tracking_uri(None)


def test_an_unreachable_server_keeps_the_artifact_for_replay(project, monkeypatch):
    mlflow, uri = _store(project)
    try:
        with mlflow.start_run() as run:
            run_id = run.info.run_id
        # The run exists; the server then goes away.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
        mlflow.set_tracking_uri("http://127.0.0.1:9")
        assert not log_text("kept while the server is down", "audit/audit.md", run_id)
        backlog = Backlog(project / "data/09_lineage/mlflow_backlog.jsonl")
        (record,) = backlog.records()
        assert record["op"] == "artifact" and record["artifact_path"] == "audit"
        assert open(record["local_path"]).read() == "kept while the server is down"

        mlflow.set_tracking_uri(uri)
        assert backlog.replay(mlflow.MlflowClient()) == (1, 0)
        names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "audit")}
        assert names == {"audit/audit.md"}
    finally:
        mlflow.set_tracking_uri(None)
