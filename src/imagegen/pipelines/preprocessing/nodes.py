"""Preprocessing nodes: accepted works -> model-ready arrays, manifest and digest."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from imagegen.datasets.raw_folder import RawFolder
from imagegen.holdout import holdout_bucket
from imagegen.images import open_image, to_model_input, to_model_range
from imagegen.rights.policy import load_policy

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "work_id",
    "path",
    "title",
    "creator",
    "licence",
    "source_url",
    "label",
    "derived_sha256",
]


def split_holdout(
    accepted_works: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split accepted works into training and held-back sets by work-id hash."""
    works = accepted_works.sort_values("work_id").reset_index(drop=True)
    held = works["work_id"].map(holdout_bucket) < params["holdout_percent"]
    training, holdout = works[~held], works[held]
    limit = params.get("max_works")
    if limit:
        training = training.head(limit)
        holdout = holdout.head(max(1, limit * params["holdout_percent"] // 100))
    logger.info(
        "Split %d works: %d training, %d held back",
        len(works),
        len(training),
        len(holdout),
    )
    return training.reset_index(drop=True), holdout.reset_index(drop=True)


def work_labels(works: pd.DataFrame, class_from: str) -> list[str]:
    """Each work's class: the manifest's `label`, or with "folder" its top-level folder.

    With "folder" a manifest label still wins; works at the top of the raw
    folder have no class ("").
    """
    labels = (
        works["label"].fillna("").astype(str).tolist()
        if "label" in works
        else [""] * len(works)
    )
    if class_from == "folder":
        folders = [p.split("/", 1)[0] if "/" in p else "" for p in works["path"]]
        labels = [
            label or folder for label, folder in zip(labels, folders, strict=True)
        ]
    return labels


def build_image_set(
    works: pd.DataFrame, raw_folder: RawFolder, params: dict[str, Any], policy: dict
) -> dict[str, np.ndarray]:
    """Decode, composite, resize and scale works to [-1, 1]; pixels only, no metadata."""
    rules = load_policy(policy)
    size, channels = params["image_size"], params["channels"]
    images = np.empty((len(works), size, size, channels), dtype=np.uint8)
    for index, rel in enumerate(works["path"]):
        # The file passed curation; a failure now means raw_dir changed since.
        real = raw_folder.resolve(rel)
        with open_image(real, rules.max_pixels, rules.svg_render_side) as image:
            images[index] = to_model_input(image, size, channels)
    labels = work_labels(works, params.get("class_from", "manifest"))
    class_names = sorted({x for x in labels if x})
    label_ids = np.array(
        [class_names.index(x) if x else -1 for x in labels] or [-1] * len(works),
        dtype=np.int32,
    )
    return {
        "images": to_model_range(images),
        "pixels_sha256": np.array(
            [hashlib.sha256(img.tobytes()).hexdigest() for img in images], dtype="U64"
        ),
        "work_ids": works["work_id"].to_numpy(dtype="U64"),
        "labels": label_ids,
        "class_names": np.array(class_names, dtype=str),
    }


def build_training_manifest(
    training_works: pd.DataFrame, training_set: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per training work: id, creator, licence and the digest of its pixels."""
    manifest = training_works.copy()
    digests = dict(
        zip(training_set["work_ids"], training_set["pixels_sha256"], strict=True)
    )
    manifest["derived_sha256"] = manifest["work_id"].map(digests)
    if manifest["derived_sha256"].isna().any():
        raise ValueError("training manifest and training set disagree on work ids")
    columns = MANIFEST_COLUMNS
    if getattr(training_set, "is_sharded", False):
        # The dataset digest (over this table) then covers each shard's digest.
        shards = training_set.shard_of_works()
        manifest["shard"] = manifest["work_id"].map(lambda w: shards[w][0])
        manifest["shard_sha256"] = manifest["work_id"].map(lambda w: shards[w][1])
        columns = [*MANIFEST_COLUMNS, "shard", "shard_sha256"]
    return manifest[columns].sort_values("work_id").reset_index(drop=True)


def compute_dataset_digest(training_manifest: pd.DataFrame) -> dict[str, Any]:
    """SHA-256 over the sorted training manifest, plus the licence summary."""
    canonical = (
        training_manifest.sort_values("work_id")
        .to_csv(index=False, lineterminator="\n")
        .encode("utf-8")
    )
    licences = training_manifest["licence"].value_counts().sort_index()
    return {
        "dataset_digest": hashlib.sha256(canonical).hexdigest(),
        "n_works": int(len(training_manifest)),
        "n_creators": int(training_manifest["creator"].nunique()),
        "licence_summary": {str(k): int(v) for k, v in licences.items()},
    }
