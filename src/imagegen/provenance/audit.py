"""Model audits: which works, by whom, under which licences trained a model version.

Everything comes from the artifacts that registration logs in the version's
MLflow run (`lineage/*`), so an audit needs the registry and nothing else.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

WORK_COLUMNS = ["work_id", "path", "title", "creator", "licence", "source_url"]
_MODEL_REF = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))$")


class AuditError(RuntimeError):
    """The model reference or its lineage artifacts cannot be found."""


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """'NAME@ALIAS' or 'NAME/VERSION' -> (name, alias, version)."""
    match = _MODEL_REF.match(ref.strip())
    if not match:
        raise AuditError(f"model reference {ref!r} is not NAME@ALIAS or NAME/VERSION")
    return match["name"], match["alias"], match["version"]


def resolve_version(client, ref: str):
    """The registry ModelVersion named by `ref`."""
    name, alias, version = parse_model_ref(ref)
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, version)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own exception types
        raise AuditError(f"{ref}: not in the registry ({type(exc).__name__})") from exc


def version_of_run(client, name: str, run_id: str):
    """The registry version of `name` that run `run_id` logged, or None."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return found[0] if found else None


def download_lineage(client, run_id: str, dst: str | Path) -> Path:
    """The `lineage/` artifacts that registration logged in run `run_id`, under `dst`."""
    return Path(client.download_artifacts(run_id, "lineage", str(dst)))


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    present = [c for c in WORK_COLUMNS if c in frame.columns]
    return frame[present].fillna("").astype(str).to_dict("records")


def build_audit(
    model: dict[str, Any],
    dataset_digest: dict[str, Any],
    training_manifest: pd.DataFrame,
    holdout_works: pd.DataFrame,
    decisions: pd.DataFrame,
    raw_dir: str = "",
) -> dict[str, Any]:
    """The audit record of one model version (JSON-able)."""
    trained = set(training_manifest["work_id"])
    held = set(holdout_works["work_id"]) if len(holdout_works) else set()
    accepted = decisions[decisions["decision"] == "accepted"]
    unused = accepted[~accepted["work_id"].isin(trained | held)]
    codes = decisions["reason"].str.split(":", n=1).str[0]
    opt_out = decisions[codes == "opt_out"]
    signals = Counter(
        s
        for cell in decisions.get("opt_out", pd.Series(dtype=str)).fillna("")
        # Curation joins several signals with "|" (e.g. "takedown|tdm_reservation").
        for s in re.split(r"[|,]", str(cell))
        if s
    )
    hosts = Counter(
        urlparse(u).netloc or "(no source)"
        for u in training_manifest["source_url"].fillna("")
    )
    creators = sorted(set(training_manifest["creator"].fillna("")) - {""})
    return {
        "model": model,
        "dataset": {
            "digest": dataset_digest["dataset_digest"],
            "n_works": int(len(training_manifest)),
            "n_creators": len(creators),
            "licence_summary": dataset_digest.get("licence_summary", {}),
            "raw_dir": raw_dir,
        },
        "works": _rows(training_manifest.sort_values("work_id")),
        "held_back_works": _rows(holdout_works.sort_values("work_id"))
        if len(holdout_works)
        else [],
        "accepted_not_used": _rows(unused.sort_values("work_id")),
        "curation": {
            "files": int(len(decisions)),
            "decisions": {
                k: int(v) for k, v in decisions["decision"].value_counts().items()
            },
            "reasons": {
                k: int(v) for k, v in codes.value_counts().sort_index().items()
            },
            "opt_outs_honoured": int(len(opt_out)),
            "opt_out_signals": dict(sorted(signals.items())),
            "opted_out_in_training": int(opt_out["work_id"].isin(trained).sum()),
        },
        "attribution": [
            {"creator": c, "works": int((training_manifest["creator"] == c).sum())}
            for c in creators
        ],
        "source_hosts": dict(sorted(hosts.items())),
    }


def public_summary_markdown(audit: dict[str, Any]) -> str:
    """EU AI Act Art. 53(1)(d)-style public summary of the training content."""
    m, d, c = audit["model"], audit["dataset"], audit["curation"]
    licences = ", ".join(f"{k}: {v}" for k, v in d["licence_summary"].items()) or "none"
    hosts = ", ".join(f"{h} ({n})" for h, n in audit["source_hosts"].items())
    reasons = ", ".join(f"{k}: {v}" for k, v in c["reasons"].items())
    signals = (
        ", ".join(f"{k}: {v}" for k, v in c["opt_out_signals"].items()) or "none found"
    )
    return "\n".join(
        [
            f"# Public summary of training content — {m['name']} version {m['version']}",
            "",
            "## 1. General information",
            "",
            f"- Model: {m['name']} version {m['version']} (MLflow run {m['run_id']})",
            "- Modality: images (input: random seed; output: generated images)",
            f"- Training data: {d['n_works']} images by {d['n_creators']} creator(s); "
            f"dataset digest {d['digest']}",
            "",
            "## 2. List of data sources",
            "",
            f"- Curated folder of works: `{d['raw_dir'] or 'not recorded'}`",
            f"- Sources of the training works (host and count): {hosts or 'none'}",
            f"- Licences of the training works: {licences}",
            "- No web crawling, user data or synthetic data was used.",
            "",
            "## 3. Data processing",
            "",
            f"- Every file of the source folder was decided on: {c['files']} files; "
            f"reasons: {reasons}.",
            "- Reservations of rights (text and data mining opt-outs) honoured: "
            f"{c['opt_outs_honoured']} works excluded; signals: {signals}; "
            f"opted-out works in the training set: {c['opted_out_in_training']}.",
            "- Only works whose licence is on the allow list of the rights policy, "
            "with no opt-out, duplicate, integrity or privacy finding, were used.",
            "- Metadata (EXIF, XMP, GPS) is stripped: only pixels reach training.",
            "",
        ]
    )


def audit_markdown(audit: dict[str, Any]) -> str:
    """The full audit: the public summary, then every work with its licence."""
    lines = [public_summary_markdown(audit), "## Works used for training", ""]
    lines.append("| work id | title | creator | licence | source |")
    lines.append("|---|---|---|---|---|")
    for w in audit["works"]:
        lines.append(
            f"| `{w['work_id'][:16]}` | {w.get('title', '')} | {w.get('creator', '')} | "
            f"{w.get('licence', '')} | {w.get('source_url', '')} |"
        )
    lines += [
        "",
        f"Held back for evaluation (not trained on): {len(audit['held_back_works'])} works.",
        f"Accepted but not used (size cap): {len(audit['accepted_not_used'])} works.",
        "",
    ]
    return "\n".join(lines)


def write_audit(audit: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "audit.json", out_dir / "audit.md"
    json_path.write_text(json.dumps(audit, indent=2, ensure_ascii=False))
    md_path.write_text(audit_markdown(audit))
    return json_path, md_path


def audit_model(client, ref: str) -> dict[str, Any]:
    """Build the audit of a registered version from its run's lineage artifacts."""
    version = resolve_version(client, ref)
    run = client.get_run(version.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = download_lineage(client, version.run_id, tmp)
        except Exception as exc:  # noqa: BLE001
            raise AuditError(
                f"{ref}: run {version.run_id} has no lineage artifacts"
            ) from exc

        def read(name: str) -> pd.DataFrame:
            path = local / name
            if not path.exists():
                raise AuditError(
                    f"{ref}: lineage/{name} is missing from run {version.run_id}"
                )
            return pd.read_csv(path, dtype=str, keep_default_na=False)

        digest = json.loads((local / "dataset_digest.json").read_text())
        manifest, holdout, decisions = (
            read("training_manifest.csv"),
            read("holdout_works.csv"),
            read("curation_decisions.csv"),
        )
    aliases = client.get_registered_model(version.name).aliases
    model = {
        "name": version.name,
        "version": str(version.version),
        "aliases": sorted(
            a for a, v in aliases.items() if str(v) == str(version.version)
        ),
        "run_id": version.run_id,
        "source": version.source,
    }
    return build_audit(
        model,
        digest,
        manifest,
        holdout,
        decisions,
        raw_dir=run.data.params.get("raw_dir", ""),
    )
