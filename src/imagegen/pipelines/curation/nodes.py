"""Curation nodes: inventory the raw folder and decide, with a reason, on every file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from imagegen.datasets.raw_folder import RawFolder
from imagegen.default_data import write_digits
from imagegen.inventory import probe_file
from imagegen.pipelines.curation.expectations import run_validation
from imagegen.rights.licences import normalise_licence
from imagegen.rights.policy import (
    ACCEPTED,
    DECISIONS,
    QUARANTINED,
    REJECTED,
    REVIEW,
    Policy,
    licence_verdict,
    load_policy,
)

logger = logging.getLogger(__name__)

DECISION_COLUMNS = [
    "path",
    "work_id",
    "decision",
    "reason",
    "licence",
    "creator",
    "title",
    "source_url",
    "label",
    "licence_raw",
    "licence_source",
    "opt_out",
    "format",
    "width",
    "height",
    "size_bytes",
    "link_target",
]
INTEGRITY_DECISION = {
    "corrupt": QUARANTINED,
    "not_an_image": QUARANTINED,
    "too_large": QUARANTINED,
    "too_small": REJECTED,
}


def materialise_default_data(raw_dir: str, default_data: dict[str, Any]) -> dict:
    """Write the embedded digits into the default raw folder when it is absent or empty."""
    target = Path(default_data["dir"]).absolute()
    raw = Path(raw_dir).absolute()
    written = 0
    if raw == target and not (raw / "manifest.csv").exists():
        if raw.exists() and any(raw.iterdir()):
            logger.warning("%s has files but no manifest.csv: left as it is", raw)
        else:
            written = write_digits(raw)
            logger.info("Wrote %d default %s works to %s", written, "digits", raw)
    return {"raw_dir": str(raw), "written": written}


def inventory_works(
    raw_folder: RawFolder, raw_ready: dict, policy: dict
) -> pd.DataFrame:
    """Hash and integrity-check every file under the raw folder, one row per path."""
    rules = load_policy(policy)
    if not raw_folder.exists():
        raise FileNotFoundError(f"raw_dir {raw_folder.root} does not exist")
    rows = [
        probe_file(
            raw_folder, rel, rules.max_pixels, rules.min_side, rules.max_file_bytes
        ).as_row()
        for rel in raw_folder.iter_works()
    ]
    inventory = pd.DataFrame(rows, columns=list(_record_columns()))
    logger.info("Inventoried %d files under %s", len(inventory), raw_folder.root)
    return inventory


def _record_columns() -> tuple[str, ...]:
    from dataclasses import fields

    from imagegen.inventory import FileRecord

    return tuple(f.name for f in fields(FileRecord))


def read_manifest(raw_folder: RawFolder) -> pd.DataFrame:
    """The dataset's `manifest.csv` (path, licence, creator, title, source_url), if any."""
    columns = ["path", "licence", "creator", "title", "source_url", "label"]
    path = raw_folder.metadata_file("manifest.csv")
    if path is None:
        return pd.DataFrame(columns=columns)
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in columns:
        if column not in manifest.columns:
            manifest[column] = ""
    manifest["path"] = manifest["path"].str.strip().str.removeprefix("./")
    return manifest[columns]


def read_takedown_list(raw_folder: RawFolder) -> list[str]:
    """SHA-256 work ids named in `takedown.txt` (one per line, '#' comments)."""
    path = raw_folder.metadata_file("takedown.txt")
    if path is None:
        return []
    ids = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        token = line.split("#", 1)[0].strip().lower()
        if len(token) == 64 and all(c in "0123456789abcdef" for c in token):
            ids.append(token)
    return sorted(set(ids))


def _licence_for(rows: pd.DataFrame) -> tuple[str, str, str]:
    """Normalised licence, raw text and source for one path's manifest rows."""
    raws = [r for r in rows["licence"].tolist() if r.strip()]
    if not raws:
        return "", "", ""
    normalised = sorted({normalise_licence(r) for r in raws})
    if len(normalised) > 1:
        return "|".join(normalised), "|".join(raws), "conflict"
    return normalised[0], raws[0], "manifest"


def decide_works(
    inventory: pd.DataFrame,
    manifest: pd.DataFrame,
    takedown: list[str],
    policy: dict,
) -> pd.DataFrame:
    """Apply the rights policy: one decision and one reason per inventoried file."""
    rules = load_policy(policy)
    by_path = {path: rows for path, rows in manifest.groupby("path", sort=False)}
    takedown_ids = set(takedown)
    # Exact duplicates: regular files before links, then sorted path, keep the first.
    order = inventory.assign(_link=inventory["link_target"] != "").sort_values(
        ["_link", "path"]
    )
    seen: set[str] = set()
    duplicate_paths: set[str] = set()
    for row in order.itertuples():
        if row.integrity or not row.work_id:
            continue
        if row.work_id in seen:
            duplicate_paths.add(row.path)
        seen.add(row.work_id)

    decisions = []
    for record in inventory.to_dict("records"):
        rows = by_path.get(record["path"], manifest.iloc[0:0])
        licence, licence_raw, source = _licence_for(rows)
        first = rows.iloc[0] if len(rows) else None
        opt_out = "takedown" if record["work_id"] in takedown_ids else ""
        decision, reason = _decide(
            record, licence, source, opt_out, record["path"] in duplicate_paths, rules
        )
        decisions.append(
            {
                **{
                    k: record[k]
                    for k in (
                        "path",
                        "work_id",
                        "format",
                        "width",
                        "height",
                        "size_bytes",
                        "link_target",
                    )
                },
                "decision": decision,
                "reason": reason,
                "licence": "" if source == "conflict" else licence,
                "licence_raw": licence_raw,
                "licence_source": source,
                "creator": first["creator"] if first is not None else "",
                "title": first["title"] if first is not None else "",
                "source_url": first["source_url"] if first is not None else "",
                "label": first["label"] if first is not None else "",
                "opt_out": opt_out,
            }
        )
    table = pd.DataFrame(decisions, columns=DECISION_COLUMNS)
    counts = table.groupby("decision").size().to_dict()
    logger.info("Curation decisions: %s", counts)
    return table


def _decide(
    record: dict,
    licence: str,
    source: str,
    opt_out: str,
    is_duplicate: bool,
    rules: Policy,
) -> tuple[str, str]:
    integrity = record["integrity"]
    if integrity:
        return INTEGRITY_DECISION[integrity.split(":", 1)[0]], integrity
    if opt_out:
        return REJECTED, f"opt_out:{opt_out}"
    if is_duplicate:
        return REJECTED, f"duplicate:{record['work_id']}"
    if source == "conflict":
        return REVIEW, "licence_conflict:" + licence
    return licence_verdict(licence, rules.licences)


def validate_decisions(
    decisions: pd.DataFrame, policy: dict, data_docs_dir: str
) -> dict[str, Any]:
    """Run the Great Expectations suite; stop the pipeline when any check fails."""
    rules = load_policy(policy)
    report = run_validation(decisions, data_docs_dir, rules.licences.deny)
    failed = [c for c in report["checks"] if not c["success"]]
    if failed:
        names = ", ".join(f"{c['expectation']}({c['column']})" for c in failed)
        raise ValueError(
            f"curation decisions failed validation: {names}; see {report['data_docs']}"
        )
    logger.info("Curation decisions passed %d checks", len(report["checks"]))
    return report


def select_accepted(decisions: pd.DataFrame, validation: dict) -> pd.DataFrame:
    """The works that may be used for training: accepted rows of a validated table."""
    if not validation.get("success"):
        raise ValueError("refusing to select works from an unvalidated decisions table")
    accepted = decisions[decisions["decision"] == ACCEPTED]
    return accepted.sort_values("path").reset_index(drop=True)


def count_decisions(decisions: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Counts per decision and per reason code, as MLflow metrics (prefix `curation.`)."""
    metrics = {d: float((decisions["decision"] == d).sum()) for d in DECISIONS}
    codes = decisions["reason"].str.split(":", n=1).str[0]
    for code, count in codes.value_counts().sort_index().items():
        metrics[f"reason.{code}"] = float(count)
    metrics["files"] = float(len(decisions))
    return {key: {"value": value, "step": 0} for key, value in metrics.items()}


def plot_curation_summary(decisions: pd.DataFrame):
    """Charts of the decisions: per decision, reason, licence and creator."""
    from imagegen.plots import curation_summary_figure

    return curation_summary_figure(decisions)


def build_attribution(accepted: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Attribution list of every accepted work, as CSV rows and as Markdown."""
    columns = ["work_id", "path", "title", "creator", "licence", "source_url"]
    table = accepted[columns].reset_index(drop=True)
    lines = [
        "# Attribution",
        "",
        f"{len(table)} works, licences: "
        + ", ".join(f"{k} ({v})" for k, v in table["licence"].value_counts().items()),
        "",
    ]
    for creator, group in table.groupby("creator", sort=True):
        lines.append(f"## {creator or 'Unknown creator'}")
        lines.append("")
        for row in group.itertuples():
            source = f" — {row.source_url}" if row.source_url else ""
            lines.append(f"- {row.title or row.path} ({row.licence}){source}")
        lines.append("")
    return table, "\n".join(lines)
