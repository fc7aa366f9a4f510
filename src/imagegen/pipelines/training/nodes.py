"""Training nodes: fit the configured model, report how it went, show its samples."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from imagegen.framework.parameters import TrainingParams

logger = logging.getLogger(__name__)


def train_model(
    training_set: dict[str, np.ndarray], params: dict[str, Any]
) -> tuple[Any, dict[str, list[dict[str, float]]], dict[str, Any], dict[str, Any]]:
    """Train `training.model`; return its generator, epoch metrics, epoch grids, summary."""
    from PIL import Image

    from imagegen.training.loop import train

    result = train(training_set, TrainingParams.model_validate(params))
    names = sorted({k for entry in result.history for k in entry if k != "epoch"})
    metrics = {
        name: [
            {"value": entry[name], "step": entry["epoch"]}
            for entry in result.history
            if name in entry
        ]
        for name in names
    }
    grids = {
        f"epoch_{epoch:04d}": Image.fromarray(grid)
        for epoch, grid in result.grids.items()
    }
    # The EMA generator when training.ema_decay > 0: it is saved, evaluated and served.
    return result.model.sampling_generator, metrics, grids, result.summary


def plot_training_samples(
    generator, training_summary: dict[str, Any], params: dict[str, Any]
):
    """Grid of the saved generator's samples from fixed noise (a class per column)."""
    import matplotlib.pyplot as plt

    import imagegen.plots  # noqa: F401  (selects the headless backend)
    from imagegen.models import generate_images, generator_spec, latent_noise
    from imagegen.training.callbacks import tile

    latent_dim, n_classes = generator_spec(generator)
    n = params["grid_size"] ** 2
    samples = generate_images(generator, latent_noise(params["seed"], n, latent_dim))
    columns = n_classes if 0 < n_classes <= 16 else params["grid_size"]
    sheet = tile(samples, columns)
    scale = 8 / max(sheet.shape[:2])
    figure, ax = plt.subplots(
        figsize=(sheet.shape[1] * scale, sheet.shape[0] * scale + 0.3)
    )
    ax.imshow(sheet, cmap="gray" if sheet.ndim == 2 else None, vmin=0, vmax=255)
    ax.axis("off")
    title = f"{training_summary['model']} after {training_summary['epochs']} epochs"
    if n_classes:
        title += ", one class per column"
    ax.set_title(title, fontsize=8)
    figure.tight_layout()
    return figure


def plot_training_curves(training_summary: dict[str, Any]):
    """Losses, scores and sample diversity per epoch, one panel each."""
    from imagegen.plots import training_curves_figure

    return training_curves_figure(
        training_summary.get("history", []),
        f"{training_summary['model']}: metrics per epoch",
    )


def write_tensorboard_events(training_summary: dict[str, Any]) -> dict[str, bytes]:
    """The per-epoch curves as TensorBoard event files (`tensorboard --logdir`)."""
    import tempfile
    from pathlib import Path

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        writer = tf.summary.create_file_writer(folder)
        with writer.as_default():
            for entry in training_summary.get("history", []):
                for key, value in entry.items():
                    if key != "epoch" and isinstance(value, int | float):
                        tf.summary.scalar(key, float(value), step=int(entry["epoch"]))
        writer.close()
        return {path.name: path.read_bytes() for path in Path(folder).iterdir()}
