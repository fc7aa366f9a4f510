"""Figures for reports and MLflow artifacts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from imagegen.images import to_uint8  # noqa: E402


def image_grid_figure(images: np.ndarray, grid_size: int, title: str = ""):
    """A grid_size x grid_size sheet of images in [-1, 1]."""
    pixels = to_uint8(images[: grid_size * grid_size])
    figure, axes = plt.subplots(grid_size, grid_size, figsize=(grid_size, grid_size))
    for ax, image in zip(np.ravel(axes), pixels, strict=False):
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
    for ax in np.ravel(axes):
        ax.axis("off")
    if title:
        figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    return figure
