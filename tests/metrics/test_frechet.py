import numpy as np
import pytest

from imagegen.metrics.frechet import frechet_distance


def test_identical_sets_are_at_zero():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_shifted_gaussians_match_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4)) + np.array([3.0, 0, 0, 0])
    # Same covariance: the distance is the squared shift of the means.
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.03)


def test_scaled_covariance_matches_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(40000, 2))
    b = rng.normal(size=(40000, 2)) * 2.0
    # Tr(I + 4I - 2*2I) = 2 for two dimensions.
    assert frechet_distance(a, b) == pytest.approx(2.0, rel=0.05)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="feature shapes differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
