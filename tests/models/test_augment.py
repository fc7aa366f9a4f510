"""DiffAugment and ADA: shapes, ranges, gradients, and ADA's controller."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from imagegen.models.augment import ADA_OPS, Augmenter, resample
from tests.training.digits import digits_training_set


def clip_art(n=16, side=32, seed=0) -> np.ndarray:
    """White images with one coloured square each, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    images = np.ones((n, side, side, 3), np.float32)
    for image in images:
        top, left = rng.integers(0, side // 2, 2)
        image[top : top + side // 3, left : left + side // 3] = rng.uniform(-1, 1, 3)
    return images


@pytest.mark.parametrize("mode", ["diffaugment", "ada"])
def test_augmentations_keep_shape_and_range_and_change_images(mode):
    images = clip_art()
    augmenter = Augmenter(mode=mode, seed=1)
    augmenter.p.assign(1.0)
    out = np.asarray(augmenter(images, training=True))
    assert out.shape == images.shape
    assert np.isfinite(out).all()
    changed = np.abs(out - images).reshape(len(images), -1).max(axis=1) > 1e-3
    assert changed.all()
    # Each sample gets its own transform.
    assert len({np.round(o, 3).tobytes() for o in out}) == len(images)


@pytest.mark.parametrize(
    ("mode", "ops_"),
    [
        ("diffaugment", ("translation", "cutout")),
        ("ada", ("xflip", "rotate90", "translation", "scale", "cutout")),
    ],
)
def test_geometric_ops_keep_the_range(mode, ops_):
    images = clip_art(seed=4)
    augmenter = Augmenter(mode=mode, ops_=ops_, seed=6)
    augmenter.p.assign(1.0)
    out = np.asarray(augmenter(images, training=True))
    assert out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5


def test_diffaugment_colour_is_bounded_by_its_strengths():
    images = clip_art(seed=5)
    out = np.asarray(Augmenter("diffaugment", ops_=("colour",), seed=7)(images))
    # brightness +-0.5, then saturation x <= 2 and contrast x <= 1.5 about means
    # that stay within [-1.5, 1.5]: no clipping, so no gradient is cut off.
    assert np.abs(out).max() <= 1.5 + 2 * 3.0 * 1.5


def test_identity_when_off_or_not_training_or_p_zero():
    images = clip_art()
    assert np.array_equal(np.asarray(Augmenter("none")(images)), images)
    augmenter = Augmenter("diffaugment")
    assert np.array_equal(np.asarray(augmenter(images, training=False)), images)
    ada = Augmenter("ada")  # p starts at 0
    np.testing.assert_allclose(
        np.asarray(ada(images, training=True)), images, atol=1e-5
    )


@pytest.mark.parametrize("mode", ["diffaugment", "ada"])
def test_gradients_flow_through_every_op(mode):
    images = tf.Variable(clip_art(n=8))
    augmenter = Augmenter(mode=mode, seed=2)
    augmenter.p.assign(1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(augmenter(images, training=True)))
    grads = tape.gradient(loss, images).numpy()
    assert np.isfinite(grads).all()
    per_sample = np.abs(grads).reshape(8, -1).sum(axis=1)
    assert (per_sample > 0).all()


def test_integer_translation_by_resampling_is_an_exact_shift():
    images = clip_art(n=2)
    shifted = np.asarray(
        resample(
            images, np.ones(2, np.float32), np.array([3.0, 0.0]), np.array([0.0, -2.0])
        )
    )
    np.testing.assert_allclose(shifted[0, 3:], images[0, :-3], atol=1e-6)
    np.testing.assert_allclose(shifted[0, :3], 0.0)
    np.testing.assert_allclose(shifted[1, :, :-2], images[1, :, 2:], atol=1e-6)


def test_rotate90_and_flips_only_permute_pixels():
    images = clip_art(n=16)
    augmenter = Augmenter("ada", ops_=("xflip", "rotate90"), seed=3)
    augmenter.p.assign(1.0)
    out = np.asarray(augmenter(images, training=True))
    for before, after in zip(images, out, strict=True):
        assert np.allclose(np.sort(before.ravel()), np.sort(after.ravel()))
    assert not np.allclose(out, images)


def test_unknown_ops_are_refused():
    with pytest.raises(ValueError, match="no ops"):
        Augmenter("diffaugment", ops_=("rotate90",))
    assert set(Augmenter("ada").ops_) == set(ADA_OPS)


def _train_discriminator(real, fake, steps, augmenter, batch):
    """A small discriminator on real vs fixed fake images; returns p per step."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(real.shape[1:])
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    optimizer = keras.optimizers.Adam(1e-3)
    history = []
    rng = np.random.default_rng(0)
    for _ in range(steps):
        r = real[rng.choice(len(real), batch)]
        f = fake[rng.choice(len(fake), batch)]
        with tf.GradientTape() as tape:
            real_logits = model(augmenter(r, training=True))
            fake_logits = model(augmenter(f, training=True))
            loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(
                tf.nn.softplus(fake_logits)
            )
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        augmenter.update_p(real_logits, batch)
        history.append(float(augmenter.p.numpy()))
    return history


def test_ada_p_rises_when_the_discriminator_overfits_a_tiny_set():
    digits = digits_training_set(n=16)["images"]
    rng = np.random.default_rng(1)
    fake = rng.uniform(-1, 1, (64, *digits.shape[1:])).astype(np.float32)
    augmenter = Augmenter("ada", speed_images=2_000, seed=4)
    history = _train_discriminator(digits, fake, 150, augmenter, 16)
    assert history[-1] > 0.3
    assert history[-1] > history[len(history) // 3]


def test_ada_p_falls_when_the_discriminator_cannot_tell():
    digits = digits_training_set(n=64)["images"]
    augmenter = Augmenter("ada", speed_images=2_000, seed=5)
    augmenter.p.assign(0.5)
    # Fakes are the same distribution as the reals: nothing to overfit.
    history = _train_discriminator(digits, digits.copy(), 60, augmenter, 16)
    assert history[-1] < 0.3
