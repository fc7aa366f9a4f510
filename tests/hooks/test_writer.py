"""One writer per project: the lock, and cleanup after a killed writer."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from imagegen.framework.lock import LOCK_PATH, ProjectLock, ProjectLockedError
from tests.project import copy_project, kedro, project_env


def _holder(pid: int, host: str | None = None) -> str:
    return json.dumps(
        {
            "pid": pid,
            "host": host or socket.gethostname(),
            "started": "2026-12-01T00:00:00+00:00",
            "command": "kedro run",
        }
    )


def test_a_live_holder_is_named_and_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "data").mkdir()
        (tmp_path / LOCK_PATH).write_text(_holder(sleeper.pid))
        with pytest.raises(ProjectLockedError, match=f"pid {sleeper.pid} on "):
            ProjectLock(tmp_path).acquire()
        assert json.loads((tmp_path / LOCK_PATH).read_text())["pid"] == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_dead_holder_on_this_host_is_broken_another_host_never(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "data").mkdir()
    (tmp_path / LOCK_PATH).write_text(_holder(gone.pid))
    lock = ProjectLock(tmp_path)
    lock.acquire()
    assert json.loads((tmp_path / LOCK_PATH).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_PATH).exists()
    (tmp_path / LOCK_PATH).write_text(_holder(gone.pid, host="elsewhere"))
    with pytest.raises(ProjectLockedError, match="on elsewhere"):
        ProjectLock(tmp_path).acquire()


def _wait_for(predicate, timeout: float = 240, poll: float = 0.5) -> None:
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, "timed out"
        time.sleep(poll)


@pytest.mark.slow
def test_two_runs_at_once_the_second_is_refused_a_killed_one_is_cleaned(tmp_path):
    project = copy_project(tmp_path / "project")
    first = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipeline", "train", "--env", "smoke"],
        cwd=project,
        env=project_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for((project / LOCK_PATH).exists, poll=0.05)
        # Stopped, the first run is alive and holds the lock however slow the second is.
        os.kill(first.pid, signal.SIGSTOP)
        second = kedro(project, "run", "--pipeline", "curation", "--env", "smoke")
        os.kill(first.pid, signal.SIGCONT)
        assert second.returncode != 0
        assert (
            f"is being written by pid {first.pid} on" in second.stdout + second.stderr
        )
        # Killed once its MLflow run is open and a node has finished.
        _wait_for((project / "data/09_lineage/ledger.jsonl").exists)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert (project / LOCK_PATH).exists()  # left behind by the kill
    third = kedro(project, "run", "--pipeline", "curation", "--env", "smoke")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "closed as KILLED" in third.stdout + third.stderr
    assert not (project / LOCK_PATH).exists()
    from mlflow import MlflowClient

    uri = f"sqlite:///{project}/mlflow.db"
    client = MlflowClient(uri, uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`imagegen.pid` != ''",
    )
    status = {r.data.tags["imagegen.pid"]: r.info.status for r in runs}
    assert status[str(first.pid)] == "KILLED"
    assert list(status.values()).count("FINISHED") == 1
