import keras
import numpy as np
import pytest

from imagegen.models.dcgan import (
    DCGAN,
    build_discriminator,
    build_generator,
    upsampling_stages,
)


@pytest.mark.parametrize(
    ("size", "expected"), [(28, (7, 2)), (32, (4, 3)), (64, (4, 4))]
)
def test_upsampling_stages(size, expected):
    assert upsampling_stages(size) == expected


def test_tutorial_shapes_at_28():
    generator = build_generator(28, 1, 100, 64)
    discriminator = build_discriminator(28, 1, 64)
    # The TensorFlow DCGAN tutorial's parameter counts.
    assert generator.count_params() == 2_330_944
    assert discriminator.count_params() == 212_865
    assert generator.output_shape == (None, 28, 28, 1)


def test_one_epoch_trains_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(-1, 1, (64, 16, 16, 3)).astype("float32")
    model = DCGAN(
        image_size=16,
        channels=3,
        latent_dim=8,
        generator_filters=4,
        discriminator_filters=4,
        seed=3,
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3)
    )
    history = model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real_score"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    path = tmp_path / "g.keras"
    model.generator.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    noise = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    out = np.asarray(reloaded(noise, training=False))
    np.testing.assert_allclose(
        out, np.asarray(model.generator(noise, training=False)), atol=1e-6
    )
    assert out.shape == (4, 16, 16, 3)
    assert out.min() >= -1 and out.max() <= 1
