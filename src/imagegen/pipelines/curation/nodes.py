"""Curation nodes: inventory the raw folder and decide, with a reason, on every file."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation.default_data import write_digits
from imagegen.pipelines.curation.executor import open_executor
from imagegen.pipelines.curation.expectations import run_validation
from imagegen.pipelines.curation.inventory import (
    RECORD_COLUMNS,
    ProbeSettings,
    inventory_folder,
    near_duplicates,
)
from imagegen.pipelines.curation.sites import check_sites
from imagegen.pipelines.curation.supply import (
    NothingToCurate,
    nothing_to_curate_message,
)
from imagegen.rights.licences import normalise_licence, same_licence_family
from imagegen.rights.metadata import OPT_OUT_SIGNALS, clean_text, markdown_text
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
from imagegen.rights.sites import SITE_SIGNALS

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
    "faces",
    "gps",
    "metadata",
    "format",
    "width",
    "height",
    "frames",
    "size_bytes",
    "link_target",
    "phash",
    "site_snapshot",
]
SITE_COLUMNS = ["path", "site_opt_out", "site_problem", "site_snapshot"]
INVENTORY_PASSTHROUGH = (
    "path",
    "work_id",
    "faces",
    "gps",
    "metadata",
    "format",
    "width",
    "height",
    "frames",
    "size_bytes",
    "link_target",
    "phash",
)
# Opt-out signals, in the order the reason names the first one found.
OPT_OUT_ORDER = OPT_OUT_SIGNALS + SITE_SIGNALS
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
    raw_folder: RawFolder, raw_ready: dict, policy: dict, params: dict[str, Any]
) -> pd.DataFrame:
    """Hash, check, read metadata of and analyse every file under the raw folder."""
    rules = load_policy(policy)
    if not raw_folder.exists():
        raise FileNotFoundError(
            f"raw_dir {raw_folder.root} does not exist (for Open Clip Art run "
            "scripts/fetch_openclipart.sh first)"
        )
    workers = params.get("workers") or os.cpu_count() or 1
    with open_executor(params, workers) as executor:
        records = inventory_folder(
            raw_folder,
            ProbeSettings.from_policy(rules),
            workers=workers,
            chunk_size=params.get("chunk_size", 64),
            executor=executor,
        )
    if not records:
        # Stop before any output: an empty run must not overwrite a real one.
        raise NothingToCurate(nothing_to_curate_message(str(raw_folder.root)))
    inventory = pd.DataFrame([r.as_row() for r in records], columns=RECORD_COLUMNS)
    logger.info(
        "Inventoried %d files under %s (executor %s)",
        len(inventory),
        raw_folder.root,
        params.get("executor") or "local",
    )
    return inventory


# About 500 bytes a row for a million works: far above any real manifest.
MAX_MANIFEST_BYTES = 512 * 1024 * 1024


def read_manifest(raw_folder: RawFolder) -> pd.DataFrame:
    """The dataset's `manifest.csv` (path, licence, creator, title, source_url), if any.

    Rows are joined to files by path only; a path that names no listed file
    (`../x`, an absolute path) is never opened. The file is read as hostile
    text: a UTF-8 BOM, bytes that are not UTF-8, NUL bytes and rows that do
    not parse are tolerated (the last are counted in the log, not used).
    """
    columns = ["path", "licence", "creator", "title", "source_url", "label"]
    path = raw_folder.metadata_file("manifest.csv")
    if path is None:
        return pd.DataFrame(columns=columns)
    with path.open("rb") as fh:  # a Path, or a RemoteFile on object storage
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        # Read as absent: every work then goes to review as licence_unknown.
        logger.warning(
            "manifest.csv is over %d bytes: ignored (its works go to review)",
            MAX_MANIFEST_BYTES,
        )
        return pd.DataFrame(columns=columns)
    text = data.decode("utf-8-sig", "replace").replace("\0", "")
    rows, bad = [], 0
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a field over the csv module's limit, say
            bad += 1
            continue
        if len(values) > len(header):
            bad += 1
            continue
        rows.append(dict(zip(header, values, strict=False)))
    if bad:
        logger.warning("manifest.csv: %d rows that do not parse were ignored", bad)
    manifest = pd.DataFrame(rows, columns=list(dict.fromkeys(header)), dtype=str)
    for column in columns:
        if column not in manifest.columns:
            manifest[column] = ""
    manifest = manifest[columns].fillna("")
    manifest["path"] = manifest["path"].map(manifest_path)
    for column in ("licence", "creator", "title", "source_url", "label"):
        manifest[column] = manifest[column].map(clean_text)
    return manifest.reset_index(drop=True)


def manifest_path(text: str) -> str:
    """A manifest row's path as curation names files: no `./` parts, NFC."""
    parts = [p for p in text.strip().split("/") if p != "."]
    return unicodedata.normalize("NFC", "/".join(parts))


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


def source_urls(inventory: pd.DataFrame, manifest: pd.DataFrame) -> list[str]:
    """Each work's source URL: its first manifest row's, else its own metadata's."""
    first: dict[str, str] = {}
    for path, url in zip(manifest["path"], manifest["source_url"], strict=True):
        first.setdefault(path, url)
    return [
        first.get(unicodedata.normalize("NFC", path)) or own or ""
        for path, own in zip(inventory["path"], inventory["source_url"], strict=True)
    ]


def check_site_reservations(
    raw_folder: RawFolder, inventory: pd.DataFrame, manifest: pd.DataFrame, policy: dict
) -> pd.DataFrame:
    """Site-level opt-outs of each work's source URL, from `_sources/sites/<host>/`."""
    rules = load_policy(policy)
    checks = check_sites(
        raw_folder,
        source_urls(inventory, manifest),
        rules.max_metadata_bytes,
        rules.sites.ai_crawlers,
    )
    table = pd.DataFrame(
        {
            "path": inventory["path"],
            "site_opt_out": ["|".join(c.signals) for c in checks],
            "site_problem": [c.problem for c in checks],
            "site_snapshot": [c.snapshot for c in checks],
        },
        columns=SITE_COLUMNS,
    )
    read = table[table["site_snapshot"] != ""]
    if len(read):
        logger.info(
            "Site snapshots: %d works checked, %d opted out, %d with unreadable files",
            len(read),
            int((read["site_opt_out"] != "").sum()),
            int((read["site_problem"] != "").sum()),
        )
    return table


def find_duplicates(inventory: pd.DataFrame, policy: dict) -> pd.DataFrame:
    """Exact (SHA-256) and perceptual (pHash) duplicates: the work id each one repeats.

    Order: regular files before links, then sorted path; the first of a group is
    kept. Files that failed an integrity check are neither kept nor duplicates.
    """
    rules = load_policy(policy)
    order = inventory.assign(_link=inventory["link_target"] != "").sort_values(
        ["_link", "path"], kind="stable"
    )
    usable = order[(order["integrity"] == "") & (order["work_id"] != "")]
    first_path: dict[str, str] = {}
    exact: dict[str, str] = {}
    for path, work_id in zip(usable["path"], usable["work_id"], strict=True):
        if work_id in first_path:
            exact[path] = work_id
        else:
            first_path[work_id] = path
    near: dict[str, str] = {}
    if rules.duplicates.perceptual:
        candidates = usable[(usable["phash"] != "") & ~usable["path"].isin(exact)]
        near = near_duplicates(
            candidates["path"].tolist(),
            candidates["work_id"].tolist(),
            candidates["phash"].tolist(),
            rules.duplicates.max_distance,
            candidates["colour"].tolist() if "colour" in candidates else None,
            rules.duplicates.max_colour_distance,
            candidates["shape"].tolist() if "shape" in candidates else None,
            rules.duplicates.max_shape_difference,
            rules.duplicates.pair_distance,
            rules.duplicates.pair_shape_difference,
        )
    return pd.DataFrame(
        {
            "path": inventory["path"],
            "duplicate_of": [exact.get(p, "") for p in inventory["path"]],
            "near_duplicate_of": [near.get(p, "") for p in inventory["path"]],
        }
    )


def _licences_for(rows: list[dict], embedded: str) -> tuple[str, str, str, bool]:
    """Normalised licence, raw text, sources and whether the sources disagree.

    Sources: the manifest rows of the path and every embedded statement (XMP
    `dc:rights`, `xmpRights:WebStatement`/`UsageTerms`, `cc:license`, SVG RDF,
    sidecar, EXIF/IPTC copyright). Text that names no licence (a rights
    holder's name, "Some rights reserved") does not count against a licence
    found elsewhere; a version-less name ("CC BY") does not count against a
    versioned licence of its family. On a conflict the raw texts and sources
    are listed per licence, in the order of the reason's ids.
    """
    statements = [("manifest", r["licence"]) for r in rows if r["licence"].strip()]
    statements += [(source, text) for source, text in json.loads(embedded or "[]")]
    if not statements:
        return "", "", "", False
    known: dict[str, list[tuple[str, str]]] = {}
    for source, text in statements:
        spdx = normalise_licence(text)
        if spdx:
            known.setdefault(spdx, []).append((source, text))
    for loose in [k for k in known if k.startswith("LicenseRef-CC-")]:
        family = [k for k in known if same_licence_family(loose, k)]
        if family:
            known[family[0]].extend(known.pop(loose))
    sources = "|".join(dict.fromkeys(s for s, _ in statements))
    if not known:
        return "", statements[0][1], sources, False
    if len(known) > 1:
        ids = sorted(known)
        raws = "|".join(known[k][0][1] for k in ids)
        named = "|".join("+".join(dict.fromkeys(s for s, _ in known[k])) for k in ids)
        return "|".join(ids), raws, named, True
    ((spdx, group),) = known.items()
    return spdx, group[0][1], "|".join(dict.fromkeys(s for s, _ in group)), False


def decide_works(
    inventory: pd.DataFrame,
    duplicates: pd.DataFrame,
    manifest: pd.DataFrame,
    takedown: list[str],
    policy: dict,
    sites: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Apply the rights policy: one decision and one reason per inventoried file."""
    rules = load_policy(policy)
    if sites is None:
        sites = pd.DataFrame(columns=SITE_COLUMNS)
    site_of = {row["path"]: row for row in _records(sites)}
    by_path: dict[str, list[dict]] = {}
    for row in _records(manifest):
        by_path.setdefault(row["path"], []).append(row)
    takedown_ids = set(takedown)
    exact = dict(zip(duplicates["path"], duplicates["duplicate_of"], strict=True))
    near = dict(zip(duplicates["path"], duplicates["near_duplicate_of"], strict=True))
    # Names are matched in NFC: macOS and some archivers store them decomposed.
    keys = [unicodedata.normalize("NFC", p) for p in inventory["path"]]
    unmatched = len(set(by_path) - set(keys))
    if unmatched:
        logger.warning("%d manifest rows name no file of raw_dir: ignored", unmatched)

    decisions = []
    for key, record in zip(keys, _records(inventory), strict=True):
        rows = by_path.get(key, [])
        licence, licence_raw, source, conflict = _licences_for(rows, record["licences"])
        first = rows[0] if rows else {}
        signals = {s for s in record["opt_out"].split("|") if s}
        if record["work_id"] and record["work_id"] in takedown_ids:
            signals.add("takedown")
        site = site_of.get(record["path"], {})
        signals.update(s for s in str(site.get("site_opt_out", "")).split("|") if s)
        ordered = sorted(signals, key=OPT_OUT_ORDER.index)
        decision, reason = _decide(
            record,
            licence,
            conflict,
            ordered,
            exact.get(record["path"], ""),
            near.get(record["path"], ""),
            rules,
            site.get("site_problem", ""),
        )
        decisions.append(
            {
                **{k: record[k] for k in INVENTORY_PASSTHROUGH},
                "decision": decision,
                "reason": reason,
                "licence": "" if conflict else licence,
                "licence_raw": licence_raw,
                "licence_source": source,
                # The manifest, where it says something, before the file's own metadata.
                **{
                    k: first.get(k) or record.get(k, "")
                    for k in ("creator", "title", "source_url")
                },
                "label": first.get("label", ""),
                "opt_out": "|".join(ordered),
                "site_snapshot": site.get("site_snapshot", ""),
            }
        )
    table = pd.DataFrame(decisions, columns=DECISION_COLUMNS)
    counts = table.groupby("decision").size().to_dict()
    logger.info("Curation decisions: %s", counts)
    return table


def _records(frame: pd.DataFrame) -> list[dict]:
    """The rows as dicts of Python values, like `to_dict("records")`, in a tenth of the time.

    pandas boxes each cell of Arrow-backed string columns one by one there;
    `tolist` converts a whole column at once.
    """
    columns = list(frame.columns)
    return [
        dict(zip(columns, values, strict=True))
        for values in zip(*(frame[c].tolist() for c in columns), strict=True)
    ]


def _decide(
    record: dict,
    licence: str,
    conflict: bool,
    opt_out: list[str],
    duplicate_of: str,
    near_duplicate_of: str,
    rules: Policy,
    site_problem: str = "",
) -> tuple[str, str]:
    """The first rule that applies (docs/rights-policy.md gives the order)."""
    integrity = record["integrity"]
    if integrity:
        return INTEGRITY_DECISION[integrity.split(":", 1)[0]], integrity
    if opt_out:
        return REJECTED, f"opt_out:{opt_out[0]}"
    if site_problem:
        # The site said something that cannot be read: it may be a reservation.
        return QUARANTINED, f"corrupt:{site_problem}"
    if duplicate_of:
        return REJECTED, f"duplicate:{duplicate_of}"
    if near_duplicate_of:
        return REJECTED, f"near_duplicate:{near_duplicate_of}"
    if conflict:
        return REVIEW, "licence_conflict:" + licence
    verdict = licence_verdict(licence, rules.licences)
    if verdict[0] == REJECTED:
        return verdict
    if record["faces"]:
        return rules.faces.decision, "privacy:face"
    return verdict


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
        lines.append(f"## {markdown_text(creator) or 'Unknown creator'}")
        lines.append("")
        for row in group.itertuples():
            source = f" — {markdown_text(row.source_url)}" if row.source_url else ""
            title = markdown_text(row.title or row.path)
            lines.append(f"- {title} ({row.licence}){source}")
        lines.append("")
    return table, "\n".join(lines)
