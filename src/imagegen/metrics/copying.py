"""The data-copying test C_T of Meehan, Chaudhuri and Dasgupta (AISTATS 2020).

"A Non-Parametric Test to Detect Data-Copying in Generative Models": partition
the feature space into cells with k-means fitted on the training set; in each
cell compare the distances from generated samples to their nearest training
sample with those of held-out test samples (Mann-Whitney U, z-scored under
the null hypothesis that both come from one distribution); C_T is the average
of the per-cell z-scores weighted by each cell's share of test samples.
C_T well below zero (about -3 or less) means the generated samples sit closer
to the training set than unseen real data does: data copying. C_T well above
zero means under-fitting. Cells with too few test or generated samples are
skipped, as in the paper (which skips cells under a share tau of generated
samples). Written after the authors' reference code
(github.com/casey-meehan/data-copying), which is not a package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors


def mann_whitney_z(generated: np.ndarray, test: np.ndarray) -> float:
    """z-score of the U statistic of `generated` against `test` (negative: smaller)."""
    m, n = len(generated), len(test)
    u = mannwhitneyu(generated, test, alternative="less").statistic
    return float((u - m * n / 2.0) / np.sqrt(m * n * (m + n + 1) / 12.0))


def data_copying_test(
    train: np.ndarray,
    test: np.ndarray,
    generated: np.ndarray,
    n_cells: int = 10,
    min_cell_samples: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """C_T with k-means cells fitted on `train`; per-cell details included.

    Returns `ct_score` (None when no cell has enough samples), the number of
    cells used and, per cell, its sample counts, z-score and whether it counted.
    """
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    n_cells = min(n_cells, len(train))
    kmeans = KMeans(n_clusters=n_cells, n_init=10, random_state=seed).fit(train)
    train_cells = kmeans.labels_
    test_cells = kmeans.predict(test)
    generated_cells = kmeans.predict(generated)
    cells = []
    for cell in range(n_cells):
        in_test = test[test_cells == cell]
        in_generated = generated[generated_cells == cell]
        row: dict[str, Any] = {
            "cell": cell,
            "n_train": int((train_cells == cell).sum()),
            "n_test": len(in_test),
            "n_generated": len(in_generated),
            "z": None,
            "used": False,
        }
        if min(len(in_test), len(in_generated)) >= min_cell_samples:
            # Distances to the nearest training sample of the same cell.
            index = NearestNeighbors(n_neighbors=1).fit(train[train_cells == cell])
            test_distances = index.kneighbors(in_test)[0][:, 0]
            generated_distances = index.kneighbors(in_generated)[0][:, 0]
            row["z"] = mann_whitney_z(generated_distances, test_distances)
            row["used"] = True
        cells.append(row)
    used = [c for c in cells if c["used"]]
    weights = np.array([c["n_test"] for c in used], dtype=np.float64)
    scores = np.array([c["z"] for c in used], dtype=np.float64)
    ct = float(weights @ scores / weights.sum()) if used else None
    return {
        "ct_score": ct,
        "n_cells": n_cells,
        "n_cells_used": len(used),
        "min_cell_samples": min_cell_samples,
        "test_share_used": float(weights.sum() / len(test)) if used else 0.0,
        "cells": cells,
    }
