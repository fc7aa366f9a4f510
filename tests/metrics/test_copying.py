import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm

from imagegen.metrics.copying import data_copying_test, mann_whitney_z

CENTRES = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0], [0, 0, 6]], dtype=float)


def mixture(rng, n):
    return CENTRES[rng.integers(0, len(CENTRES), n)] + rng.normal(size=(n, 3))


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return rng, mixture(rng, 1500), mixture(rng, 400)


def test_z_score_is_the_normal_quantile_of_the_one_sided_test():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=40), rng.normal(0.5, 1, size=60)
    p = mannwhitneyu(
        x, y, alternative="less", method="asymptotic", use_continuity=False
    ).pvalue
    assert mann_whitney_z(x, y) == pytest.approx(norm.ppf(p))
    assert mann_whitney_z(x, y) < 0  # x is smaller


def test_copies_of_training_samples_are_flagged(sets):
    rng, train, test = sets
    copies = train[rng.choice(len(train), 300, replace=False)]
    result = data_copying_test(train, test, copies, n_cells=4, min_cell_samples=10)
    assert result["ct_score"] < -10
    assert result["n_cells_used"] == 4


def test_fresh_samples_of_the_same_distribution_are_not(sets):
    rng, train, test = sets
    fresh = mixture(rng, 300)
    result = data_copying_test(train, test, fresh, n_cells=4, min_cell_samples=10)
    assert abs(result["ct_score"]) < 2.5


def test_samples_farther_than_real_data_score_positive(sets):
    rng, train, test = sets
    blurred = mixture(rng, 300) + rng.normal(scale=1.0, size=(300, 3))
    result = data_copying_test(train, test, blurred, n_cells=4, min_cell_samples=10)
    assert result["ct_score"] > 3


def test_cells_with_too_few_samples_are_skipped(sets):
    rng, train, test = sets
    # Every generated sample copies a training point near one centre only.
    near_first = train[np.linalg.norm(train - CENTRES[1], axis=1) < 1.5][:50]
    result = data_copying_test(train, test, near_first, n_cells=4, min_cell_samples=10)
    used = [c for c in result["cells"] if c["used"]]
    assert len(used) == result["n_cells_used"] == 1
    assert used[0]["n_generated"] >= 10
    assert all(c["z"] is None for c in result["cells"] if not c["used"])
    # The score is that one cell's z-score; its weight is its share of test samples.
    assert result["ct_score"] == pytest.approx(used[0]["z"])
    assert result["test_share_used"] == pytest.approx(used[0]["n_test"] / len(test))


def test_no_usable_cell_gives_no_score(sets):
    _, train, test = sets
    result = data_copying_test(train, test, train[:3], n_cells=4, min_cell_samples=10)
    assert result["ct_score"] is None
    assert result["n_cells_used"] == 0
