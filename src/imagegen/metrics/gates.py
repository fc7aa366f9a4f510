"""Limits on metrics, judged in one place: registration gates and monitor alerts.

Each limit key names one metric and the comparison its value must meet
(`fid_max`: fid <= limit). A null limit switches the check off.
"""

from __future__ import annotations

import math
from typing import Any

# limit key -> (metric, comparison the value must meet)
LIMITS: dict[str, tuple[str, str]] = {
    "fid_max": ("fid", "<="),
    "kid_max": ("kid", "<="),
    "ct_min": ("ct_score", ">="),
    "memorised_fraction_max": ("memorised_fraction", "<="),
    "precision_min": ("precision", ">="),
}
# The gates of parameters_registration.yml, in their order.
GATES = ("fid_max", "kid_max", "ct_min", "memorised_fraction_max")
# The comparison that breaks a limit, for messages.
BREACH = {"<=": ">", ">=": "<"}


def judge_limits(
    metrics: dict[str, Any], limits: dict[str, float | None], keys: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """One verdict per key: `pass`, `fail`, `not_measured` or `off` (null limit)."""
    verdicts = {}
    for key in keys:
        metric, op = LIMITS[key]
        limit = limits.get(key)
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


def judge_gates(
    metrics: dict[str, Any], gates: dict[str, float | None]
) -> dict[str, dict[str, Any]]:
    """One verdict per registration gate; an unmeasured metric fails its gate."""
    return judge_limits(metrics, gates, GATES)


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


def describe_breach(key: str, verdict: dict[str, Any]) -> str:
    """A failed limit for alerts: `kid 0.6123 > kid_max 0.5`."""
    return (
        f"{verdict['metric']} {verdict['value']:.4f} {BREACH[verdict['op']]} "
        f"{key} {verdict['limit']}"
    )
