"""Drawing images from a saved generator: the same noise everywhere.

Training grids, evaluation, serving and monitoring all draw noise here, so a
seed means the same images wherever it is used. The functions need NumPy only
(the generator is called, not built, here).
"""

from __future__ import annotations

import numpy as np

MAX_TRUNCATION_REDRAWS = 100


def latent_noise(
    seed: int,
    n: int,
    latent_dim: int,
    truncation: float | None = None,
    temperature: float = 1.0,
) -> np.ndarray:
    """Noise for `n` images from `seed`: NumPy's PCG64, the same on every backend.

    Truncation redraws values with |z| > truncation (the "truncation trick");
    temperature scales the result.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, latent_dim))
    if truncation is not None:
        for _ in range(MAX_TRUNCATION_REDRAWS):
            outside = np.abs(noise) > truncation
            if not outside.any():
                break
            noise[outside] = rng.standard_normal(int(outside.sum()))
        noise = np.clip(noise, -truncation, truncation)
    return (noise * temperature).astype(np.float32)


def generator_spec(generator) -> tuple[int, int]:
    """(latent_dim, n_classes) of a saved generator; n_classes is 0 when unconditional.

    Unconditional generators take one input, noise (latent_dim,); the
    class-conditional one (`cgan`) takes [noise, label] and embeds the label
    in its `label_embedding` layer.
    """
    inputs = list(generator.inputs)
    if len(inputs) == 1:
        return int(inputs[0].shape[-1]), 0
    return int(inputs[0].shape[-1]), int(
        generator.get_layer("label_embedding").input_dim
    )


def generate_images(
    generator, noise: np.ndarray, labels=None, batch_size: int = 256
) -> np.ndarray:
    """Images in [-1, 1], in batches; a conditional generator gets labels (cycled when None)."""
    _, n_classes = generator_spec(generator)
    if n_classes:
        if labels is None:
            labels = np.arange(len(noise)) % n_classes
        labels = np.asarray(labels, dtype=np.int32).reshape(len(noise))
    batches = []
    for start in range(0, len(noise), batch_size):
        chunk = noise[start : start + batch_size]
        inputs = chunk if not n_classes else [chunk, labels[start : start + batch_size]]
        batches.append(np.asarray(generator(inputs, training=False)))
    return np.concatenate(batches) if batches else np.zeros((0,), np.float32)
