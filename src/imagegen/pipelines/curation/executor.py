"""Where the inventory's per-file work runs: a local process pool or a Dask cluster.

The inventory hands an executor a stream of chunks (lists of paths of the
listing, in order) and a picklable function; the executor runs the function
on each chunk somewhere and yields the results in the listing's order, with a
bounded number of chunks in flight, so memory does not grow with the folder.
Everything that compares works with each other (duplicates, decisions) stays
in the node, on the whole inventory, so it is the same whatever ran the chunks.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "dask")

ChunkFn = Callable[..., list[dict]]


class Executor(Protocol):
    """Runs `fn(*args, chunk)` for each chunk; yields (chunk, result) in order."""

    def map_chunks(
        self, fn: ChunkFn, chunks: Iterable[list[str]], *args: Any
    ) -> Iterator[tuple[list[str], list[dict]]]: ...


def _worker_died(chunk: list[str], hint: str) -> RuntimeError:
    # A native decoder crash or the OOM killer: Python cannot catch either
    # inside the worker. Name the chunk so a serial run can find the file.
    return RuntimeError(
        f"an inventory worker died while reading {len(chunk)} files from "
        f"{chunk[0]!r} to {chunk[-1]!r}; {hint}"
    )


def _windowed(
    submit: Callable, chunks: Iterable[list[str]], window: int, result: Callable
) -> Iterator[tuple[list[str], list[dict]]]:
    """Results of `submit(chunk)` in listing order, at most `window` in flight."""
    pending: deque = deque()
    for chunk in chunks:
        pending.append((chunk, submit(chunk)))
        if len(pending) >= window:
            yield result(*pending.popleft())
    while pending:
        yield result(*pending.popleft())


class LocalExecutor:
    """Worker processes of this machine (spawned, not forked)."""

    def __init__(self, workers: int):
        self.workers = workers

    def map_chunks(
        self, fn: ChunkFn, chunks: Iterable[list[str]], *args: Any
    ) -> Iterator[tuple[list[str], list[dict]]]:
        # spawn: the Kedro process may hold TensorFlow threads that fork would copy.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            yield from _windowed(
                lambda chunk: pool.submit(fn, *args, chunk),
                chunks,
                4 * self.workers,
                self._result,
            )

    @staticmethod
    def _result(chunk: list[str], future) -> tuple[list[str], list[dict]]:
        try:
            return chunk, future.result()
        except BrokenProcessPool as exc:
            raise _worker_died(
                chunk, "rerun with --params curation.workers=1 to find the file"
            ) from exc


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the kernel kills this worker when the run is killed.

    Linux `PR_SET_PDEATHSIG` through ctypes (no library offers it without a
    build step); elsewhere the pool's own shutdown is all there is.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class DaskExecutor:
    """Tasks on a Dask distributed cluster: the one at `address`, or a local one.

    With no address, a `LocalCluster` of worker processes is started when the
    executor is entered and closed when it is left. A task whose worker dies
    is rerun by the scheduler on another worker (`allowed-failures`), and a
    task that raises is retried `retries` times; only then does the run stop,
    naming the chunk.
    """

    def __init__(
        self,
        address: str = "",
        workers: int = 2,
        threads_per_worker: int = 1,
        memory_limit: str = "2GiB",
        retries: int = 2,
        tasks_in_flight: int = 0,
    ):
        self.address = address
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.retries = retries
        self.tasks_in_flight = tasks_in_flight
        self._stack: contextlib.ExitStack | None = None
        self.client = None

    def __enter__(self) -> DaskExecutor:
        import dask
        from distributed import Client, LocalCluster

        stack = contextlib.ExitStack()
        stack.enter_context(
            dask.config.set({"distributed.scheduler.allowed-failures": self.retries})
        )
        try:
            if self.address:
                self.client = stack.enter_context(Client(self.address))
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=self.threads_per_worker,
                        processes=True,
                        memory_limit=self.memory_limit,
                        dashboard_address=None,
                    )
                )
                self.client = stack.enter_context(Client(cluster))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        logger.info("Dask cluster for the inventory: %s", self.client)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self.client = None, None

    def _window(self) -> int:
        if self.tasks_in_flight:
            return self.tasks_in_flight
        threads = sum(self.client.nthreads().values()) or 1
        return 4 * threads

    def map_chunks(
        self, fn: ChunkFn, chunks: Iterable[list[str]], *args: Any
    ) -> Iterator[tuple[list[str], list[dict]]]:
        if self.client is None:
            raise RuntimeError("DaskExecutor used outside its `with` block")
        # The shared arguments (folder, settings) go to the workers once.
        shared = [self.client.scatter(a, broadcast=True, hash=False) for a in args]
        window = self._window()
        yield from _windowed(
            lambda chunk: self.client.submit(
                fn, *shared, chunk, retries=self.retries, pure=False
            ),
            chunks,
            window,
            self._result,
        )

    @staticmethod
    def _result(chunk: list[str], future) -> tuple[list[str], list[dict]]:
        from distributed import KilledWorker

        try:
            return chunk, future.result()
        except KilledWorker as exc:
            raise _worker_died(
                chunk,
                "Dask gave up after curation.dask.retries attempts; rerun with "
                "--params curation.executor=local,curation.workers=1 to find the file",
            ) from exc
        finally:
            future.release()


def open_executor(params: dict[str, Any], workers: int):
    """The executor named by `curation.executor`, as a context manager."""
    kind = params.get("executor") or "local"
    if kind not in EXECUTORS:
        raise ValueError(
            f"curation.executor = {kind!r}: must be one of {', '.join(EXECUTORS)}"
        )
    if kind == "local":
        return contextlib.nullcontext(None)
    options = dict(params.get("dask") or {})
    return DaskExecutor(
        address=options.get("address") or "",
        workers=options.get("workers") or 2,
        threads_per_worker=options.get("threads_per_worker") or 1,
        memory_limit=options.get("memory_limit") or "2GiB",
        retries=options.get("retries", 2),
        tasks_in_flight=options.get("tasks_in_flight") or 0,
    )
