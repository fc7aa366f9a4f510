"""Registry operations: logging a generator as a pyfunc version, and human
decisions on aliases, recorded as version tags."""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagegen.provenance.audit import AuditError


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def promote(
    client, name: str, version: str, alias: str, reason: str, by: str | None = None
) -> str:
    """Point `alias` at `version`; tag the version with who, when and why."""
    if not reason.strip():
        raise ValueError("a promotion needs a reason (--reason)")
    try:
        client.get_model_version(name, version)
    except Exception as exc:  # noqa: BLE001
        raise AuditError(f"{name} version {version} is not in the registry") from exc
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(
        name, version, f"decision.{alias}.{when}", f"promoted by {_who(by)}: {reason}"
    )
    return f"{name} version {version} is now @{alias}"


def demote(client, name: str, alias: str, reason: str, by: str | None = None) -> str:
    """Remove `alias` from the version holding it; tag that version with who and why."""
    if not reason.strip():
        raise ValueError("a demotion needs a reason (--reason)")
    try:
        version = client.get_model_version_by_alias(name, alias)
    except Exception as exc:  # noqa: BLE001
        raise AuditError(f"{name} has no version with alias @{alias}") from exc
    _remove_alias(client, name, str(version.version), alias, reason, by)
    return f"{name} version {version.version} is no longer @{alias}"


def _remove_alias(
    client, name: str, version: str, alias: str, reason: str, by: str | None
) -> None:
    """Delete `alias` and record the decision on `version` (tag `decision.<alias>.<when>`)."""
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    client.delete_registered_model_alias(name, alias)
    client.set_model_version_tag(
        name, version, f"decision.{alias}.{when}", f"demoted by {_who(by)}: {reason}"
    )


def take_down(
    client,
    work_id: str,
    reason: str,
    raw_dir: Path,
    ledger_path: Path,
    root: Path,
    by: str | None = None,
) -> dict[str, Any]:
    """Withdraw a work after training: list it for curation, record it in the
    ledger, tag every version that trained on it and take their aliases away.

    The versions keep their lineage and stay auditable; the next `train`
    leaves the work out (curation reads `takedown.txt`).
    """
    from imagegen.provenance.audit import TAKEDOWN_TAG
    from imagegen.provenance.takedown import (
        append_to_takedown_list,
        find_versions,
        one_line_reason,
        parse_work_id,
        record_in_ledger,
        require_trained_or_seen,
    )

    work_id, reason, who = parse_work_id(work_id), one_line_reason(reason), _who(by)
    where = find_versions(client, work_id)
    require_trained_or_seen(work_id, where)
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = append_to_takedown_list(
        Path(raw_dir), work_id, f"{work_id}  # {when} by {who}: {reason}\n"
    )
    entry = record_in_ledger(
        ledger_path, root, work_id, reason, who, listed, where.trained
    )
    withdrawn: dict[str, list[str]] = {}
    for name, version in where.trained:
        client.set_model_version_tag(
            name, version, f"{TAKEDOWN_TAG}{work_id}", f"{when} by {who}: {reason}"
        )
        aliases = client.get_registered_model(name).aliases or {}
        held = sorted(a for a, v in aliases.items() if str(v) == str(version))
        for alias in held:
            _remove_alias(
                client,
                name,
                version,
                alias,
                f"takedown of work {work_id}: {reason}",
                who,
            )
        withdrawn[f"{name}/{version}"] = held
    return {
        "work_id": work_id,
        "reason": reason,
        "takedown_list": str(listed),
        "ledger_seq": entry["seq"],
        "versions": withdrawn,
        "seen_not_trained": [f"{n}/{v}" for n, v in where.seen],
    }


def _pip_requirements() -> list[str]:
    # Explicit requirements: inferring them re-imports TensorFlow in a
    # subprocess (about 6 s per model). A GPU host swaps tensorflow-cpu for
    # tensorflow (same modules).
    from importlib.metadata import version

    packages = ["mlflow", "tensorflow-cpu", "keras", "numpy", "pandas", "pillow"]
    packages.append("c2pa-python")  # served images are C2PA-signed when configured
    return [f"{p}=={version(p)}" for p in packages]


def log_generator(
    generator,
    name: str,
    run_id: str,
    dataset_digest: str,
    max_n: int,
    extra_config: dict[str, Any] | None = None,
) -> str:
    """Log `generator` in the active run as a pyfunc model registered as `name`.

    Returns the new version. The model carries the imagegen package (code_paths,
    without caches), a signature with the optional request columns, and
    explicit pip requirements.
    """
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    import imagegen
    from imagegen.serving import GeneratorModel

    config = {
        "model_name": name,
        "run_id": run_id,
        "dataset_digest": dataset_digest,
        "max_n": max_n,
        **(extra_config or {}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "generator.keras"
        code = Path(tmp) / "imagegen"
        shutil.copytree(
            Path(imagegen.__file__).parent,
            code,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        generator.save(keras_path)
        wrapper = GeneratorModel()
        wrapper.generator = generator
        wrapper.configure({**config, "record": False})  # the example is not handed out
        example_in = pd.DataFrame({"seed": [0], "n": [1]})
        if wrapper.conditional:
            example_in["label"] = [0]
        example_out = wrapper.predict(None, example_in)
        inputs = Schema(
            [
                ColSpec("long", "seed"),
                ColSpec("long", "n"),
                ColSpec("long", "label", required=wrapper.conditional),
                ColSpec("double", "truncation", required=False),
                ColSpec("double", "temperature", required=False),
            ]
        )
        signature = ModelSignature(
            inputs=inputs, outputs=infer_signature(example_in, example_out).outputs
        )
        info = mlflow.pyfunc.log_model(
            name="generator",
            python_model=GeneratorModel(),
            artifacts={"generator": str(keras_path)},
            code_paths=[str(code)],
            signature=signature,
            input_example=example_in,
            pip_requirements=_pip_requirements(),
            model_config=config,
            registered_model_name=name,
        )
    return str(info.registered_model_version)
