"""Append-only, hash-chained JSON-lines ledger.

Each entry holds `seq`, `prev_hash` (the previous entry's `hash`) and `hash` =
SHA-256 of the entry's canonical JSON without `hash`. Editing, removing or
reordering any entry breaks the chain; truncating the tail is caught by the
`HEAD` file next to the ledger and by the heads recorded in MLflow.

Appends are serialised with an exclusive `flock` and written with a single
`write` call followed by `fsync`, so a crashed process never leaves half a
line; a line torn by a power loss is dropped by the next writer, which logs it.
A writer killed between its entry and `HEAD` leaves `HEAD` on an earlier
entry of an intact chain: the next writer and `verify(repair=True)` recognise
that as an interrupted append and move `HEAD` forward; stray `.HEAD.*.tmp`
files are removed under the lock.

A writer can still recompute a consistent chain. `check_anchors` compares the
chain with heads recorded elsewhere (registry tags, MLflow run tags, the
hashes an auditor keeps offline), which catches that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
# The lineage ledger of a project, relative to its root.
LEDGER_PATH = "data/09_lineage/ledger.jsonl"


def lineage_ledger_path(root: str | os.PathLike[str] | None = None) -> Path:
    """The project's lineage ledger: `LEDGER_PATH` under `root` (default: the
    Kedro project the current directory belongs to)."""
    if root is None:
        from imagegen.framework.resolvers import project_root

        root = project_root()
    return Path(root) / LEDGER_PATH


def canonical_json(data: Any) -> str:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


class LedgerError(ValueError):
    """The ledger is not intact; the message names the first bad entry."""


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


class Ledger:
    """A hash-chained ledger at `path` (with its `HEAD` beside it)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".HEAD")

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add one entry for `record`; return the entry with seq, time and hashes."""
        return self.append_many([record])[0]

    def append_many(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add consecutive entries in one locked write and one fsync."""
        if not records:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._last_entry(fd)
            now = datetime.now(UTC).isoformat()
            entries, lines = [], []
            for record in records:
                entry = {
                    **record,
                    "seq": (last["seq"] + 1) if last else 0,
                    "time": record.get("time") or now,
                    "prev_hash": last["hash"] if last else GENESIS,
                }
                entry["hash"] = entry_hash(entry)
                entries.append(entry)
                lines.append(canonical_json(entry) + "\n")
                last = entry
            data = "".join(lines).encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)}")
            os.fsync(fd)
            self._clean_stray_heads()
            self._write_head(Head(last["seq"], last["hash"]))
            return entries
        finally:
            os.close(fd)  # also releases the lock

    def _last_entry(self, fd: int) -> dict[str, Any] | None:
        """Last complete entry; a torn final line (power loss) is cut off first."""
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        block = 1 << 16
        start = max(0, size - block)
        tail = os.pread(fd, size - start, start)
        # Two newlines in view: the last complete line is whole.
        while start > 0 and tail.count(b"\n") < 2:
            start = max(0, start - block)
            tail = os.pread(fd, size - start, start)
        if not tail.endswith(b"\n"):
            cut = start + tail.rfind(b"\n") + 1
            logger.warning(
                "ledger %s: dropping a torn last line (%d bytes)", self.path, size - cut
            )
            os.ftruncate(fd, cut)
            tail = tail[: cut - start]
        if not tail:
            return None
        return json.loads(tail[:-1].rsplit(b"\n", 1)[-1])

    def _clean_stray_heads(self) -> None:
        """Remove `.HEAD.<pid>.tmp` files of killed writers (called under the lock)."""
        for stray in self.head_path.parent.glob(self.head_path.name + ".*.tmp"):
            stray.unlink(missing_ok=True)

    def _write_head(self, head: Head) -> None:
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(canonical_json({"seq": head.seq, "hash": head.hash}) + "\n")
        os.replace(tmp, self.head_path)

    def head(self) -> Head | None:
        if not self.head_path.exists():
            return None
        data = json.loads(self.head_path.read_text())
        return Head(int(data["seq"]), str(data["hash"]))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Parsed entries in file order (no checks beyond being JSON objects)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    entry = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise LedgerError(f"line {number}: not a valid JSON entry") from exc
                if not isinstance(entry, dict):
                    raise LedgerError(f"line {number}: not a JSON object")
                yield entry

    def verify(self, repair: bool = False) -> Head | None:
        """Check the chain and the HEAD file; raise LedgerError at the first bad entry.

        `HEAD` on an earlier entry of an intact chain is an append interrupted
        between the entry and `HEAD`: with `repair`, `HEAD` is moved to the
        last entry (under the writers' lock) instead of failing.
        """
        last, hashes = self._verify_chain()
        head = self.head()
        if head == last:
            return last
        interrupted = (
            head is not None
            and last is not None
            and head.seq < last.seq
            and hashes[head.seq] == head.hash
        )
        if interrupted and repair:
            self.repair_head()
            logger.warning(
                "ledger %s: HEAD was at seq %d, the chain ends at seq %d: an "
                "interrupted append, HEAD repaired",
                self.path,
                head.seq,
                last.seq,
            )
            return last
        if interrupted:
            raise LedgerError(
                f"HEAD file says {head} but the intact chain goes on to {last}: an "
                "append was interrupted before HEAD (`imagegen audit verify` repairs it)"
            )
        raise LedgerError(
            f"HEAD file says {head} but the ledger ends at {last}: entries were "
            "removed from the end, or HEAD was edited"
        )

    def repair_head(self) -> None:
        """Point HEAD at the last entry, under the writers' lock; clean stray files."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._last_entry(fd)
            self._clean_stray_heads()
            if last is not None:
                self._write_head(Head(last["seq"], last["hash"]))
        finally:
            os.close(fd)

    def hashes(self) -> list[str]:
        """The hash of every entry, by seq, after checking the chain."""
        return self._verify_chain()[1]

    def _verify_chain(self) -> tuple[Head | None, list[str]]:
        prev, last, hashes = GENESIS, None, []
        for number, entry in enumerate(self.entries(), start=1):
            where = (
                f"line {number} (seq {entry.get('seq')}, node {entry.get('node', '-')})"
            )
            if entry.get("seq") != number - 1:
                raise LedgerError(
                    f"{where}: out of sequence, expected seq {number - 1}"
                )
            if entry.get("prev_hash") != prev:
                raise LedgerError(f"{where}: prev_hash does not match the entry before")
            if entry.get("hash") != entry_hash(entry):
                raise LedgerError(f"{where}: content does not match its hash (edited)")
            prev, last = entry["hash"], Head(entry["seq"], entry["hash"])
            hashes.append(entry["hash"])
        return last, hashes


def parse_anchor(text: str) -> Head:
    """'SEQ:HASH' (as in the `lineage_head` tags) -> Head; ValueError otherwise."""
    seq, _, digest = str(text).strip().partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"anchor {text!r} is not SEQ:SHA256")
    return Head(int(seq), digest.lower())


def check_anchors(hashes: list[str], anchors: list[tuple[str, str]]) -> int:
    """Raise LedgerError unless every (SEQ:HASH, where) anchor is an entry of the chain."""
    for text, where in anchors:
        try:
            anchor = parse_anchor(text)
        except ValueError as exc:
            raise LedgerError(f"{where}: {exc}") from exc
        if anchor.seq >= len(hashes):
            raise LedgerError(
                f"{where} records head {anchor.seq}:{anchor.hash[:16]} but the ledger "
                f"has {len(hashes)} entries: it was cut or restarted"
            )
        if hashes[anchor.seq] != anchor.hash:
            raise LedgerError(
                f"{where} records head {anchor.seq}:{anchor.hash[:16]} but entry "
                f"seq {anchor.seq} hashes to {hashes[anchor.seq][:16]}: the ledger was "
                "rewritten or restarted"
            )
    return len(anchors)
