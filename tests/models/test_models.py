"""The four families: shapes, one fit step each, saving and reloading.

Backend-neutral: CI runs this file on TensorFlow and again with
`KERAS_BACKEND=jax` (.ci/run).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from imagegen.models import (
    CGAN,
    DCGAN,
    MODEL_CLASSES,
    VAE,
    WGANGP,
    generate_images,
    generator_spec,
    latent_noise,
)
from imagegen.models.dcgan import build_discriminator, build_generator

TINY = {
    "dcgan": {"generator_filters": 4, "discriminator_filters": 4},
    "cgan": {
        "generator_filters": 4,
        "discriminator_filters": 4,
        "n_classes": 3,
        "embedding_dim": 4,
    },
    "wgan_gp": {"generator_filters": 4, "critic_filters": 4, "n_critic": 2},
    "vae": {"filters": 4},
}


def tiny(family: str, size: int = 16, channels: int = 3) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = MODEL_CLASSES[family](
        image_size=size, channels=channels, latent_dim=8, seed=3, **TINY[family]
    )
    model.compile()
    return model


def data(model, n: int = 32):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (n, model.image_size, model.image_size, model.channels))
    images = images.astype("float32")
    return (
        (images, rng.integers(0, 3, n).astype("int32")) if model.conditional else images
    )


def test_deeper_variant_at_64():
    generator = build_generator(64, 3, 100, 64)
    discriminator = build_discriminator(64, 3, 64)
    assert generator.output_shape == (None, 64, 64, 3)
    # Radford et al.'s depth: 4x4x1024 -> 8x8 -> 16x16 -> 32x32 -> 64x64.
    assert generator.layers[4].output.shape[1:] == (4, 4, 1024)
    strided = [
        layer
        for layer in generator.layers
        if isinstance(layer, keras.layers.Conv2DTranspose) and layer.strides == (2, 2)
    ]
    assert len(strided) == 4
    assert sum(isinstance(x, keras.layers.Conv2D) for x in discriminator.layers) == 4


@pytest.mark.parametrize("family", sorted(MODEL_CLASSES))
def test_fit_save_reload_gives_identical_samples(family, tmp_path):
    model = tiny(family)
    batch = model.images_per_step(8)
    history = model.fit(*_xy(data(model)), batch_size=batch, epochs=1, verbose=0)
    assert set(history.history) == set(model.metric_names)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    noise = latent_noise(5, 4, 8)
    labels = np.array([0, 1, 2, 0]) if model.conditional else None
    np.testing.assert_array_equal(
        np.asarray(reloaded.generate(noise, labels)),
        np.asarray(model.generate(noise, labels)),
    )
    samples = np.asarray(model.generate(noise, labels))
    assert samples.shape == (4, 16, 16, 3)
    assert samples.min() >= -1 and samples.max() <= 1


def _xy(batch):
    return batch if isinstance(batch, tuple) else (batch,)


def test_the_conditional_generator_depends_on_the_label():
    model = tiny("cgan")
    assert generator_spec(model.generator) == (8, 3)
    noise = np.repeat(latent_noise(1, 1, 8), 3, axis=0)
    images = generate_images(model.generator, noise, [0, 1, 2])
    assert not np.allclose(images[0], images[1])
    assert not np.allclose(images[1], images[2])
    # Without labels the classes are cycled.
    np.testing.assert_array_equal(generate_images(model.generator, noise), images)


def test_unconditional_generators_take_noise_only():
    for family in ("dcgan", "wgan_gp", "vae"):
        assert generator_spec(tiny(family).generator) == (8, 0)


def test_vae_reconstructs_digits_better_than_their_mean_image():
    from tests.training.digits import digits_training_set

    images = digits_training_set(n=256, size=16)["images"]
    keras.utils.set_random_seed(0)
    model = VAE(image_size=16, channels=1, latent_dim=8, filters=8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(images, batch_size=32, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    error = np.mean((np.asarray(model.reconstruct(images)) - images) ** 2)
    baseline = np.mean((images.mean(axis=0) - images) ** 2)
    assert error < 0.8 * baseline


def test_wgan_gp_penalty_of_a_constant_critic_is_one():
    model = tiny("wgan_gp", size=16, channels=1)
    for layer in model.critic.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    real = keras.ops.convert_to_tensor(data(model, 8))
    fake = keras.ops.zeros_like(real)
    # The critic ignores its input: gradient 0, penalty (0 - 1)^2.
    assert float(model.gradient_penalty(real, fake)) == pytest.approx(1.0, abs=1e-5)


def test_config_round_trips():
    for cls in (DCGAN, CGAN, WGANGP, VAE):
        model = cls(image_size=8, latent_dim=4, seed=9)
        again = cls.from_config(model.get_config())
        assert again.get_config() == model.get_config()
        assert again.seed == 9


STABILISED = {
    "dcgan": {
        "architecture": "resize",
        "loss": "hinge",
        "dropout": 0.0,
        "spectral_norm": True,
        "minibatch_std": True,
    },
    "cgan": {"loss": "hinge", "spectral_norm": True, "minibatch_std": True},
    "wgan_gp": {"architecture": "resize"},
}


@pytest.mark.parametrize("family", sorted(STABILISED))
@pytest.mark.parametrize("augment", ["diffaugment", "ada"])
def test_stabilised_models_fit_and_their_ema_generator_round_trips(
    family, augment, tmp_path
):
    keras.utils.set_random_seed(0)
    model = MODEL_CLASSES[family](
        image_size=16,
        channels=3,
        latent_dim=8,
        seed=3,
        augment={"mode": augment},
        ema_decay=0.9,
        **TINY[family],
        **STABILISED[family],
    )
    model.compile()
    batch = model.images_per_step(8)
    history = model.fit(*_xy(data(model)), batch_size=batch, epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert ("ada_p" in history.history) == (augment == "ada")
    assert model.sampling_generator is model.ema_generator
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert reloaded.get_config() == model.get_config()
    noise = latent_noise(5, 4, 8)
    labels = np.array([0, 1, 2, 0]) if model.conditional else None
    np.testing.assert_allclose(
        np.asarray(reloaded.generate(noise, labels)),
        np.asarray(model.generate(noise, labels)),
        atol=1e-6,
    )
    raw = np.asarray(model.generator([noise, labels] if model.conditional else noise))
    assert not np.allclose(raw, np.asarray(model.generate(noise, labels)))
