"""Training nodes: fit the generative model and report how it went."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from imagegen.plots import image_grid_figure

logger = logging.getLogger(__name__)


def make_dataset(images: np.ndarray, batch_size: int, shuffle_buffer: int, seed: int):
    """tf.data pipeline: cache, shuffle with a seed, full batches, prefetch."""
    import tensorflow as tf

    batch_size = min(batch_size, len(images))
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .cache()
        .shuffle(
            min(shuffle_buffer, len(images)), seed=seed, reshuffle_each_iteration=True
        )
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def train_model(
    training_set: dict[str, np.ndarray], params: dict[str, Any]
) -> tuple[Any, dict[str, list[dict[str, float]]], Any, dict[str, Any]]:
    """Train the configured model; return generator, epoch metrics, sample grid, summary."""
    import keras
    import tensorflow as tf

    from imagegen.models.dcgan import DCGAN

    images = training_set["images"]
    if len(images) == 0:
        raise ValueError(
            "the training set is empty: no accepted works reached training"
        )
    keras.utils.set_random_seed(params["seed"])
    devices = [d.name for d in tf.config.list_logical_devices()]
    logger.info(
        "Training %s on %d images, devices: %s",
        params["model"],
        len(images),
        ", ".join(devices),
    )
    model = DCGAN(
        image_size=images.shape[1],
        channels=images.shape[-1],
        latent_dim=params["latent_dim"],
        generator_filters=params["generator_filters"],
        discriminator_filters=params["discriminator_filters"],
        seed=params["seed"],
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(
            params["learning_rate"], beta_1=params["beta_1"]
        ),
        g_optimizer=keras.optimizers.Adam(
            params["learning_rate"], beta_1=params["beta_1"]
        ),
        jit_compile=False,  # XLA measured slower on CPU (docs/training.md)
    )
    dataset = make_dataset(
        images, params["batch_size"], params["shuffle_buffer"], params["seed"]
    )
    started = time.perf_counter()
    history = model.fit(dataset, epochs=params["epochs"], verbose=2)
    seconds = time.perf_counter() - started
    steps = params["epochs"] * (len(images) // min(params["batch_size"], len(images)))
    batch = min(params["batch_size"], len(images))
    metrics = {
        name: [{"value": float(v), "step": epoch + 1} for epoch, v in enumerate(values)]
        for name, values in history.history.items()
    }
    fixed_noise = keras.random.normal(
        (params["grid_size"] ** 2, params["latent_dim"]), seed=params["seed"]
    )
    samples = keras.ops.convert_to_numpy(model.generator(fixed_noise, training=False))
    grid = image_grid_figure(
        samples,
        params["grid_size"],
        title=f"{params['model']} after {params['epochs']} epochs",
    )
    summary = {
        "model": params["model"],
        "epochs": params["epochs"],
        "steps": steps,
        "batch_size": batch,
        "n_images": int(len(images)),
        "seconds": round(seconds, 2),
        "images_per_second": round(steps * batch / seconds, 1) if seconds else None,
        "devices": devices,
        "final": {k: float(v[-1]) for k, v in history.history.items()},
    }
    finite = all(np.isfinite(v) for v in summary["final"].values())
    if not finite:
        raise FloatingPointError(f"training diverged: final losses {summary['final']}")
    return model.generator, metrics, grid, summary
