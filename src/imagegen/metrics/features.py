"""Feature extractors for distribution metrics, behind one interface.

An extractor is a callable from images (n, h, w, c) in [-1, 1] to features
(n, d) with a `name` that every report quotes: numbers from different
extractors are not comparable. Two exist:

- `InceptionExtractor`: the 2048-d pool features of InceptionV3 (the FID/KID
  standard), from a local weights file only; nothing is ever downloaded.
- `EncoderExtractor`: the bottleneck of a small convolutional autoencoder
  trained on the training set, the default when no Inception weights are given.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class FeatureExtractor(Protocol):
    """Images in [-1, 1] -> one feature row per image; `name` says which extractor."""

    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def build_autoencoder(image_size: int, channels: int, dim: int):
    """(encoder, autoencoder) pair; the encoder maps images in [-1, 1] to `dim` features."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, channels))
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    shape = tuple(int(s) for s in x.shape[1:])
    x = layers.Flatten()(x)
    features = layers.Dense(dim, name="features")(x)
    encoder = keras.Model(inputs, features, name="feature_encoder")
    y = layers.Dense(int(np.prod(shape)), activation="relu")(features)
    y = layers.Reshape(shape)(y)
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.Conv2DTranspose(
        channels, 3, strides=2, padding="same", activation="tanh"
    )(y)
    if y.shape[1] != image_size:  # sides that are not a multiple of 4
        y = layers.Resizing(image_size, image_size)(y)
    autoencoder = keras.Model(inputs, y, name="feature_autoencoder")
    return encoder, autoencoder


def train_encoder(images: np.ndarray, params: dict[str, Any]):
    """Fit the autoencoder on `images`; return the encoder half, standardised.

    The bottleneck's raw scale is arbitrary; a Normalization layer adapted on
    the training images' features gives every feature mean 0 and variance 1
    there, so no dimension dominates the k-NN distances and KID's polynomial
    kernel works at the scale it was designed for.
    """
    import keras

    keras.utils.set_random_seed(params["seed"])
    encoder, autoencoder = build_autoencoder(
        images.shape[1], images.shape[-1], params["encoder_dim"]
    )
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    autoencoder.fit(
        images,
        images,
        epochs=params["encoder_epochs"],
        batch_size=params["batch_size"],
        shuffle=True,
        verbose=0,
    )
    normalise = keras.layers.Normalization(name="standardise")
    normalise.adapt(extract_features(encoder, images, params["batch_size"]))
    return keras.Model(
        encoder.inputs, normalise(encoder.outputs[0]), name="feature_encoder"
    )


def extract_features(encoder, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    # Keras' bar on a terminal; nothing in logs (it would print a line per batch).
    verbose = 1 if sys.stdout.isatty() and len(images) > 10 * batch_size else 0
    return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=verbose))


def _weights_digest(arrays) -> str:
    digest = hashlib.sha256()
    for w in arrays:
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


class EncoderExtractor:
    """Features from the project's own encoder (see `train_encoder`)."""

    def __init__(self, encoder, dataset_digest: str, batch_size: int = 256):
        self.encoder = encoder
        self.batch_size = batch_size
        # Dimension, training data and weights: a retrained encoder is a new extractor.
        self.name = (
            f"imagegen-autoencoder-{encoder.output_shape[-1]}d"
            f"@{dataset_digest[:12]}-{_weights_digest(encoder.get_weights())[:8]}"
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return extract_features(self.encoder, images, self.batch_size)


class InceptionExtractor:
    """InceptionV3 average-pool features (2048-d) from a local Keras weights file.

    Images are resized to 299x299 (bilinear) and greyscale is replicated to
    three channels; InceptionV3 expects inputs in [-1, 1], which is the
    project's range already.
    """

    SIDE = 299

    def __init__(self, weights_path: str | Path, batch_size: int = 32):
        import keras

        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"evaluation.inception_weights = {str(weights_path)!r}: no such file "
                "(the weights are never downloaded; give a local .h5 file)"
            )
        self.batch_size = batch_size
        self.model = keras.applications.InceptionV3(
            include_top=False,
            weights=str(path),
            input_shape=(self.SIDE, self.SIDE, 3),
            pooling="avg",
        )
        file_digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.name = f"inception-v3-pool-2048d@{file_digest[:12]}"

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Resize to 299x299 and give greyscale three channels."""
        import keras

        x = keras.ops.image.resize(
            np.asarray(images, dtype=np.float32),
            (self.SIDE, self.SIDE),
            interpolation="bilinear",
        )
        x = keras.ops.convert_to_numpy(x)
        return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x

    def __call__(self, images: np.ndarray) -> np.ndarray:
        batches = [
            np.asarray(
                self.model.predict_on_batch(
                    self.prepare(images[i : i + self.batch_size])
                )
            )
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(batches).astype(np.float32)


def make_extractor(
    encoder, dataset_digest: str, params: dict[str, Any]
) -> FeatureExtractor:
    """Inception when `inception_weights` names a file, else the project's encoder."""
    if params.get("inception_weights"):
        return InceptionExtractor(params["inception_weights"])
    return EncoderExtractor(encoder, dataset_digest, params["batch_size"])
