"""The rights policy (`conf/base/policy.yml`): decisions, reason codes, licence verdicts.

Its schema, `Policy`, is with the other parameter schemas in
`imagegen.framework.parameters`.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError

from imagegen.framework.parameters import LicenceLists, Policy
from imagegen.framework.schema import ConfigurationError
from imagegen.rights.licences import split_expression

ACCEPTED, REJECTED, REVIEW, QUARANTINED = (
    "accepted",
    "rejected",
    "review",
    "quarantined",
)
DECISIONS = (ACCEPTED, REJECTED, REVIEW, QUARANTINED)
REASON_CODES = (
    "ok",
    "licence_denied",
    "licence_review",
    "licence_unknown",
    "licence_conflict",
    "opt_out",
    "duplicate",
    "near_duplicate",
    "privacy",
    "corrupt",
    "not_an_image",
    "too_large",
    "too_small",
)


def load_policy(raw: dict[str, Any]) -> Policy:
    """Validate the `policy` parameters; raise ValueError naming each bad key."""
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = [
            "policy." + ".".join(str(p) for p in e["loc"]) + f": {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigurationError(
            "invalid rights policy (conf/*/policy.yml): " + "; ".join(problems)
        ) from exc


_RANK = {ACCEPTED: 0, REVIEW: 1, REJECTED: 2}


def _verdict_for_id(spdx_id: str, lists: LicenceLists) -> tuple[str, str]:
    if any(fnmatchcase(spdx_id, p) for p in lists.deny):
        return REJECTED, f"licence_denied:{spdx_id}"
    if any(fnmatchcase(spdx_id, p) for p in lists.review):
        return REVIEW, f"licence_review:{spdx_id}"
    if any(fnmatchcase(spdx_id, p) for p in lists.allow):
        return ACCEPTED, "ok"
    return REVIEW, f"licence_review:{spdx_id}"


def licence_verdict(expression: str, lists: LicenceLists) -> tuple[str, str]:
    """Decision and reason for one normalised SPDX expression.

    `A OR B` takes the most permissive option; `A AND B` the most restrictive.
    """
    if not expression:
        return REVIEW, "licence_unknown"
    operator, groups = split_expression(expression)
    options = []
    for group in groups:
        verdicts = [_verdict_for_id(i, lists) for i in group]
        options.append(max(verdicts, key=lambda v: _RANK[v[0]]))
    if not options:
        return REVIEW, "licence_unknown"
    if operator == "OR":
        return min(options, key=lambda v: _RANK[v[0]])
    return max(options, key=lambda v: _RANK[v[0]])
