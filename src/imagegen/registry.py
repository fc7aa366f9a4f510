"""Registry operations: logging a generator as a pyfunc version, and human
decisions on aliases, recorded as version tags.

A version is created with all its tags in one call and an alias only ever
points at a version that carries its lineage tags (`LINEAGE_TAGS`), so a
process killed at any step leaves no alias on an incomplete version.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import shutil
import signal
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagegen.provenance.audit import AuditError

# Tags without which a version's lineage cannot be audited: no alias without them.
LINEAGE_TAGS = ("dataset_digest", "run_id", "lineage_head", "audit")
# Tags with the digests of the files a version loads (`file_digests`).
DIGEST_TAG_PREFIX = "digest."
# Test-only: SIGKILL this process at the named registration step (`fault_point`).
KILL_AT_ENV = "IMAGEGEN_TEST_KILL_AT"


def fault_point(step: str) -> None:
    """Kill this process at `step` when `$IMAGEGEN_TEST_KILL_AT` names it (tests only)."""
    if os.environ.get(KILL_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def missing_lineage_tags(tags: dict[str, str] | None) -> list[str]:
    """The `LINEAGE_TAGS` a version lacks (an empty value counts as missing)."""
    tags = tags or {}
    return [t for t in LINEAGE_TAGS if not tags.get(t)]


def set_alias(client, name: str, version: str, alias: str) -> None:
    """Point `alias` at `version`, refusing a version without its lineage tags."""
    tags = client.get_model_version(name, version).tags
    missing = missing_lineage_tags(tags)
    if missing:
        raise AuditError(
            f"{name} version {version} lacks lineage tag(s) {', '.join(missing)}: "
            f"refusing alias @{alias} (an incomplete registration)"
        )
    client.set_registered_model_alias(name, alias, version)


def incomplete_versions(client) -> list[tuple[str, str, list[str]]]:
    """(name, version, missing tags) of every registry version without its lineage tags."""
    found = []
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            missing = missing_lineage_tags(version.tags)
            if missing:
                found.append((model.name, str(version.version), missing))
    return sorted(found, key=lambda f: (f[0], int(f[1])))


def create_version(
    client,
    name: str,
    source: str,
    run_id: str,
    tags: dict[str, str],
    model_id: str | None = None,
) -> str:
    """Create a version of `name` with all its `tags` in one registry call."""
    try:
        client.get_registered_model(name)
    except Exception:  # noqa: BLE001 - MLflow raises its own type for a missing model
        try:
            client.create_registered_model(name)
        except Exception:  # noqa: BLE001 - created meanwhile by another writer
            client.get_registered_model(name)
    version = client.create_model_version(
        name, source, run_id=run_id, tags=tags, model_id=model_id
    )
    return str(version.version)


def file_digests(model_dir: Path) -> dict[str, str]:
    """Version tags `digest.MLmodel`, `digest.python_model.pkl`, `digest.code`,
    `digest.artifacts`: SHA-256 of each file, of each folder's sorted
    (path, file digest) list."""

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def tree(folder: Path) -> str:
        lines = sorted(
            f"{p.relative_to(folder).as_posix()} {sha(p)}\n"
            for p in folder.rglob("*")
            if p.is_file()
        )
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    digests = {}
    for name in ("MLmodel", "python_model.pkl"):
        if (model_dir / name).is_file():
            digests[DIGEST_TAG_PREFIX + name] = sha(model_dir / name)
    for name in ("code", "artifacts"):
        if (model_dir / name).is_dir():
            digests[DIGEST_TAG_PREFIX + name] = tree(model_dir / name)
    return digests


def load_verified_model(client, name: str, version: str):
    """Load a version's pyfunc model after checking its files against its digest tags.

    The files are downloaded and checked first and the checked copy is loaded,
    so nothing is unpickled (nor its `code/` imported) unless it is what
    registration wrote.
    """
    import mlflow

    tags = client.get_model_version(name, version).tags or {}
    expected = {k: v for k, v in tags.items() if k.startswith(DIGEST_TAG_PREFIX)}
    if not expected:
        raise AuditError(
            f"{name} version {version} has no file digest tags: refusing to load it "
            "(register it again with this version of imagegen)"
        )
    local = Path(tempfile.mkdtemp(prefix="imagegen-model-"))
    path = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/{name}/{version}", dst_path=str(local)
        )
    )
    actual = file_digests(path)
    changed = sorted(
        k.removeprefix(DIGEST_TAG_PREFIX)
        for k in set(expected) | set(actual)
        if expected.get(k) != actual.get(k)
    )
    if changed:
        shutil.rmtree(local, ignore_errors=True)
        raise AuditError(
            f"{name} version {version}: {', '.join(changed)} differ from what "
            "registration recorded; refusing to load it"
        )
    return mlflow.pyfunc.load_model(str(path))


def dataset_name(raw_dir: str) -> str:
    """The dataset part of a registered name: the raw folder's last path component.

    `data/01_raw/digits` -> `digits`, `s3://bucket/art/` -> `art`; characters
    other than letters, digits, `.`, `_` and `-` become `_`.
    """
    last = str(raw_dir).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^a-z0-9._-]+", "_", last.lower()).strip("._-")
    return slug or "data"


def registered_name(params: dict[str, Any], model: str, raw_dir: str) -> str:
    """The registry name of a training run's model: `registration.model_name` when
    set, else `<model_name_prefix><dataset>-<model>` (e.g. `imagegen-digits-dcgan`),
    so that a run on another folder never moves another dataset's aliases."""
    explicit = params.get("model_name")
    if explicit:
        return str(explicit)
    return f"{params['model_name_prefix']}{dataset_name(raw_dir)}-{model}"


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
    set_alias(client, name, version, alias)
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


@contextlib.contextmanager
def _generation_ledger_off():
    """Record nothing in the generation ledger (`IMAGEGEN_GENERATION_LEDGER=off`)."""
    from imagegen.provenance.generation_ledger import ENV

    before = os.environ.get(ENV)
    os.environ[ENV] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


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
    tags: dict[str, str] | None = None,
) -> str:
    """Log `generator` in the active run and register it as a version of `name`.

    The version is created with `tags` and the file digests in one call.
    Returns the new version.
    """
    from mlflow import MlflowClient

    logged = log_generator_model(
        generator, name, run_id, dataset_digest, max_n, extra_config
    )
    return create_version(
        MlflowClient(),
        name,
        logged["model_uri"],
        run_id,
        {**(tags or {}), **logged["digests"]},
        model_id=logged["model_id"],
    )


# Also while MLflow checks the input example by serving it: nobody gets that image.
@_generation_ledger_off()
def log_generator_model(
    generator,
    name: str,
    run_id: str,
    dataset_digest: str,
    max_n: int,
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Log `generator` in the active run as a pyfunc model, not yet registered.

    Returns its `model_uri`, `model_id` and the `digest.*` tags of its files.
    The model carries the imagegen package (code_paths, without caches), a
    signature with the optional request columns, and explicit pip requirements.
    """
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature

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
        # Outputs only: the model checks its own input (serving.py); MLflow's
        # schema enforcement would cast 1.5 to 1 and drop unknown columns.
        signature = ModelSignature(
            outputs=infer_signature(example_in, example_out).outputs
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
        )
        # Digests of what the store holds, read back: the loaders check these.
        stored = mlflow.artifacts.download_artifacts(
            info.model_uri, dst_path=str(Path(tmp) / "stored")
        )
        digests = file_digests(Path(stored))
    return {"model_uri": info.model_uri, "model_id": info.model_id, "digests": digests}
