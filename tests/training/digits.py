"""Real small data for training tests: scikit-learn's digits at 28x28 in [-1, 1]."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from imagegen.images import to_model_range


@functools.cache
def _digits(size: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(p).resize((size, size), Image.Resampling.LANCZOS)
            )
            for p in pixels
        ]
    )[..., None]
    return to_model_range(resized), digits.target.astype(np.int32)


def digits_training_set(n: int = 256, size: int = 28) -> dict[str, np.ndarray]:
    """The first `n` digits as `training_set.npz` holds them (images, labels, names)."""
    images, labels = _digits(size)
    return {
        "images": images[:n].copy(),
        "labels": labels[:n].copy(),
        "class_names": np.array([str(i) for i in range(10)]),
    }
