"""`imagegen audit verify`: the ledger's chain, its anchors, then the files it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagegen.provenance.digests import path_digest
from imagegen.provenance.ledger import Ledger, LedgerError, check_anchors

# Where registration and the lineage hook record the ledger head.
VERSION_HEAD_TAG, RUN_HEAD_TAG = "lineage_head", "lineage.ledger_head"


def mlflow_anchors(client) -> list[tuple[str, str]]:
    """Every ledger head the registry and the MLflow runs recorded, with where."""
    anchors = []
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            value = (version.tags or {}).get(VERSION_HEAD_TAG)
            if value:
                anchors.append(
                    (
                        value,
                        f"{model.name} version {version.version} ({VERSION_HEAD_TAG})",
                    )
                )
    experiments = [e.experiment_id for e in client.search_experiments()]
    if experiments:
        for run in client.search_runs(
            experiments, filter_string=f"tags.`{RUN_HEAD_TAG}` != ''"
        ):
            anchors.append(
                (
                    run.data.tags[RUN_HEAD_TAG],
                    f"MLflow run {run.info.run_id} ({RUN_HEAD_TAG})",
                )
            )
    return anchors


def verify_lineage(
    ledger_path: Path,
    root: Path,
    anchors: list[tuple[str, str]] | None = None,
    repair: bool = True,
) -> dict[str, Any]:
    """Raise LedgerError naming the first bad entry; else summarise what was checked.

    `anchors` are (SEQ:HASH, where) heads recorded outside the ledger: each
    must be an entry of the chain, so a consistent rewrite or a restarted
    ledger is caught. An append interrupted before HEAD is repaired.

    A file is checked against the last entry that recorded it (read or
    written): files are rewritten by later runs, and only the latest record
    describes what should be on disk now.
    """
    ledger = Ledger(ledger_path)
    head = ledger.verify(repair=repair)
    anchored = check_anchors(ledger.hashes(), anchors or [])
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
        "anchors_checked": anchored,
    }
