"""Kernel inception distance (KID, Bińkowski et al. 2018) on feature matrices.

Hand-written (a few lines of NumPy): the maintained implementations live in
PyTorch packages (torch-fidelity, clean-fid), which this project does not install.
The estimator and defaults follow theirs: unbiased MMD² with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets.
"""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x·y / d + 1)³ for every pair of rows of x and y."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD² between two samples with the polynomial kernel."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("need at least two samples per set")
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    # Diagonal terms k(x_i, x_i) are left out: that is what makes it unbiased.
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of unbiased MMD² over `n_subsets` random subsets of each set.

    Each subset holds min(subset_size, len(a), len(b)) rows drawn without
    replacement. The estimate is unbiased, so it can be slightly negative when
    both sets come from one distribution.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature shapes differ: {a.shape} vs {b.shape}")
    if n_subsets < 1:
        raise ValueError("n_subsets must be at least 1")
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [
        unbiased_mmd2(
            a[rng.choice(len(a), size, replace=False)],
            b[rng.choice(len(b), size, replace=False)],
        )
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
