import numpy as np
import pytest

from imagegen.metrics.manifold import knn_radii, precision_recall_density_coverage

prdc = pytest.importorskip("prdc")


def test_identical_sets_have_full_precision_recall_and_coverage():
    x = np.random.default_rng(0).normal(size=(300, 8))
    result = precision_recall_density_coverage(x, x.copy(), k=5)
    assert result["precision"] == 1.0
    assert result["recall"] == 1.0
    assert result["coverage"] == 1.0
    assert result["density"] == pytest.approx(1.0, abs=0.1)


def test_disjoint_shifted_gaussians_score_zero():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8))
    fake = rng.normal(size=(300, 8)) + 10.0
    result = precision_recall_density_coverage(real, fake, k=5)
    assert result == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_collapsed_generator_has_precision_but_no_recall():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 4))
    # All fakes sit in a small region of the real distribution (mode collapse).
    fake = rng.normal(size=(400, 4)) * 0.05
    result = precision_recall_density_coverage(real, fake, k=5)
    assert result["precision"] > 0.95
    assert result["recall"] < 0.1
    assert result["coverage"] < 0.2


@pytest.mark.parametrize(("n_real", "n_fake", "k"), [(200, 150, 3), (120, 300, 5)])
def test_matches_the_reference_prdc_package(n_real, n_fake, k):
    rng = np.random.default_rng(n_real + k)
    real = rng.normal(size=(n_real, 12))
    fake = rng.normal(0.4, 1.2, size=(n_fake, 12))
    expected = prdc.compute_prdc(real, fake, nearest_k=k)
    result = precision_recall_density_coverage(real, fake, k=k)
    for name, value in expected.items():
        assert result[name] == pytest.approx(float(value), abs=1e-12), name


def test_radii_are_the_distance_to_the_kth_other_point():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="more than k"):
        knn_radii(points, 4)
