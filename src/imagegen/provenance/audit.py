"""Model audits: which works, by whom, under which licences trained a model version.

Everything comes from the artifacts that registration logs in the version's
MLflow run (`lineage/*`), so an audit needs the registry and nothing else.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from imagegen.provenance.public_summary import build_public_summary, summary_markdown
from imagegen.rights.metadata import csv_restored, markdown_text

WORK_COLUMNS = ["work_id", "path", "title", "creator", "licence", "source_url"]
TAKEDOWN_TAG = "takedown."  # version tag `takedown.<work_id>` = date and reason
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


def download_lineage_table(client, run_id: str, name: str, dst: str | Path):
    """One CSV of the `lineage/` artifacts of run `run_id`, or None if it has none."""
    try:
        path = client.download_artifacts(run_id, f"lineage/{name}", str(dst))
    except Exception:  # noqa: BLE001 - MLflow raises its own types for a missing file
        return None
    return csv_restored(pd.read_csv(path, dtype=str, keep_default_na=False))


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    present = [c for c in WORK_COLUMNS if c in frame.columns]
    return frame[present].fillna("").astype(str).to_dict("records")


def source_host(url: str) -> str:
    """The host of a source URL; a URL that does not parse is counted as such."""
    try:
        return urlparse(str(url)).netloc or "(no source)"
    except ValueError:  # e.g. "http://[": metadata is kept as text, never fatal
        return "(unparsable URL)"


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
    hosts = Counter(source_host(u) for u in training_manifest["source_url"].fillna(""))
    creators = sorted(set(training_manifest["creator"].fillna("")) - {""})
    formats = Counter(
        PurePosixPath(p).suffix.lower().lstrip(".") or "(none)"
        for p in training_manifest.get("path", pd.Series(dtype=str)).fillna("")
    )
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
            # "<host> <retrieved date>" of each offline site snapshot read.
            "site_snapshots": {
                k: int(v)
                for k, v in decisions.get("site_snapshot", pd.Series(dtype=str))
                .fillna("")
                .loc[lambda s: s != ""]
                .value_counts()
                .sort_index()
                .items()
            },
        },
        "attribution": [
            {"creator": c, "works": int((training_manifest["creator"] == c).sum())}
            for c in creators
        ],
        "source_hosts": dict(sorted(hosts.items())),
        "formats": dict(sorted(formats.items())),
    }


def public_summary_markdown(audit: dict[str, Any]) -> str:
    """The version's EU AI Act Art. 53(1)(d) public summary, as Markdown.

    The summary registration logged (with the statements configured then) when
    the audit carries it; otherwise one built from lineage alone.
    """
    summary = audit.get("public_summary") or build_public_summary(audit)
    return summary_markdown(summary)


def takedown_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """The takedowns recorded on a version (`takedown.<work_id>` tags), by work id."""
    return [
        {"work_id": key.removeprefix(TAKEDOWN_TAG), "recorded": value}
        for key, value in sorted(tags.items())
        if key.startswith(TAKEDOWN_TAG)
    ]


def takedowns_markdown(takedowns: list[dict[str, str]]) -> list[str]:
    """The audit's takedown section: every withdrawn work this version trained on."""
    if not takedowns:
        return []
    lines = [
        "## Takedowns affecting this version",
        "",
        f"This version trained on {len(takedowns)} work(s) withdrawn after training; "
        "it keeps its lineage for audit but holds no alias.",
        "",
    ]
    lines += [
        f"- `{markdown_text(t['work_id'], 64)}`: {markdown_text(t['recorded'])}"
        for t in takedowns
    ]
    return [*lines, ""]


def audit_markdown(audit: dict[str, Any]) -> str:
    """The full audit: takedowns, the public summary, then every work with its licence."""
    lines = [
        *takedowns_markdown(audit.get("takedowns", [])),
        public_summary_markdown(audit),
        "## Works used for training",
        "",
    ]
    lines.append("| work id | title | creator | licence | source |")
    lines.append("|---|---|---|---|---|")
    for w in audit["works"]:
        cells = [
            markdown_text(w.get(k, ""), 200)
            for k in ("title", "creator", "licence", "source_url")
        ]
        lines.append(
            f"| `{markdown_text(w['work_id'], 16)}` | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f"Held back for evaluation (not trained on): {len(audit['held_back_works'])} works.",
        f"Accepted but not used (size cap): {len(audit['accepted_not_used'])} works.",
        "",
    ]
    return "\n".join(lines)


TOP_CREATORS = 10


def _gates(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """The gate verdicts registration tagged (`gate.<gate>.value|limit|verdict`)."""
    gates: dict[str, dict[str, str]] = {}
    for key, value in tags.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "gate":
            gates.setdefault(parts[1], {})[parts[2]] = value
    return dict(sorted(gates.items()))


def audit_summary_markdown(audit: dict[str, Any], ref: str = "") -> str:
    """The audit at a glance: counts, licences, creators, opt-outs, gates, and where
    the public summary is; `audit_markdown` lists every work."""
    model, dataset, curation = audit["model"], audit["dataset"], audit["curation"]
    aliases = ", ".join(f"@{a}" for a in model.get("aliases", [])) or "no alias"
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(curation["decisions"].items()))
    lines = [
        f"# {model['name']} version {model['version']} ({aliases})",
        "",
        f"Run `{model['run_id']}`, dataset digest `{dataset['digest']}`"
        + (
            f", raw folder `{str(dataset['raw_dir'])[:200].replace('`', '')}`"
            if dataset.get("raw_dir")
            else ""
        )
        + ".",
        "",
        *takedowns_markdown(audit.get("takedowns", [])),
        "## Counts",
        "",
        f"- works trained on: {dataset['n_works']}, by {dataset['n_creators']} creator(s)",
        f"- held back for evaluation: {len(audit['held_back_works'])}; "
        f"accepted but not used (size cap): {len(audit['accepted_not_used'])}",
        f"- curation: {curation['files']} files ({decisions})",
        "",
        "## Licences of the works trained on",
        "",
    ]
    lines += [
        f"- {markdown_text(licence or '(none)', 80)}: {count}"
        for licence, count in sorted(
            dataset.get("licence_summary", {}).items(), key=lambda i: (-i[1], i[0])
        )
    ] or ["- (none recorded)"]
    creators = sorted(
        audit.get("attribution", []), key=lambda c: (-c["works"], c["creator"])
    )
    lines += [
        "",
        f"## Creators (top {min(TOP_CREATORS, len(creators))} of {len(creators)})",
        "",
        *[
            f"- {markdown_text(c['creator'], 120)}: {c['works']} work(s)"
            for c in creators[:TOP_CREATORS]
        ],
        "",
        "## Opt-outs",
        "",
        f"- honoured (works refused for an opt-out signal): {curation['opt_outs_honoured']}"
        + (
            " ("
            + ", ".join(f"{k} {v}" for k, v in curation["opt_out_signals"].items())
            + ")"
            if curation.get("opt_out_signals")
            else ""
        ),
        f"- opted-out works in training: {curation['opted_out_in_training']}",
        "",
        "## Gates",
        "",
    ]
    gates = audit.get("gates", {})
    lines += [
        f"- {g}: {v.get('verdict', '?')} "
        f"({v.get('value', '?')}, limit {v.get('limit', '?')})"
        for g, v in gates.items()
    ] or ["- (none recorded for this version)"]
    reference = ref or f"{model['name']}/{model['version']}"
    lines += [
        "",
        "## Public summary (EU AI Act Art. 53(1)(d))",
        "",
        f"- `runs:/{model['run_id']}/audit/public_summary.md` "
        f"(`mlflow artifacts download -u runs:/{model['run_id']}/audit/public_summary.md`);"
        " the latest training run also writes `data/08_reporting/public_summary.md`",
        "",
        f"Every work: `imagegen audit model {reference} --works`; "
        f"everything as JSON: `imagegen audit model {reference} --format json`.",
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
            return csv_restored(pd.read_csv(path, dtype=str, keep_default_na=False))

        digest = json.loads((local / "dataset_digest.json").read_text())
        manifest, holdout, decisions = (
            read("training_manifest.csv"),
            read("holdout_works.csv"),
            read("curation_decisions.csv"),
        )
        summary = _logged_public_summary(client, version.run_id, tmp)
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
    audit = build_audit(
        model,
        digest,
        manifest,
        holdout,
        decisions,
        raw_dir=run.data.params.get("raw_dir", ""),
    )
    if summary is not None:
        audit["public_summary"] = summary
    audit["takedowns"] = takedown_tags(version.tags or {})
    audit["gates"] = _gates(version.tags or {})
    return audit


def _logged_public_summary(client, run_id: str, tmp: str) -> dict[str, Any] | None:
    """The public summary registration logged (`audit/public_summary.json`), if any."""
    try:
        path = client.download_artifacts(run_id, "audit/public_summary.json", tmp)
        return json.loads(Path(path).read_text())
    except Exception:  # noqa: BLE001 - versions registered before the summary had one
        return None
