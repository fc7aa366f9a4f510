"""The inventory's worker processes die with the run that started them."""

import os
import signal
import subprocess
import sys
import time

SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from imagegen.pipelines.curation.executor import die_with_parent

def pid():
    return os.getpid()

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=die_with_parent,
                               initargs=(os.getpid(),))
    pids = {pool.submit(pid).result() for _ in range(8)}
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by init.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_when_the_run_is_killed(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert workers and all(_alive(p) for p in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    end = time.time() + 20
    while any(_alive(p) for p in workers) and time.time() < end:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)
