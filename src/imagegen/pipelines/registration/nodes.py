"""Registration node: the generator as an MLflow pyfunc model in the registry."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from imagegen.framework.backlog import log_artifact, log_dict, log_text
from imagegen.metrics.gates import describe_gate, gates_passed, judge_gates
from imagegen.rights.metadata import csv_safe

logger = logging.getLogger(__name__)


def _unreachable_error(exc: Exception, what: str) -> RuntimeError:
    import mlflow

    return RuntimeError(
        f"{what}: the MLflow tracking server {mlflow.get_tracking_uri()} is unreachable "
        f"({type(exc).__name__}). The generator is kept at data/06_models/generator.keras; "
        "run `kedro run --pipeline registration` when the server is back."
    )


def register_model(
    generator,
    dataset_digest: dict[str, Any],
    evaluation_metrics: dict[str, Any],
    training_summary: dict[str, Any],
    attribution_table,
    training_manifest,
    params: dict[str, Any],
    raw_dir: str,
) -> dict[str, Any]:
    """Log the generator and its lineage files to the run; prepare the version's tags."""
    from imagegen.framework.backlog import is_unreachable

    try:
        return _register_model(
            generator,
            dataset_digest,
            evaluation_metrics,
            training_summary,
            attribution_table,
            training_manifest,
            params,
            raw_dir,
        )
    except Exception as exc:
        if is_unreachable(exc):
            raise _unreachable_error(exc, "registration failed") from exc
        raise


def _register_model(
    generator,
    dataset_digest: dict[str, Any],
    evaluation_metrics: dict[str, Any],
    training_summary: dict[str, Any],
    attribution_table,
    training_manifest,
    params: dict[str, Any],
    raw_dir: str,
) -> dict[str, Any]:
    import mlflow
    from mlflow import MlflowClient

    from imagegen.registry import fault_point, log_generator_model, registered_name

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("registration needs the MLflow run that kedro-mlflow opens")
    name = registered_name(params, training_summary["model"], raw_dir)
    # The version's lineage lives in its own run, whichever pipelines ran before.
    log_text(
        csv_safe(attribution_table).to_csv(index=False), "attribution/attribution.csv"
    )
    log_text(
        csv_safe(training_manifest).to_csv(index=False), "lineage/training_manifest.csv"
    )
    log_dict(dataset_digest, "lineage/dataset_digest.json")
    logged = log_generator_model(
        generator,
        name,
        run_id=run.info.run_id,
        dataset_digest=dataset_digest["dataset_digest"],
        max_n=params["max_n"],
        extra_config={"max_images_per_request": params["max_images_per_request"]},
    )
    fault_point("model_logged")
    # Judged again (evaluation logged its own verdicts): the registration
    # pipeline may run alone, after the gates in its parameters changed.
    verdicts = judge_gates(evaluation_metrics, params["gates"])
    tags = {
        "dataset_digest": dataset_digest["dataset_digest"],
        "n_works": str(dataset_digest["n_works"]),
        "n_creators": str(dataset_digest["n_creators"]),
        "licence_summary": json.dumps(
            dataset_digest["licence_summary"], sort_keys=True
        ),
        "attribution": f"runs:/{run.info.run_id}/attribution/attribution.csv",
        "run_id": run.info.run_id,
        "fid": f"{evaluation_metrics['fid']:.4f}",
        "extractor": evaluation_metrics["extractor"],
        "evaluation_source": evaluation_metrics.get("source", "generator"),
        **gate_tags(verdicts),
        "gates_passed": str(gates_passed(verdicts)).lower(),
        **logged["digests"],
    }
    return {
        "name": name,
        # The number the version will most likely get; `publish_version` says
        # which it got (the audit is written before the version exists).
        "version": str(_next_version(MlflowClient(), name)),
        "alias": params["alias"],
        "run_id": run.info.run_id,
        "source": logged["model_uri"],
        "model_id": logged["model_id"],
        "verdicts": verdicts,
        "evaluation_source": evaluation_metrics.get("source", "generator"),
        "tags": tags,
    }


def _next_version(client, name: str) -> int:
    """The version number the registry gives the next version of `name`."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception:  # noqa: BLE001 - a model not yet registered
        return 1
    return max((int(v.version) for v in versions), default=0) + 1


def publish_version(
    registration_plan: dict[str, Any],
    lineage_tags: dict[str, str],
    evaluation_metrics: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Create the version with all its tags in one call, then move its aliases."""
    from mlflow import MlflowClient

    from imagegen.registry import (
        create_version,
        fault_point,
        missing_lineage_tags,
        set_alias,
    )

    plan = registration_plan
    name, tags = plan["name"], {**plan["tags"], **lineage_tags}
    missing = missing_lineage_tags(tags)
    if missing:
        raise RuntimeError(
            f"{name}: lineage tag(s) {', '.join(missing)} missing; no version created"
        )
    client = MlflowClient()
    version = create_version(
        client, name, plan["source"], plan["run_id"], tags, plan["model_id"]
    )
    fault_point("version_created")
    if version != plan["version"]:
        logger.warning(
            "%s: the audit logged in run %s names version %s; the registry gave %s",
            name,
            plan["run_id"],
            plan["version"],
            version,
        )
    set_alias(client, name, version, params["alias"])
    fault_point("candidate_set")
    promoted = promote_if_gates_pass(
        client,
        name,
        version,
        plan["verdicts"],
        evaluation_metrics,
        params["champion_alias"],
    )
    fault_point("champion_set")
    logger.info(
        "Registered %s version %s with alias %r", name, version, params["alias"]
    )
    return {
        "name": name,
        "version": version,
        "alias": params["alias"],
        "champion": promoted,
        "run_id": plan["run_id"],
        "model_uri": f"models:/{name}/{version}",
        "tags": tags,
    }


def record_model_lineage(
    registration_plan: dict[str, Any],
    feature_encoder,
    dataset_digest: dict[str, Any],
    training_manifest,
    holdout_works,
    curation_decisions,
    raw_dir: str,
    champion_alias: str,
    public_summary: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Log the version's lineage (inputs, decisions, audit) to its run; its lineage tags."""
    import mlflow

    from imagegen.provenance.audit import audit_markdown, build_audit
    from imagegen.provenance.ledger import Ledger, lineage_ledger_path
    from imagegen.provenance.public_summary import build_public_summary

    digest = dataset_digest["dataset_digest"]
    # MLflow stores dataset digests in 36 characters; the full SHA-256 goes in a tag.
    training_data = mlflow.data.from_pandas(
        training_manifest, name="training_manifest", digest=digest[:32]
    )
    # A run input (dataset lineage), not an artifact: MLflow logs it to the run itself.
    mlflow.log_input(training_data, context="training", tags={"sha256": digest})
    holdout_columns = [
        c
        for c in ("work_id", "path", "title", "creator", "licence", "source_url")
        if c in holdout_works.columns
    ]
    log_text(
        csv_safe(holdout_works[holdout_columns]).to_csv(index=False),
        "lineage/holdout_works.csv",
    )
    log_text(
        csv_safe(curation_decisions).to_csv(index=False),
        "lineage/curation_decisions.csv",
    )
    # The extractor its evaluation used: monitoring measures with the same one.
    with tempfile.TemporaryDirectory() as tmp:
        encoder_path = Path(tmp) / "feature_encoder.keras"
        feature_encoder.save(encoder_path)
        log_artifact(encoder_path, "lineage")
    plan = registration_plan
    champion = plan["evaluation_source"] == "generator" and gates_passed(
        plan["verdicts"]
    )
    model = {
        "name": plan["name"],
        "version": plan["version"],
        "aliases": [plan["alias"]] + ([champion_alias] if champion else []),
        "run_id": plan["run_id"],
        "source": plan["source"],
    }
    audit = build_audit(
        model,
        dataset_digest,
        training_manifest,
        holdout_works,
        curation_decisions,
        raw_dir=raw_dir,
    )
    ledger = Ledger(lineage_ledger_path())
    audit["public_summary"] = build_public_summary(
        audit, public_summary, curated_at=_last_curated(ledger)
    )
    log_dict(audit, "audit/audit.json")
    log_text(audit_markdown(audit), "audit/audit.md")
    head = ledger.head()
    tags = {
        "audit": f"runs:/{model['run_id']}/audit/audit.md",
        "public_summary": f"runs:/{model['run_id']}/audit/public_summary.md",
        "lineage_head": f"{head.seq}:{head.hash}" if head else "",
        "opt_outs_honoured": str(audit["curation"]["opt_outs_honoured"]),
    }
    logger.info(
        "Lineage of %s version %s: %d works, %d opt-outs honoured",
        model["name"],
        model["version"],
        audit["dataset"]["n_works"],
        audit["curation"]["opt_outs_honoured"],
    )
    return audit, tags


def _last_curated(ledger) -> str | None:
    """When curation last read the source folder: its latest inventory entry's time."""
    times = [
        e.get("time") for e in ledger.entries() if e.get("node") == "inventory_works"
    ]
    return times[-1] if times else None


def render_public_summary(model_audit: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The version's Art. 53(1)(d) public summary, as JSON and as Markdown."""
    from imagegen.provenance.public_summary import summary_markdown

    summary = model_audit["public_summary"]
    return summary, summary_markdown(summary)


def gate_tags(verdicts: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Version tags `gate.<gate>.value|limit|verdict` for every gate."""
    tags = {}
    for gate, verdict in verdicts.items():
        value = verdict["value"]
        tags[f"gate.{gate}.value"] = "n/a" if value is None else f"{value:.6g}"
        tags[f"gate.{gate}.limit"] = f"{verdict['op']} {verdict['limit']}"
        tags[f"gate.{gate}.verdict"] = verdict["verdict"]
    return tags


def promote_if_gates_pass(
    client,
    name: str,
    version: str,
    verdicts: dict[str, dict[str, Any]],
    evaluation_metrics: dict[str, Any],
    champion_alias: str,
) -> bool:
    """Move the champion alias to `version` when every gate passes; log why not otherwise."""
    source = evaluation_metrics.get("source", "generator")
    if source != "generator":
        logger.warning(
            "Champion not moved: the evaluation measured %s, not this model's samples",
            source,
        )
        return False
    if not gates_passed(verdicts):
        failed = [
            describe_gate(g, v)
            for g, v in verdicts.items()
            if v["verdict"] not in ("pass", "off")
        ]
        logger.warning(
            "Champion not moved: %s version %s failed gate(s) %s",
            name,
            version,
            "; ".join(failed),
        )
        return False
    from imagegen.registry import set_alias

    set_alias(client, name, version, champion_alias)
    logger.info("All gates passed: %s version %s is %r", name, version, champion_alias)
    return True
