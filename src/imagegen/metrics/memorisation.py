"""Nearest-training-work audit of generated samples (memorisation).

For each sample: its nearest training image in pixel space (root-mean-square
difference of images in [-1, 1]) and in the extractor's feature space, and the
SSIM (scikit-image) between the sample and its pixel-nearest training image.
A sample counts as memorised when its nearest distance (in the chosen space)
is at or under a threshold calibrated on held-back real images: the
`quantile` of the distances from each held-back image to its nearest training
image. A generator that does not copy lands near `quantile`; one that copies
lands near 1.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from skimage.metrics import structural_similarity
from sklearn.neighbors import NearestNeighbors

Space = Literal["pixel", "feature"]


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32).reshape(len(images), -1)


def nearest_training(
    queries: np.ndarray, training: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of the nearest training row for each query row."""
    index = NearestNeighbors(n_neighbors=1).fit(training)
    distances, indices = index.kneighbors(queries)
    return distances[:, 0], indices[:, 0]


def nearest_training_pixels(
    images: np.ndarray, training_images: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest training image by root-mean-square pixel difference."""
    distances, indices = nearest_training(_flat(images), _flat(training_images))
    return distances / np.sqrt(_flat(images[:1]).shape[1]), indices


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (h, w, c) images in [-1, 1]; NaN for images under 3 pixels a side."""
    side = min(a.shape[0], a.shape[1])
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        return float("nan")
    if a.shape[-1] == 1:
        a, b, channel_axis = a[..., 0], b[..., 0], None
    else:
        channel_axis = -1
    return float(
        structural_similarity(
            a, b, data_range=2.0, win_size=window, channel_axis=channel_axis
        )
    )


def audit_nearest_works(
    samples: np.ndarray,
    training_images: np.ndarray,
    holdout_images: np.ndarray,
    sample_features: np.ndarray,
    training_features: np.ndarray,
    holdout_features: np.ndarray,
    quantile: float = 0.05,
    space: Space = "pixel",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-sample nearest training work and the memorised fraction.

    Returns a table (one row per sample, closest first) and a summary with the
    thresholds of both spaces and the memorised fraction of each.
    """
    if len(holdout_images) < 1:
        raise ValueError("the memorisation threshold needs held-back images")
    pixel_d, pixel_i = nearest_training_pixels(samples, training_images)
    feature_d, feature_i = nearest_training(sample_features, training_features)
    holdout_pixel_d, _ = nearest_training_pixels(holdout_images, training_images)
    holdout_feature_d, _ = nearest_training(holdout_features, training_features)
    thresholds = {
        "pixel": float(np.quantile(holdout_pixel_d, quantile)),
        "feature": float(np.quantile(holdout_feature_d, quantile)),
    }
    flags = {
        "pixel": pixel_d <= thresholds["pixel"],
        "feature": feature_d <= thresholds["feature"],
    }
    table = pd.DataFrame(
        {
            "sample": np.arange(len(samples)),
            "pixel_nearest": pixel_i,
            "pixel_distance": pixel_d,
            "ssim": [
                ssim(s, training_images[i])
                for s, i in zip(samples, pixel_i, strict=True)
            ],
            "feature_nearest": feature_i,
            "feature_distance": feature_d,
            "memorised": flags[space],
        }
    )
    order = "pixel_distance" if space == "pixel" else "feature_distance"
    table = table.sort_values(order, kind="stable").reset_index(drop=True)
    summary = {
        "memorised_fraction": float(flags[space].mean()),
        "space": space,
        "quantile": quantile,
        "threshold_pixel": thresholds["pixel"],
        "threshold_feature": thresholds["feature"],
        "memorised_fraction_pixel": float(flags["pixel"].mean()),
        "memorised_fraction_feature": float(flags["feature"].mean()),
        "median_nearest_pixel_distance": float(np.median(pixel_d)),
        "median_holdout_nearest_pixel_distance": float(np.median(holdout_pixel_d)),
        "median_ssim": float(np.nanmedian(table["ssim"])),
        "n_samples": len(samples),
        "n_holdout": len(holdout_images),
    }
    return table, summary
