"""`imagegen audit verify`: the ledger's chain, then the files it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagegen.provenance.digests import path_digest
from imagegen.provenance.ledger import Ledger, LedgerError


def verify_lineage(ledger_path: Path, root: Path) -> dict[str, Any]:
    """Raise LedgerError naming the first bad entry; else summarise what was checked.

    A file is checked against the last entry that recorded it (read or
    written): files are rewritten by later runs, and only the latest record
    describes what should be on disk now.
    """
    ledger = Ledger(ledger_path)
    head = ledger.verify()
    latest: dict[str, tuple[int, str, str]] = {}
    count = generations = 0
    for entry in ledger.entries():
        count += 1
        generations += entry.get("kind") == "generation"
        for side in ("inputs", "outputs"):
            for info in (entry.get(side) or {}).values():
                if "path" in info:
                    latest[info["path"]] = (
                        entry["seq"],
                        entry.get("node", ""),
                        info["sha256"],
                    )
    for path, (seq, node, expected) in sorted(latest.items(), key=lambda i: i[1][0]):
        actual = path_digest(root / path)
        if actual is None:
            raise LedgerError(f"entry seq {seq} (node {node}): {path} no longer exists")
        if actual != expected:
            raise LedgerError(
                f"entry seq {seq} (node {node}): {path} changed since it was recorded"
            )
    return {
        "entries": count,
        "head": f"{head.seq}:{head.hash[:16]}" if head else "empty",
        "files_checked": len(latest),
        "generation_entries": generations,
    }
