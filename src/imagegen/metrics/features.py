"""Feature extractors for distribution metrics.

With no pretrained network allowed to download, the default extractor is a
small convolutional autoencoder trained on the training set; its bottleneck
gives the features. Numbers from different extractors are not comparable, so
each extractor carries a name that reports must quote.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
    """Fit the autoencoder on `images`; return the encoder half."""
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
    return encoder


def extract_features(encoder, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=0))
