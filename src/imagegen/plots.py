"""Figures for reports and MLflow artifacts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files
# Labels hold creators' text: "$\\foo$" must be drawn as is, never parsed as math.
matplotlib.rcParams["text.parse_math"] = False
matplotlib.rcParams["text.usetex"] = False

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from imagegen.images import to_uint8  # noqa: E402
from imagegen.rights.metadata import plot_text  # noqa: E402


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


def curation_summary_figure(decisions):
    """Counts per decision and reason, licences and creators of the accepted works."""
    import pandas as pd

    accepted = decisions[decisions["decision"] == "accepted"]
    codes = decisions["reason"].astype(str).str.split(":", n=1).str[0]
    panels = [
        ("decisions", decisions["decision"].value_counts()),
        ("reasons", codes.value_counts()),
        (
            "licences of accepted works",
            accepted["licence"].replace("", "(none)").value_counts(),
        ),
        (
            "top creators of accepted works",
            accepted["creator"].replace("", "(unknown)").value_counts().head(12),
        ),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (title, raw_counts) in zip(np.ravel(axes), panels, strict=True):
        counts = pd.Series(raw_counts).sort_values()
        ax.barh(
            [plot_text(i, 40) for i in counts.index], counts.to_numpy(), color="#4c72b0"
        )
        for y, value in enumerate(counts.to_numpy()):
            ax.text(value, y, f" {value}", va="center", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
    figure.suptitle(f"Curation of {len(decisions)} files", fontsize=11)
    figure.tight_layout()
    return figure


def nearest_pairs_figure(pairs, title: str = ""):
    """One row per (image, nearest image, caption): two images side by side, then text."""
    rows = max(len(pairs), 1)
    figure, axes = plt.subplots(
        rows,
        3,
        figsize=(7, 1.2 * rows),
        gridspec_kw={"width_ratios": [1, 1, 5]},
        squeeze=False,
    )
    for (left, right, caption), (ax_a, ax_b, ax_text) in zip(pairs, axes, strict=False):
        for ax, image in ((ax_a, left), (ax_b, right)):
            pixels = to_uint8(image)
            if pixels.shape[-1] == 1:
                ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(pixels)
        ax_text.text(
            0,
            0.5,
            "\n".join(plot_text(line, 200) for line in caption.split("\n")),
            va="center",
            fontsize=7,
            family="monospace",
        )
    for ax in np.ravel(axes):
        ax.axis("off")
    axes[0][0].set_title("sample", fontsize=8)
    axes[0][1].set_title("nearest work", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def training_curves_figure(history: list[dict[str, float]], title: str = ""):
    """One panel per training metric over epochs (losses, scores, sample diversity)."""
    names = sorted({k for entry in history for k in entry if k != "epoch"})
    figure, axes = plt.subplots(
        len(names) or 1, 1, figsize=(6, 1.8 * max(len(names), 1)), sharex=True
    )
    for ax, name in zip(np.ravel(axes), names, strict=False):
        points = [(h["epoch"], h[name]) for h in history if name in h]
        ax.plot(*zip(*points, strict=True), marker="." if len(points) < 30 else None)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    np.ravel(axes)[-1].set_xlabel("epoch")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
