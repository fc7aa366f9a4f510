"""Feature extractors: the project's encoder and InceptionV3 from a local weights file."""

import numpy as np
import pytest

from imagegen.metrics.features import (
    EncoderExtractor,
    InceptionExtractor,
    build_autoencoder,
    make_extractor,
)

DIGEST = "ab" * 32


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A randomly initialised InceptionV3 saved locally: the code path runs offline."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(299, 299, 3), pooling="avg"
    )
    folder = tmp_path_factory.mktemp("inception")
    path = folder / "inception_v3_notop.weights.h5"
    model.save_weights(path)
    return path, model


# InceptionV3 (22M parameters, 299x299 inputs) on CPU: tens of seconds each.
@pytest.mark.slow
def test_the_published_legacy_h5_format_loads_too(inception_weights, tmp_path):
    """Keras publishes the ImageNet weights as a legacy (Keras 2) .h5 file."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    _, reference = inception_weights
    legacy = tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(legacy, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, reference)
    extractor = InceptionExtractor(legacy)
    images = np.random.default_rng(2).uniform(-1, 1, (2, 28, 28, 1)).astype("float32")
    expected = np.asarray(reference.predict_on_batch(extractor.prepare(images)))
    np.testing.assert_allclose(extractor(images), expected, rtol=1e-4, atol=1e-5)


def test_encoder_extractor_names_its_dimension_data_and_weights():
    encoder, _ = build_autoencoder(28, 1, 8)
    extractor = make_extractor(encoder, DIGEST, {"batch_size": 16})
    assert isinstance(extractor, EncoderExtractor)
    assert extractor.name.startswith(f"imagegen-autoencoder-8d@{DIGEST[:12]}-")
    images = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1)).astype("float32")
    features = extractor(images)
    assert features.shape == (5, 8)
    np.testing.assert_allclose(features, extractor(images), rtol=1e-5, atol=1e-6)
    encoder.set_weights([w + 0.01 for w in encoder.get_weights()])
    assert EncoderExtractor(encoder, DIGEST).name != extractor.name


@pytest.mark.slow
def test_inception_extractor_loads_local_weights_and_takes_greyscale(inception_weights):
    path, reference = inception_weights
    extractor = make_extractor(None, DIGEST, {"inception_weights": str(path)})
    assert isinstance(extractor, InceptionExtractor)
    assert extractor.name.startswith("inception-v3-pool-2048d@")
    rng = np.random.default_rng(1)
    grey = rng.uniform(-1, 1, (3, 28, 28, 1)).astype("float32")
    prepared = extractor.prepare(grey)
    assert prepared.shape == (3, 299, 299, 3)
    assert (prepared[..., 0] == prepared[..., 2]).all()
    features = extractor(grey)
    assert features.shape == (3, 2048)
    # The loaded weights are the saved ones: same features as the saved model.
    expected = np.asarray(reference.predict_on_batch(prepared))
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    # RGB goes through unchanged in channels.
    assert extractor(rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")).shape == (
        2,
        2048,
    )


def test_a_missing_weights_file_names_the_key_and_downloads_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"evaluation\.inception_weights"):
        InceptionExtractor(tmp_path / "absent.h5")
