"""Human decisions on registry aliases, recorded as version tags."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime

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
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    client.delete_registered_model_alias(name, alias)
    client.set_model_version_tag(
        name,
        version.version,
        f"decision.{alias}.{when}",
        f"demoted by {_who(by)}: {reason}",
    )
    return f"{name} version {version.version} is no longer @{alias}"
