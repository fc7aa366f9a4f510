import numpy as np
import pytest

from imagegen.metrics.kernel import kernel_inception_distance, unbiased_mmd2


def test_unbiased_mmd2_matches_a_hand_computed_case():
    # d = 1, k(x, y) = (x y + 1)^3. X = {0, 1}, Y = {0, 2}:
    # k(0,1) = 1 -> XX term 1; k(0,2) = 1 -> YY term 1;
    # XY: k(0,0) + k(0,2) + k(1,0) + k(1,2) = 1 + 1 + 1 + 27 -> mean 7.5.
    x = np.array([[0.0], [1.0]])
    y = np.array([[0.0], [2.0]])
    assert unbiased_mmd2(x, y) == pytest.approx(1 + 1 - 2 * 7.5)


def test_unbiased_mmd2_matches_the_definition_written_as_loops():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)) + 0.5

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / 30
    assert unbiased_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_samples_of_one_distribution_are_near_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1000, 16))
    b = rng.normal(size=(1000, 16))
    mean, std = kernel_inception_distance(a, b, n_subsets=20, subset_size=500)
    assert abs(mean) < 0.01
    assert std > 0


def test_shifted_gaussians_are_far_apart_and_grow_with_the_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(600, 16))
    near, _ = kernel_inception_distance(a, rng.normal(size=(600, 16)) + 0.5, 10)
    far, _ = kernel_inception_distance(a, rng.normal(size=(600, 16)) + 2.0, 10)
    assert near > 0.05
    assert far > 10 * near


def test_subsets_are_capped_by_the_smaller_set_and_seeded():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(30, 4)) + 1
    first = kernel_inception_distance(a, b, n_subsets=5, subset_size=1000, seed=4)
    again = kernel_inception_distance(a, b, n_subsets=5, subset_size=1000, seed=4)
    assert first == again
    # One subset of all rows of both sets is the full-sample estimate.
    full, std = kernel_inception_distance(a[:30], b, n_subsets=1, subset_size=30)
    assert full == pytest.approx(unbiased_mmd2(a[:30], b))
    assert std == 0.0


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="feature shapes differ"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least two"):
        unbiased_mmd2(np.zeros((1, 3)), np.zeros((5, 3)))
