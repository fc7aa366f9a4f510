"""Features of samples and works, and the quality numbers measured on them.

Shared by the evaluation pipeline and the monitor, so a deployed version is
measured exactly as it was evaluated.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from imagegen.metrics.features import make_extractor
from imagegen.metrics.frechet import frechet_distance
from imagegen.metrics.kernel import kernel_inception_distance
from imagegen.metrics.manifold import precision_recall_density_coverage

logger = logging.getLogger(__name__)


def embed_images(
    feature_encoder,
    samples: dict[str, np.ndarray],
    training_set: dict[str, np.ndarray],
    holdout_set: dict[str, np.ndarray],
    dataset_digest: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Features of the samples, the training works and the held-back works."""
    extractor = make_extractor(
        feature_encoder, dataset_digest["dataset_digest"], params
    )
    logger.info("Feature extractor: %s", extractor.name)
    return {
        "samples": extractor(samples["images"]),
        "training": extractor(training_set["images"]),
        "holdout": extractor(holdout_set["images"]),
        "extractor": np.array(extractor.name),
    }


def measure_quality(
    features: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, Any]:
    """FID, KID, precision/recall and density/coverage of samples against held-back works.

    The `*_train_vs_holdout` numbers measure training works against held-back
    works with the same extractor and sample size: the floor a generator
    that matched the data distribution would reach.
    """
    samples, holdout, training = (
        features["samples"],
        features["holdout"],
        features["training"],
    )
    if len(holdout) < 2:
        raise ValueError("need at least two held-back works: raise holdout_percent")
    rng = np.random.default_rng(params["seed"])
    train_ref = training[
        rng.choice(len(training), size=min(len(holdout), len(training)), replace=False)
    ]
    kid_args = {
        "n_subsets": params["kid_subsets"],
        "subset_size": params["kid_subset_size"],
        "seed": params["seed"],
    }
    kid, kid_std = kernel_inception_distance(samples, holdout, **kid_args)
    kid_floor, _ = kernel_inception_distance(train_ref, holdout, **kid_args)
    quality = {
        "fid": frechet_distance(samples, holdout),
        "fid_train_vs_holdout": frechet_distance(train_ref, holdout),
        "kid": kid,
        "kid_std": kid_std,
        "kid_train_vs_holdout": kid_floor,
        **precision_recall_density_coverage(holdout, samples, params["nearest_k"]),
        "nearest_k": params["nearest_k"],
    }
    logger.info(
        "FID %.3f (real-vs-real floor %.3f), KID %.4f ± %.4f, precision %.3f, "
        "recall %.3f, density %.3f, coverage %.3f",
        *(
            quality[k]
            for k in (
                "fid",
                "fid_train_vs_holdout",
                "kid",
                "kid_std",
                "precision",
                "recall",
                "density",
                "coverage",
            )
        ),
    )
    return quality
