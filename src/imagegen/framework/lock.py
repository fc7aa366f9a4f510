"""One writer per project: an exclusive lock file naming its holder.

`data/.imagegen.lock` holds the pid, host, process start time and command of
the `kedro run` that writes the project's data. It is created with
`O_EXCL`, removed on exit, and broken only when its holder is provably gone:
same host and that pid no longer alive (or alive but started later, a reused
pid). A lock from another host is never broken automatically.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_PATH = "data/.imagegen.lock"


class ProjectLockedError(RuntimeError):
    """Another live process writes this project."""


def _process_start(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot), or '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(holder: dict[str, Any]) -> bool:
    """True only when the holder is provably gone: same host, pid dead or reused."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = int(holder.get("pid", 0))
    if pid <= 0 or not pid_alive(pid):
        return True
    started = holder.get("process_start", "")
    return bool(started) and _process_start(pid) not in ("", started)


def describe(holder: dict[str, Any]) -> str:
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} since "
        f"{holder.get('started')} ({holder.get('command', '?')})"
    )


class ProjectLock:
    """The exclusive writer lock of the project at `root`."""

    def __init__(self, root: str | os.PathLike[str]):
        self.path = Path(root) / LOCK_PATH
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # A lock file being written, or torn by a crash: its holder is unknown.
            return {}

    def acquire(self) -> None:
        """Take the lock or raise ProjectLockedError naming its holder."""
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "process_start": _process_start(os.getpid()),
            "command": " ".join(os.path.basename(a) for a in sys.argv[:1])
            + " "
            + " ".join(sys.argv[1:]),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue  # released meanwhile
                if holder and holder_gone(holder):
                    self._break(holder)
                    continue
                raise ProjectLockedError(
                    f"project {self.path.parents[1]} is being written by "
                    f"{describe(holder) if holder else 'an unknown process'}; wait "
                    f"for it to finish (lock file {self.path})"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(me) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return
        raise ProjectLockedError(f"could not take the project lock {self.path}")

    def _break(self, holder: dict[str, Any]) -> None:
        # Renamed aside first so two breakers cannot both remove a fresh lock.
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            current = json.loads(aside.read_text())
        except (OSError, ValueError):
            current = {}
        if current != holder:  # a live writer took it between our read and rename
            try:
                os.link(aside, self.path)  # put back, unless a newer lock exists
            except FileExistsError:
                pass
        aside.unlink()

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if not self.held:
            return
        holder = self.holder()
        if holder and holder.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False
