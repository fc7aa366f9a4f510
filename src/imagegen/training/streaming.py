"""Input from a sharded training set: checked and streamed a batch at a time.

Used only when preprocessing wrote shards (`datasets/shards.py`); the
in-memory path (`training/data.py`) is unchanged. The sharded set is used by
duck typing (`is_sharded`, `iter_batches`): `training` does not import
`datasets`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from imagegen.training.data import TrainingDataError


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The in-memory path's order for (seed, epoch): the same stateless shuffle."""
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int64),
        seed=tf.stack([tf.constant(seed, tf.int64), tf.constant(epoch, tf.int64)]),
    ).numpy()


def worker_position(tf_config: str | None = None) -> tuple[int, int]:
    """(this worker's index, number of workers) from TF_CONFIG; (0, 1) without it."""
    raw = tf_config if tf_config is not None else os.environ.get("TF_CONFIG", "")
    if not raw:
        return 0, 1
    config = json.loads(raw)
    workers = len(config.get("cluster", {}).get("worker", [])) or 1
    task = config.get("task", {})
    return (int(task.get("index", 0)) if task.get("type") == "worker" else 0), workers


def check_sharded_set(
    training_set: Any, conditional: bool
) -> tuple[Any, np.ndarray | None, list[str]]:
    """The checks of `check_training_set`, a block of records at a time."""
    images = training_set.images
    if len(images) == 0 or len(images.shape) != 4:
        raise TrainingDataError(
            "the training set is empty: no accepted works reached training"
        )
    if images.shape[1] != images.shape[2]:
        raise TrainingDataError(f"images must be square, got {images.shape[1:3]}")
    seen = 0
    for shard in training_set.shards:
        for block in shard.blocks(1024):
            bad = ~np.isfinite(block).all(axis=(1, 2, 3))
            if bad.any():
                raise TrainingDataError(
                    f"training images hold NaN or Inf (first index "
                    f"{seen + int(np.flatnonzero(bad)[0])})"
                )
            if block.min() < -1.0001 or block.max() > 1.0001:
                raise TrainingDataError(
                    "images must be scaled to [-1, 1], found "
                    f"[{block.min():.3g}, {block.max():.3g}]"
                )
            seen += len(block)
    if not conditional:
        return images, None, []
    labels = training_set.per_work("labels").astype(np.int32)
    class_names = list(training_set.class_names)
    if len(class_names) < 2 or (labels < 0).any():
        raise TrainingDataError(
            "training.model = 'cgan' needs a class label for every training work "
            "(the `label` column of the dataset's manifest.csv): "
            f"{len(class_names)} classes, {int((labels < 0).sum())} works without a label"
        )
    return images, labels, class_names


def make_sharded_dataset(
    training_set: Any,
    labels: np.ndarray | None,
    batch_size: int,
    seed: int,
    start_step: int,
    epochs: int,
    shuffle_buffer: int = 0,
):
    """`make_dataset`'s batches, streamed from the shards of this worker."""
    import tensorflow as tf

    worker, workers = worker_position()
    shape = tuple(training_set.images.shape[1:])

    def batches():
        yield from training_set.iter_batches(
            batch_size,
            seed,
            start_step,
            epochs,
            epoch_order,
            labels=labels,
            shuffle_buffer=shuffle_buffer,
            worker=worker,
            workers=workers,
        )

    image_spec = tf.TensorSpec((batch_size, *shape), tf.float32)
    signature = (
        image_spec
        if labels is None
        else (image_spec, tf.TensorSpec((batch_size,), tf.int32))
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    # Each worker reads its own shards: no second sharding by the strategy.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    return dataset.with_options(options).prefetch(2)
