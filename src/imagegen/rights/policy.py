"""The rights policy (`conf/base/policy.yml`): validated model and licence verdicts."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


COLOUR_DEFAULT = 50.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LicenceLists(_Strict):
    """SPDX id patterns (shell-style, case-sensitive); deny wins, then review."""

    allow: list[str]
    review: list[str]
    deny: list[str]


class DuplicatePolicy(_Strict):
    perceptual: bool = True
    hash_size: int = Field(default=16, ge=4, le=32)
    max_distance: int = Field(default=8, ge=0)
    # Works whose smaller side is under this get no perceptual hash: a 64-bit
    # DCT hash of an 8x8 image is little more than the image itself.
    min_side: int = Field(default=32, ge=1)
    # A perceptual match counts only when the 4x4 grid colours agree too:
    # largest RGB distance of a cell (0-441); null compares grey levels only.
    max_colour_distance: float | None = Field(default=COLOUR_DEFAULT, ge=0)


class FacePolicy(_Strict):
    detect: bool = True
    decision: Literal["review", "rejected"] = "review"
    detect_size: int = Field(default=128, ge=32, le=1024)
    min_face_px: int = Field(default=24, ge=8)
    scale_factor: float = Field(default=1.25, gt=1.0, le=2.0)
    step_ratio: float = Field(default=1.5, ge=1.0, le=4.0)


class Policy(_Strict):
    licences: LicenceLists
    max_pixels: int = Field(gt=0)
    min_side: int = Field(ge=1)
    max_file_bytes: int = Field(gt=0)
    max_metadata_bytes: int = Field(default=1 << 20, ge=1024)
    # Longest side of an SVG/SVGZ work's render, px (a vector has no size of its own).
    svg_render_side: int = Field(default=256, ge=16, le=4096)
    duplicates: DuplicatePolicy = DuplicatePolicy()
    faces: FacePolicy = FacePolicy()


def load_policy(raw: dict[str, Any]) -> Policy:
    """Validate the `policy` parameters; raise ValueError naming each bad key."""
    from imagegen.config import ConfigurationError

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
