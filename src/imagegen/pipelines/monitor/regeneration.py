"""What deployed generators produced since the last check, reproduced for measurement.

The generation ledger holds no pixels, only what made each image: model run,
seed, index, label and sampling parameters. Generation is deterministic, so
the monitor regenerates each recorded image from its version and checks the
reproduction against the recorded perceptual hash before measuring it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from imagegen.images import to_uint8
from imagegen.provenance.audit import version_of_run
from imagegen.provenance.phash import hamming, phash_batch

GROUP_KEYS = ["run_id", "seed", "label", "truncation", "temperature"]


def read_generations(ledger: Path, after_seq: int) -> pd.DataFrame:
    """Generation entries with `seq` > after_seq, one row per image."""
    if not ledger.exists():
        return pd.DataFrame()
    rows = []
    with open(ledger, "rb") as fh:
        for line in fh:
            entry = json.loads(line)
            if entry.get("kind") == "generation" and entry["seq"] > after_seq:
                rows.append(entry)
    frame = pd.DataFrame(rows)
    for key in [*GROUP_KEYS, "index", "model_name", "model_version", "phash"]:
        if key not in frame.columns:
            frame[key] = None
    return frame


def resolve_versions(client, generations: pd.DataFrame) -> pd.DataFrame:
    """Fill `model_version` from the registry where only the run id was recorded."""
    frame = generations.copy()
    cache: dict[tuple[str, str], str | None] = {}
    for row in frame.itertuples():
        if isinstance(row.model_version, str) and row.model_version:
            continue
        key = (row.model_name, row.run_id)
        if key not in cache:
            found = version_of_run(client, row.model_name, row.run_id)
            cache[key] = str(found.version) if found else None
        frame.at[row.Index, "model_version"] = cache[key]
    return frame


def regenerate(python_model, rows: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Images of `rows` (one model version) in [-1, 1], and how many reproduced
    with a different pHash than recorded (should be 0)."""
    images, mismatches = [], 0
    keys = [k for k in GROUP_KEYS if k != "run_id"]
    for _, group in rows.groupby(keys, dropna=False, sort=False):
        first = group.iloc[0]
        request = {
            "seed": int(first["seed"]),
            "n": int(group["index"].max()) + 1,
            "label": None if pd.isna(first["label"]) else int(first["label"]),
            "truncation": None
            if pd.isna(first["truncation"])
            else float(first["truncation"]),
            "temperature": 1.0
            if pd.isna(first["temperature"])
            else float(first["temperature"]),
        }
        batch = python_model.images_for(request)
        chosen = batch[group["index"].astype(int).to_numpy()]
        # Measure exactly what was handed out: the PNG's pixels (NaN as black).
        pixels = to_uint8(chosen.astype(np.float32))
        reproduced = phash_batch(
            [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]
        )
        mismatches += sum(
            hamming(a, b) > 4 for a, b in zip(reproduced, group["phash"], strict=True)
        )
        images.append(pixels.astype(np.float32) / 127.5 - 1.0)
    return np.concatenate(images), mismatches


def summarise(generations: pd.DataFrame) -> dict[str, int]:
    """Images per model version."""
    if generations.empty:
        return {}
    counts = generations.groupby(["model_name", "model_version"], dropna=False).size()
    return {f"{name}/{version}": int(n) for (name, version), n in counts.items()}
