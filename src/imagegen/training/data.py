"""Input pipeline: the training array as seeded, resumable batches.

TensorFlow reads them through `tf.data` (`make_dataset`); JAX through a NumPy
generator (`numpy_batches`) with the same contract: each epoch a permutation
seeded by (seed, epoch), so any step's batch is known without replaying the
ones before it. The two backends' permutations come from different generators
(TensorFlow's stateless shuffle, NumPy's PCG64), so their orders differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np


class TrainingDataError(ValueError):
    """The training set cannot be trained on; the message says why."""


def check_training_set(
    training_set: dict[str, np.ndarray], conditional: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Images (n, s, s, c) finite in [-1, 1]; for a conditional model, labels too."""
    images = np.asarray(training_set["images"], dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise TrainingDataError(
            "the training set is empty: no accepted works reached training"
            if images.size == 0
            else f"images must be (n, side, side, channels), got {images.shape}"
        )
    if images.shape[1] != images.shape[2]:
        raise TrainingDataError(f"images must be square, got {images.shape[1:3]}")
    bad = ~np.isfinite(images).all(axis=(1, 2, 3))
    if bad.any():
        raise TrainingDataError(
            f"{int(bad.sum())} training images hold NaN or Inf (first index "
            f"{int(np.flatnonzero(bad)[0])})"
        )
    if images.min() < -1.0001 or images.max() > 1.0001:
        raise TrainingDataError(
            f"images must be scaled to [-1, 1], found [{images.min():.3g}, "
            f"{images.max():.3g}]"
        )
    if not conditional:
        return images, None, []
    labels = np.asarray(training_set.get("labels", np.array([])), dtype=np.int32)
    class_names = [str(x) for x in training_set.get("class_names", np.array([]))]
    if len(labels) != len(images) or len(class_names) < 2 or (labels < 0).any():
        missing = int((labels < 0).sum()) if len(labels) == len(images) else len(images)
        raise TrainingDataError(
            "training.model = 'cgan' needs a class label for every training work "
            "(the `label` column of the dataset's manifest.csv): "
            f"{len(class_names)} classes, {missing} works without a label"
        )
    return images, labels, class_names


def fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 of the arrays: a checkpoint only resumes on the data it was trained on."""
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray | None,
    batch_size: int,
    seed: int,
    start_step: int,
    epochs: int,
):
    """Batches from global step `start_step` to the end of epoch `epochs`.

    Each epoch's order is a stateless shuffle of the indices seeded by
    (seed, epoch), so the batch at any step is known without replaying the
    ones before it: a resumed run sees exactly the batches the interrupted one
    would have. Batches are gathered from the in-memory array (one op per
    batch, no Python per image) and prefetched.
    """
    import tensorflow as tf

    n = len(images)
    steps_per_epoch = n // batch_size
    first_epoch, offset = divmod(start_step, steps_per_epoch)
    pixels = tf.constant(images)
    classes = tf.constant(labels) if labels is not None else None

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64),
            seed=tf.stack([tf.constant(seed, tf.int64), epoch]),
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(
            batch_size, drop_remainder=True
        )

    def gather(index):
        if classes is None:
            return tf.gather(pixels, index)
        return tf.gather(pixels, index), tf.gather(classes, index)

    return (
        tf.data.Dataset.range(first_epoch, epochs)
        .flat_map(epoch_batches)
        .skip(offset)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of `n` indices used in `epoch` (NumPy's PCG64 on (seed, epoch))."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def numpy_batches(
    images: np.ndarray,
    labels: np.ndarray | None,
    batch_size: int,
    seed: int,
    start_step: int,
    epochs: int,
) -> Iterator[np.ndarray | tuple[np.ndarray, np.ndarray]]:
    """`make_dataset`'s batches as NumPy arrays (JAX): no TensorFlow needed.

    The gather is one fancy-indexing copy per batch; JAX's asynchronous
    dispatch overlaps it with the previous step on an accelerator.
    """
    n = len(images)
    steps_per_epoch = n // batch_size
    first_epoch, offset = divmod(start_step, steps_per_epoch)
    for epoch in range(first_epoch, epochs):
        order = epoch_order(n, seed, epoch)
        for step in range(offset if epoch == first_epoch else 0, steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            if labels is None:
                yield images[index]
            else:
                yield images[index], labels[index]
