"""Whether curation found enough usable works for the stages after it.

A run over a folder with nothing usable should stop right after curation,
with one line saying why and what to change, and overwrite nothing it does
not have to: the decisions are written (so the user sees each reason), the
training set, model, reports and registry are left as they were.
"""

from __future__ import annotations

import pandas as pd

from imagegen.holdout import split_sizes
from imagegen.rights.policy import ACCEPTED

DECISIONS_FILE = "data/08_reporting/curation_decisions.csv"


class CurationStop(RuntimeError):
    """The run cannot go on after curation; the message is one line for the user."""


class NothingToCurate(CurationStop):
    """raw_dir holds no work at all."""


class NotEnoughWorks(CurationStop):
    """Curation accepted fewer works than the following stages need."""


def nothing_to_curate_message(raw_dir: str) -> str:
    return (
        f"raw_dir {raw_dir} holds no works (no image files below it): nothing was "
        "curated and no earlier output was overwritten; put images there, with a "
        "manifest.csv (columns path,licence) naming their licences, or pass "
        "--params raw_dir=/another/folder"
    )


def supply_shortfall(
    decisions: pd.DataFrame, stages: set[str], params: dict[str, dict]
) -> str | None:
    """One line saying what is missing for `stages`, or None when enough was accepted.

    `stages` among `preprocessing` (one training work), `training` (one full
    batch, `training.batch_size`) and `evaluation` (held-back works for FID/KID,
    more than `evaluation.nearest_k` for the k-NN metrics and
    `evaluation.ct_min_cell_samples` for a C_T cell). The split is the one
    preprocessing will make, by work id.
    """
    accepted = decisions[decisions["decision"] == ACCEPTED]
    preprocessing = params.get("preprocessing") or {}
    n_train, n_held = split_sizes(accepted["work_id"].tolist(), preprocessing)
    need_train, need_held, train_keys, held_keys = 0, 0, [], []
    if "preprocessing" in stages:
        need_train = 1
    if "training" in stages:
        need_train = max(need_train, int(params["training"]["batch_size"]))
        train_keys = ["training.batch_size"]
    if "evaluation" in stages:
        evaluation = params["evaluation"]
        need_held = max(
            2, evaluation["nearest_k"] + 1, evaluation["ct_min_cell_samples"]
        )
        held_keys = ["evaluation.nearest_k", "evaluation.ct_min_cell_samples"]
    if n_train >= need_train and n_held >= need_held:
        return None
    needs = []
    if n_train < need_train:
        why = f"training.batch_size = {need_train}" if train_keys else "at least 1"
        needs.append(f"{need_train} training works ({why})")
    if n_held < need_held:
        evaluation = params["evaluation"]
        needs.append(
            f"{need_held} held back (the most of 2, evaluation.nearest_k + 1 = "
            f"{evaluation['nearest_k'] + 1} and evaluation.ct_min_cell_samples = "
            f"{evaluation['ct_min_cell_samples']})"
        )
    rest = decisions[decisions["decision"] != ACCEPTED]
    codes = rest["reason"].str.split(":", n=1).str[0].value_counts()
    top = ", ".join(f"{code} {count}" for code, count in codes.head(3).items())
    advice = "add licensed works"
    if "licence_unknown" in codes.index:
        advice += (
            " (a manifest.csv at the top of raw_dir with columns path,licence, or "
            "licences in the works' own metadata)"
        )
    keys = train_keys + ["preprocessing.holdout_percent"] + held_keys
    return (
        f"not enough works to go on: curation accepted {len(accepted)} of "
        f"{len(decisions)} files ({n_train} for training, {n_held} held back at "
        f"preprocessing.holdout_percent={preprocessing.get('holdout_percent', 0)}); "
        f"this run needs {' and '.join(needs)}. "
        f"Not accepted: {top or 'none'}. To go on, {advice}, or change "
        f"{', '.join(keys)}. Each file's reason: {DECISIONS_FILE}"
    )
