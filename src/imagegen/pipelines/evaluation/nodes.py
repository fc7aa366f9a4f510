"""Evaluation nodes: sample the generator, measure it against held-back works."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from imagegen.metrics.features import extract_features, train_encoder
from imagegen.metrics.frechet import frechet_distance
from imagegen.plots import image_grid_figure

logger = logging.getLogger(__name__)


def train_feature_encoder(training_set: dict[str, np.ndarray], params: dict[str, Any]):
    """Train the project's own feature encoder on the training images."""
    return train_encoder(training_set["images"], params)


def sample_generator(generator, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Draw `n_samples` images from the generator with a fixed seed."""
    import keras

    noise = keras.random.normal(
        (params["n_samples"], generator.input_shape[-1]), seed=params["seed"]
    )
    images = keras.ops.convert_to_numpy(generator.predict(noise, verbose=0))
    return {"images": images.astype(np.float32)}


def _extractor_name(encoder, dataset_digest: dict[str, Any]) -> str:
    weights = hashlib.sha256()
    for w in encoder.get_weights():
        weights.update(np.ascontiguousarray(w).tobytes())
    return (
        f"imagegen-autoencoder-{encoder.output_shape[-1]}d"
        f"@{dataset_digest['dataset_digest'][:12]}-{weights.hexdigest()[:8]}"
    )


def measure_quality(
    encoder,
    samples: dict[str, np.ndarray],
    holdout_set: dict[str, np.ndarray],
    training_set: dict[str, np.ndarray],
    dataset_digest: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Fréchet distance of samples to held-back works, with the real-vs-real floor."""
    holdout = holdout_set["images"]
    if len(holdout) < 2:
        raise ValueError("need at least two held-back works: raise holdout_percent")
    rng = np.random.default_rng(params["seed"])
    n = len(holdout)
    train_ref = training_set["images"][
        rng.choice(
            len(training_set["images"]),
            size=min(n, len(training_set["images"])),
            replace=False,
        )
    ]
    f_holdout = extract_features(encoder, holdout)
    f_samples = extract_features(encoder, samples["images"])
    f_train = extract_features(encoder, train_ref)
    report = {
        "fid": frechet_distance(f_samples, f_holdout),
        "fid_train_vs_holdout": frechet_distance(f_train, f_holdout),
        "extractor": _extractor_name(encoder, dataset_digest),
        "n_samples": int(len(f_samples)),
        "n_holdout": int(n),
        "dataset_digest": dataset_digest["dataset_digest"],
    }
    logger.info(
        "FID %.3f (real-vs-real floor %.3f) with %s",
        report["fid"],
        report["fid_train_vs_holdout"],
        report["extractor"],
    )
    metrics = {
        k: {"value": float(report[k]), "step": 0}
        for k in ("fid", "fid_train_vs_holdout")
    }
    return report, metrics


def plot_samples(samples: dict[str, np.ndarray], params: dict[str, Any]):
    """Sample grid of the evaluated images."""
    side = int(min(params["grid_size"], np.sqrt(len(samples["images"]))))
    return image_grid_figure(samples["images"], side, title="evaluation samples")
