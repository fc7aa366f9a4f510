"""Takedowns after training: which registered versions learned from a work, and the
records a takedown leaves (the raw folder's `takedown.txt`, the lineage ledger).

The registry side (tags, aliases) is `imagegen.registry.take_down`, which
records its alias removals as human decisions like `imagegen registry demote`.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegen.provenance.audit import download_lineage_table
from imagegen.provenance.digests import path_digest
from imagegen.provenance.ledger import Ledger
from imagegen.rights.metadata import clean_text

TAKEDOWN_FILE = "takedown.txt"  # the list curation reads (read_takedown_list)
MAX_REASON = 500  # characters of a reason kept in tags, the list and the ledger
_WORK_ID = re.compile(r"^[0-9a-f]{64}$")


class TakedownError(ValueError):
    """A takedown request that cannot be recorded; the message says why."""


@dataclass
class TrainedOn:
    """Where a work appears in the lineage of the registered versions."""

    trained: list[tuple[str, str]] = field(default_factory=list)  # (name, version)
    seen: list[tuple[str, str]] = field(default_factory=list)  # decided on, not trained


def parse_work_id(text: str) -> str:
    """A work id: the SHA-256 of the work's bytes, 64 hex digits (any case)."""
    work_id = text.strip().lower()
    if not _WORK_ID.match(work_id):
        raise TakedownError(
            f"{clean_text(text, 80)!r} is not a work id (64 hex digits: the SHA-256 "
            "of the work's file, as in curation_decisions.csv)"
        )
    return work_id


def one_line_reason(reason: str) -> str:
    """The reason as one printable line, bounded; empty is refused."""
    text = clean_text(reason, MAX_REASON)
    if not text:
        raise TakedownError("a takedown needs a reason (--reason)")
    return text


def find_versions(client, work_id: str) -> TrainedOn:
    """Every registered version whose training manifest holds `work_id`; also those
    whose curation decided on it without training on it."""
    found = TrainedOn()
    manifests: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in client.search_registered_models():
            versions = client.search_model_versions(f"name = '{model.name}'")
            for version in sorted(versions, key=lambda v: int(v.version)):
                key = (version.name, str(version.version))
                if version.run_id not in manifests:
                    where = Path(tmp) / version.run_id
                    manifests[version.run_id] = (
                        _work_ids(
                            client, version.run_id, "training_manifest.csv", where
                        ),
                        _work_ids(
                            client, version.run_id, "curation_decisions.csv", where
                        ),
                    )
                trained, decided = manifests[version.run_id]
                if work_id in trained:
                    found.trained.append(key)
                elif work_id in decided:
                    found.seen.append(key)
    return found


def _work_ids(client, run_id: str, name: str, dst: Path) -> set[str]:
    table = download_lineage_table(client, run_id, name, dst)
    if table is None or "work_id" not in table.columns:
        return set()
    return set(table["work_id"].str.lower())


def append_to_takedown_list(raw_dir: Path, work_id: str, line_note: str) -> Path:
    """Add `work_id` to `raw_dir/takedown.txt` (once); the note goes after `#`."""
    if not raw_dir.is_dir():
        raise TakedownError(f"raw folder {raw_dir} does not exist (--raw-dir)")
    path = raw_dir / TAKEDOWN_FILE
    if path.is_symlink() or (path.exists() and not path.is_file()):
        # Curation ignores a linked list (RawFolder.metadata_file): so must we.
        raise TakedownError(f"{path} is not a plain file; curation would not read it")
    listed = set()
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        listed = {line.split("#", 1)[0].strip().lower() for line in text.splitlines()}
        if text and not text.endswith("\n"):
            line_note = "\n" + line_note  # never glue our id onto someone's last line
    if work_id in listed:
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line_note.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _relative(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return str(path.absolute())


def record_in_ledger(
    ledger_path: Path,
    root: Path,
    work_id: str,
    reason: str,
    by: str,
    takedown_list: Path,
    trained: list[tuple[str, str]],
) -> dict[str, Any]:
    """A `takedown` entry in the lineage ledger, with the raw folder's new digests.

    `imagegen audit verify` checks each file against the last entry naming it:
    recording the list and its folder here keeps the edit we made verifiable.
    """
    outputs = {}
    for name, target in (
        ("takedown_list", takedown_list),
        ("raw_works", takedown_list.parent),
    ):
        digest = path_digest(target)
        if digest is not None:
            outputs[name] = {"sha256": digest, "path": _relative(target, root)}
    return Ledger(ledger_path).append(
        {
            "node": "takedown",
            "status": "recorded",
            "work_id": work_id,
            "reason": reason,
            "by": by,
            "versions": [f"{n}/{v}" for n, v in trained],
            "inputs": {},
            "outputs": outputs,
        }
    )


def affected_aliases(client) -> dict[str, dict[str, Any]]:
    """Versions holding an alias although a takedown names a work they trained on."""
    from imagegen.provenance.audit import takedown_tags

    found: dict[str, dict[str, Any]] = {}
    for model in client.search_registered_models():
        by_version: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        for version, aliases in by_version.items():
            tags = client.get_model_version(model.name, version).tags or {}
            takedowns = takedown_tags(tags)
            if takedowns:
                found[f"{model.name}/{version}"] = {
                    "aliases": sorted(aliases),
                    "takedowns": takedowns,
                }
    return found


def require_trained_or_seen(work_id: str, where: TrainedOn) -> None:
    """Refuse a work that no registered version's lineage names (likely a typo)."""
    if not where.trained and not where.seen:
        raise TakedownError(
            f"no registered version's lineage names work {work_id[:16]}…: "
            "check the id against curation_decisions.csv"
        )
