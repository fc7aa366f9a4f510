"""Quality and memorisation gates: each compares one metric with one limit."""

from __future__ import annotations

import math
from typing import Any

# gate key in parameters_registration.yml -> (metric, comparison)
GATES: dict[str, tuple[str, str]] = {
    "fid_max": ("fid", "<="),
    "kid_max": ("kid", "<="),
    "ct_min": ("ct_score", ">="),
    "memorised_fraction_max": ("memorised_fraction", "<="),
}


def judge_gates(
    metrics: dict[str, Any], gates: dict[str, float | None]
) -> dict[str, dict[str, Any]]:
    """One verdict per gate: `pass`, `fail`, `not_measured` (fails) or `off` (null limit)."""
    verdicts = {}
    for key, (metric, op) in GATES.items():
        limit = gates.get(key)
        value = metrics.get(metric)
        if limit is None:
            verdict = "off"
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            verdict = "not_measured"
        elif (value <= limit) if op == "<=" else (value >= limit):
            verdict = "pass"
        else:
            verdict = "fail"
        verdicts[key] = {
            "metric": metric,
            "value": value,
            "limit": limit,
            "op": op,
            "verdict": verdict,
        }
    return verdicts


def gates_passed(verdicts: dict[str, dict[str, Any]]) -> bool:
    """True when no gate failed or went unmeasured (gates switched off do not count)."""
    return all(v["verdict"] in ("pass", "off") for v in verdicts.values())


def describe_gate(gate: str, verdict: dict[str, Any]) -> str:
    """One line for logs and tags: `fid_max: fid 12.3 <= 40: pass`."""
    value = verdict["value"]
    shown = "n/a" if value is None else f"{value:.4g}"
    return (
        f"{gate}: {verdict['metric']} {shown} {verdict['op']} "
        f"{verdict['limit']}: {verdict['verdict']}"
    )
