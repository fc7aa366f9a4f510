"""Monitor nodes: quality and memorisation of what deployed generators produced."""

from __future__ import annotations

import html
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagegen.metrics.gates import describe_breach, judge_limits
from imagegen.metrics.memorisation import audit_nearest_works
from imagegen.metrics.quality import embed_images, measure_quality
from imagegen.pipelines.monitor.regeneration import (
    read_generations,
    regenerate,
    resolve_versions,
    summarise,
)
from imagegen.provenance.audit import download_lineage, takedown_tags
from imagegen.provenance.generation_ledger import ledger_path
from imagegen.provenance.takedown import affected_aliases
from imagegen.rights.metadata import CSP_META

logger = logging.getLogger(__name__)

LAST_SEQ_TAG = "monitor.last_seq"


class MonitoringAlert(RuntimeError):
    """Quality or memorisation crossed a threshold of parameters_monitor.yml."""


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # The kind makes MLflow's UI open the experiment on its runs (not GenAI traces).
    return client.create_experiment(
        name, tags={"mlflow.experimentKind": "custom_model_development"}
    )


def _last_checked_seq(client, experiment_id: str) -> int:
    runs = client.search_runs(
        [experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        return -1
    return int(runs[0].data.tags.get(LAST_SEQ_TAG, -1))


def collect_generations(params: dict[str, Any]) -> pd.DataFrame:
    """Generation-ledger entries since the last check, with their registry versions."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment_id = _experiment_id(client, params["experiment"])
    after = _last_checked_seq(client, experiment_id)
    path = ledger_path() or Path(params["ledger"])
    generations = read_generations(path.absolute(), after)
    if generations.empty:
        logger.info("No images generated since ledger entry %d", after)
        return generations
    generations = resolve_versions(client, generations)
    logger.info("Images since ledger entry %d: %s", after, summarise(generations))
    return generations


def _version_reference(client, name: str, version: str, tmp: Path):
    """The version's feature encoder (as registered) and its dataset digest."""
    import keras

    model_version = client.get_model_version(name, version)
    local = download_lineage(client, model_version.run_id, tmp)
    encoder = keras.saving.load_model(local / "feature_encoder.keras", compile=False)
    return model_version, encoder


# The limits of `monitor.thresholds`, in the order alerts are listed.
ALERT_LIMITS = ("kid_max", "fid_max", "memorised_fraction_max", "precision_min")


def _alerts(metrics: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    found = []
    for key, verdict in judge_limits(metrics, thresholds, ALERT_LIMITS).items():
        if verdict["verdict"] == "fail":  # an unmeasured metric raises no alert
            metric = verdict["metric"]
            kind = "memorisation" if metric == "memorised_fraction" else "quality"
            found.append(f"{kind}: {describe_breach(key, verdict)}")
    if metrics.get("reproduction_mismatches"):
        found.append(
            f"integrity: {metrics['reproduction_mismatches']} images did not reproduce "
            "(model files changed since they were generated?)"
        )
    return found


def measure_generations(
    generations: pd.DataFrame,
    training_set: dict[str, np.ndarray],
    holdout_set: dict[str, np.ndarray],
    dataset_digest: dict[str, Any],
    evaluation: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Per model version: regenerate its recorded images, measure, compare to thresholds."""
    from mlflow import MlflowClient

    from imagegen.registry import load_verified_model

    report: dict[str, Any] = {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "last_seq": int(generations["seq"].max()) if len(generations) else None,
        "versions": {},
        "alerts": [],
    }
    client = MlflowClient()
    report["takedowns"] = takedown_flags(client, generations)
    report["alerts"] += [
        f"{key}: rights: trained on withdrawn work(s) "
        f"{', '.join(t['work_id'][:16] for t in flag['takedowns'])} yet "
        + (f"holds @{', @'.join(flag['aliases'])}" if flag["aliases"] else "served")
        for key, flag in report["takedowns"].items()
    ]
    for alert in report["alerts"]:
        logger.warning("ALERT %s", alert)
    if generations.empty:
        return report
    for (name, version), version_rows in generations.groupby(
        ["model_name", "model_version"], dropna=False
    ):
        key = f"{name}/{version}"
        entry: dict[str, Any] = {"images": int(len(version_rows))}
        report["versions"][key] = entry
        if not isinstance(version, str) or not version:
            entry["skipped"] = "no registry version matches the recorded run"
            continue
        if len(version_rows) < params["min_images"]:
            entry["skipped"] = f"fewer than {params['min_images']} images"
            continue
        with tempfile.TemporaryDirectory() as tmp:
            model_version, encoder = _version_reference(
                client, name, version, Path(tmp)
            )
        if model_version.tags.get("dataset_digest") != dataset_digest["dataset_digest"]:
            trained_on = str(model_version.tags.get("dataset_digest", ""))[:12]
            entry["skipped"] = (
                f"trained on another dataset (digest {trained_on or 'unknown'}, "
                f"on disk {dataset_digest['dataset_digest'][:12]}): run curation and "
                "preprocessing with --params raw_dir=<its folder>, then the monitor"
            )
            continue
        python_model = load_verified_model(
            client, name, str(version)
        ).unwrap_python_model()
        images, mismatches = regenerate(
            python_model, version_rows.tail(params["max_images"])
        )
        features = embed_images(
            encoder,
            {"images": images},
            training_set,
            holdout_set,
            dataset_digest,
            evaluation,
        )
        quality = measure_quality(features, evaluation)
        _, summary = audit_nearest_works(
            images,
            training_set["images"],
            holdout_set["images"],
            features["samples"],
            features["training"],
            features["holdout"],
            quantile=evaluation["memorisation_quantile"],
            space=evaluation["memorisation_space"],
        )
        entry.update(
            {
                "extractor": str(features["extractor"]),
                "fid": quality["fid"],
                "kid": quality["kid"],
                # Training vs held-back works: the real-vs-real floor.
                "kid_floor": quality["kid_train_vs_holdout"],
                "precision": quality["precision"],
                "recall": quality["recall"],
                "memorised_fraction": summary["memorised_fraction"],
                "reproduction_mismatches": int(mismatches),
                "registered_fid": _float(model_version.tags.get("fid")),
            }
        )
        entry["alerts"] = _alerts(entry, params["thresholds"])
        report["alerts"] += [f"{key}: {a}" for a in entry["alerts"]]
        for alert in entry["alerts"]:
            logger.warning("ALERT %s: %s", key, alert)
    return report


def takedown_flags(client, generations: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Versions that hold an alias, or made images since the last check, although a
    takedown names a work they trained on (`takedown.<work_id>` tags)."""
    flags = affected_aliases(client)
    if generations.empty:
        return flags
    served = generations[["model_name", "model_version"]].dropna().drop_duplicates()
    for name, version in served.itertuples(index=False):
        key = f"{name}/{version}"
        if key in flags or not str(version):
            continue
        try:
            tags = client.get_model_version(name, str(version)).tags or {}
        except Exception:  # noqa: BLE001 - a version deleted since it served
            continue
        if takedowns := takedown_tags(tags):
            flags[key] = {"aliases": [], "takedowns": takedowns}
    return flags


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def record_monitoring(report: dict[str, Any], params: dict[str, Any]):
    """Log the check to the monitoring experiment and tag versions; draw the trend."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    experiment_id = _experiment_id(client, params["experiment"])
    now = int(datetime.now(UTC).timestamp() * 1000)
    if report["last_seq"] is not None:
        for key, entry in report["versions"].items():
            name, version = key.split("/", 1)
            run = client.create_run(
                experiment_id,
                run_name=f"{key} {report['checked_at']}",
                tags={
                    "model_name": name,
                    "model_version": version,
                    LAST_SEQ_TAG: str(report["last_seq"]),
                    "alerts": "; ".join(entry.get("alerts", [])) or "none",
                    "skipped": entry.get("skipped", ""),
                },
            )
            numeric = {
                k: v
                for k, v in entry.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in numeric.items()],
            )
            client.set_terminated(run.info.run_id)
            if version not in ("", "None", "nan") and "skipped" not in entry:
                client.set_model_version_tag(
                    name,
                    version,
                    "monitor.alert",
                    "; ".join(entry["alerts"]) or "none",
                )
                client.set_model_version_tag(
                    name, version, "monitor.checked_at", report["checked_at"]
                )
    history = _history(client, experiment_id)
    return _trend_figure(history), _trend_html(report, history)


def _history(client, experiment_id: str) -> pd.DataFrame:
    runs = client.search_runs(
        [experiment_id], order_by=["attributes.start_time ASC"], max_results=5000
    )
    return pd.DataFrame(
        [
            {
                "time": pd.to_datetime(run.info.start_time, unit="ms"),
                "version": f"{run.data.tags.get('model_name')}/"
                f"{run.data.tags.get('model_version')}",
                **run.data.metrics,
                "alerts": run.data.tags.get("alerts", ""),
            }
            for run in runs
        ]
    )


def _trend_figure(history: pd.DataFrame):
    from imagegen.plots import plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, metric in zip(axes, ("kid", "fid", "memorised_fraction"), strict=True):
        if metric in history:
            for version, rows in history.dropna(subset=[metric]).groupby("version"):
                ax.plot(rows["time"], rows[metric], marker="o", label=version)
        if len(history):
            _fit_time_axis(ax, history["time"])
        ax.set_title(metric, fontsize=10)
        ax.tick_params(labelsize=7, axis="x", rotation=30)
    if len(history):
        axes[0].legend(fontsize=7)
    figure.suptitle("Monitoring of deployed generators", fontsize=11)
    figure.tight_layout()
    return figure


def _fit_time_axis(ax, times: pd.Series) -> None:
    """Limits from the checks' times: one check spans an hour, not matplotlib's years."""
    import matplotlib.dates as mdates

    low, high = times.min(), times.max()
    pad = max((high - low) * 0.05, pd.Timedelta(minutes=30))
    ax.set_xlim(low - pad, high + pad)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _trend_html(report: dict[str, Any], history: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{entry.get('images')}</td>"
        f"<td>{entry.get('kid', '')}</td><td>{entry.get('fid', '')}</td>"
        f"<td>{entry.get('memorised_fraction', '')}</td>"
        f"<td>{html.escape('; '.join(entry.get('alerts', [])) or entry.get('skipped', 'none'))}"
        "</td></tr>"
        for key, entry in report["versions"].items()
    )
    table = (
        history.to_html(index=False, escape=True)
        if len(history)
        else "<p>No checks yet.</p>"
    )
    takedowns = "".join(
        f"<li>{html.escape(key)}: trained on withdrawn work(s) "
        f"{html.escape(', '.join(t['work_id'] for t in flag['takedowns']))}</li>"
        for key, flag in report.get("takedowns", {}).items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{CSP_META}"
        "<title>imagegen monitoring"
        "</title></head><body><h1>Monitoring</h1>"
        f"<p>Checked {report['checked_at']}, up to generation-ledger entry "
        f"{report['last_seq']}.</p><table border='1'><tr><th>version</th><th>images</th>"
        "<th>KID</th><th>FID</th><th>memorised fraction</th><th>alerts</th></tr>"
        f"{rows}</table>"
        + (f"<h2>Takedowns</h2><ul>{takedowns}</ul>" if takedowns else "")
        + "<img src='monitoring_trend.png' width='900'>"
        f"<h2>History</h2>{table}</body></html>"
    )


def raise_on_alert(
    report: dict[str, Any], trend_html: str, params: dict[str, Any]
) -> None:
    """With `monitor.fail_on_alert`, end the run with a non-zero exit on any alert."""
    if report["alerts"] and params["fail_on_alert"]:
        raise MonitoringAlert("monitoring alerts: " + " | ".join(report["alerts"]))
    logger.info("Monitoring: %s", monitoring_summary(report))


def monitoring_summary(report: dict[str, Any]) -> str:
    """One line: alerts, the versions checked, and each skipped version with why."""
    skipped = {k: e["skipped"] for k, e in report["versions"].items() if "skipped" in e}
    checked = [k for k in report["versions"] if k not in skipped]
    alerts = len(report["alerts"])
    line = (f"{alerts} alert(s)" if alerts else "no alerts") + (
        f"; checked {len(checked)} version(s)"
        + (f" ({', '.join(checked)})" if checked else "")
    )
    if skipped:
        line += f"; skipped {len(skipped)}: " + "; ".join(
            f"{key} ({why})" for key, why in skipped.items()
        )
    return line
