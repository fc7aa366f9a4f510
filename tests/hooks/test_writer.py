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


def test_outputs_are_written_beside_and_renamed_into_place(tmp_path):
    from kedro.io import DataCatalog

    from imagegen.hooks.writer import ProjectWriterHooks

    target = tmp_path / "out" / "report.json"
    catalog = DataCatalog.from_config(
        {"report": {"type": "json.JSONDataset", "filepath": str(target)}}
    )
    catalog.save("report", {"n": 1})
    hooks = ProjectWriterHooks()
    hooks._catalog = catalog
    hooks.before_dataset_saved("report", {"n": 2})
    catalog.save("report", {"n": 2})
    # Until the rename the target holds the earlier, complete output.
    assert json.loads(target.read_text()) == {"n": 1}
    hooks.after_dataset_saved("report")
    assert json.loads(target.read_text()) == {"n": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    # A failed save leaves the earlier output and no temporary file.
    hooks.before_dataset_saved("report", {"n": 3})
    catalog.save("report", {"n": 3})
    hooks.on_node_error()
    assert json.loads(target.read_text()) == {"n": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    assert catalog.load("report") == {"n": 2}


SAVE_LOOP = """
import sys
import pandas as pd
from imagegen.datasets.people_csv import PeopleCSVDataset
dataset = PeopleCSVDataset(filepath=sys.argv[1], save_args={"index": False})
n = 0
while True:
    n += 1
    dataset.save(pd.DataFrame({"row": range(20000), "creator": ["=x"] * 20000, "n": n}))
"""


def test_sigkill_while_saving_never_leaves_a_torn_csv(tmp_path):
    import pandas as pd

    script = tmp_path / "loop.py"
    script.write_text(SAVE_LOOP)
    target = tmp_path / "curation_decisions.csv"
    for kill in range(8):
        writer = subprocess.Popen(
            [sys.executable, str(script), str(target)], env=project_env()
        )
        _wait_for(target.exists, poll=0.05)
        time.sleep(0.1 * (kill % 4))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        frame = pd.read_csv(target)
        assert len(frame) == 20000 and frame["n"].nunique() == 1
    from imagegen.datasets.people_csv import PeopleCSVDataset

    PeopleCSVDataset(filepath=str(target), save_args={"index": False}).save(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name, "loop.py"]
