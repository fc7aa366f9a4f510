"""k-NN manifold metrics: improved precision/recall and density/coverage.

Precision and recall as in Kynkäänniemi et al. 2019 ("Improved Precision and
Recall Metric for Assessing Generative Models"), density and coverage as in
Naeem et al. 2020 ("Reliable Fidelity and Diversity Metrics for Generative
Models"). The reference implementation is the `prdc` package (a test oracle
here); this version computes the same numbers in row blocks, so 10k x 10k
samples do not need a 10k x 10k distance matrix in memory at once.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (the k-NN ball radius)."""
    if len(features) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(features)}")
    # kneighbors() without X leaves each point out: column k-1 is the k-th other.
    distances, _ = NearestNeighbors(n_neighbors=k).fit(features).kneighbors()
    return distances[:, k - 1]


def precision_recall_density_coverage(
    real_features: np.ndarray, fake_features: np.ndarray, k: int = 5
) -> dict[str, float]:
    """Precision, recall, density and coverage of fake samples against real ones.

    - precision: share of fake samples inside at least one real k-NN ball;
    - recall: share of real samples inside at least one fake k-NN ball;
    - density: mean number of real balls holding a fake sample, divided by k;
    - coverage: share of real balls holding at least one fake sample.
    """
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature shapes differ: {real.shape} vs {fake.shape}")
    real_radii = knn_radii(real, k)
    fake_radii = knn_radii(fake, k)
    fake_in_real_balls = np.zeros(len(fake), dtype=np.int64)
    real_in_fake_balls = np.zeros(len(real), dtype=bool)
    real_ball_covered = np.zeros(len(real), dtype=bool)
    start = 0
    # One block of real rows at a time: (block, n_fake) distances.
    for block in pairwise_distances_chunked(real, fake):
        stop = start + len(block)
        radii = real_radii[start:stop, None]
        fake_in_real_balls += (block < radii).sum(axis=0)
        real_in_fake_balls[start:stop] = (block < fake_radii[None, :]).any(axis=1)
        real_ball_covered[start:stop] = block.min(axis=1) < real_radii[start:stop]
        start = stop
    return {
        "precision": float((fake_in_real_balls > 0).mean()),
        "recall": float(real_in_fake_balls.mean()),
        "density": float(fake_in_real_balls.mean() / k),
        "coverage": float(real_ball_covered.mean()),
    }
