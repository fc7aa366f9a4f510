import numpy as np
import pytest

from imagegen.metrics.memorisation import (
    audit_nearest_works,
    nearest_training_pixels,
    ssim,
)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 8.0 - 1.0  # [-1, 1]
    images = images[..., None]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    return images[order[:1000]], images[order[1000:1200]], images[order[1200:1400]]


def flat(x):
    return x.reshape(len(x), -1)


def test_copies_are_memorised_and_point_at_their_source(digits):
    train, holdout, _ = digits
    picked = np.arange(0, 1000, 10)
    table, summary = audit_nearest_works(
        train[picked], train, holdout, flat(train[picked]), flat(train), flat(holdout)
    )
    assert summary["memorised_fraction"] == 1.0
    assert summary["memorised_fraction_feature"] == 1.0
    assert sorted(table["pixel_nearest"]) == sorted(picked)
    assert (table["pixel_distance"] == 0).all()
    assert table["ssim"].to_numpy() == pytest.approx(1.0)


def test_unseen_real_images_are_memorised_at_about_the_quantile(digits):
    train, holdout, fresh = digits
    table, summary = audit_nearest_works(
        fresh, train, holdout, flat(fresh), flat(train), flat(holdout), quantile=0.05
    )
    assert summary["memorised_fraction"] < 0.15
    assert summary["threshold_pixel"] > 0
    assert (table["ssim"] < 0.999).all()
    # The table comes closest first.
    assert table["pixel_distance"].is_monotonic_increasing


def test_feature_space_decides_when_asked(digits):
    train, holdout, fresh = digits
    samples = np.concatenate([train[:30], fresh[:70]])
    # Features that see only the top rows: fresh images can collide with copies there.
    features = flat(samples)[:, :16]
    table, summary = audit_nearest_works(
        samples,
        train,
        holdout,
        features,
        flat(train)[:, :16],
        flat(holdout)[:, :16],
        space="feature",
    )
    assert summary["space"] == "feature"
    assert summary["memorised_fraction"] == summary["memorised_fraction_feature"]
    assert table["feature_distance"].is_monotonic_increasing
    flagged = table["feature_distance"] <= summary["threshold_feature"]
    assert (table["memorised"] == flagged).all()
    # 30 copies, plus unseen images that happen to fall under the 5% threshold.
    assert 0.3 <= summary["memorised_fraction_pixel"] < 0.45


def test_pixel_distance_is_root_mean_square():
    a = np.zeros((1, 4, 4, 1), dtype=np.float32)
    train = np.stack([np.full((4, 4, 1), 0.5), np.full((4, 4, 1), -1.0)])
    distance, index = nearest_training_pixels(a, train.astype(np.float32))
    assert index.tolist() == [0]
    assert distance[0] == pytest.approx(0.5)


def test_ssim_of_an_image_with_itself_is_one_and_tiny_images_are_nan():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, size=(8, 8, 3)).astype(np.float32)
    assert ssim(image, image) == pytest.approx(1.0)
    other = rng.uniform(-1, 1, size=(8, 8, 3)).astype(np.float32)
    assert abs(ssim(image, other)) < 0.2
    assert np.isnan(ssim(image[:2, :2], image[:2, :2]))
