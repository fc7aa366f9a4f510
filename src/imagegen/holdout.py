"""Which works are held back from training: one rule, by work id.

Preprocessing splits by it (`split_holdout`); curation's supply check uses it
to know the split's sizes before preprocessing runs.
"""

from __future__ import annotations

from typing import Any


def holdout_bucket(work_id: str) -> int:
    """0-99; a work is held back when its bucket is under `holdout_percent`."""
    # From the content hash, so a work stays on its side whatever else changes.
    return int(work_id[:8], 16) % 100


def split_sizes(work_ids: list[str], params: dict[str, Any]) -> tuple[int, int]:
    """How many works `split_holdout` puts on each side (training, held back)."""
    held = sum(holdout_bucket(w) < params.get("holdout_percent", 0) for w in work_ids)
    training = len(work_ids) - held
    if limit := params.get("max_works"):
        training = min(training, limit)
        held = min(held, max(1, limit * params["holdout_percent"] // 100))
    return training, held
