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


def test_degenerate_sets_do_not_break_the_square_root():
    rng = np.random.default_rng(4)
    constant = np.ones((30, 6))
    copies = np.repeat(rng.normal(size=(3, 6)), 10, axis=0)
    spread = rng.normal(size=(200, 6))
    assert frechet_distance(constant, spread) > 0
    assert np.isfinite(frechet_distance(copies, spread))


def test_matches_scipy_sqrtm_on_regular_sets():
    from scipy import linalg

    rng = np.random.default_rng(5)
    a = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) + 1.0
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(sa + sb - 2 * np.real(linalg.sqrtm(sa @ sb)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
