"""Class-conditional DCGAN (Mirza & Osindero 2014) with a projection discriminator.

The generator embeds the class label and concatenates it with the noise; the
discriminator sees the label as an extra image channel and, at its output,
through the projection term of Miyato & Koyama (2018), which makes it judge
"is this a real image *of this class*".
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from imagegen.models.base import (
    AdversarialModel,
    discriminator_trunk,
    generator_trunk,
)


def build_conditional_generator(
    image_size: int,
    channels: int,
    latent_dim: int,
    n_classes: int,
    filters: int,
    embedding_dim: int,
    architecture: str = "dcgan",
) -> keras.Model:
    """[noise (latent_dim,), label ()] -> image in [-1, 1]."""
    noise = keras.Input((latent_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(n_classes, embedding_dim, name="label_embedding")(label)
    x = layers.Concatenate()([noise, embedded])
    outputs = generator_trunk(
        x, image_size, channels, filters, architecture=architecture
    )
    return keras.Model([noise, label], outputs, name="generator")


def build_conditional_discriminator(
    image_size: int,
    channels: int,
    n_classes: int,
    filters: int,
    dropout: float = 0.3,
    spectral_norm: bool = False,
    minibatch_std: bool = False,
) -> keras.Model:
    """[image, label] -> one logit: linear(features) + <embed(label), features>."""
    image = keras.Input((image_size, image_size, channels), name="image")
    label = keras.Input((), dtype="int32", name="label")
    label_map = layers.Embedding(n_classes, image_size * image_size)(label)
    label_map = layers.Reshape((image_size, image_size, 1))(label_map)
    x = layers.Concatenate()([image, label_map])
    features = discriminator_trunk(
        x,
        image_size,
        filters,
        dropout=dropout,
        spectral_norm=spectral_norm,
        minibatch_std=minibatch_std,
    )
    features = layers.Activation("linear", dtype="float32")(features)
    unconditional = layers.Dense(1, dtype="float32")(features)
    class_vector = layers.Embedding(n_classes, features.shape[-1], dtype="float32")(
        label
    )
    projection = layers.Dot(axes=1, dtype="float32")([class_vector, features])
    outputs = layers.Add(dtype="float32")([unconditional, projection])
    return keras.Model([image, label], outputs, name="discriminator")


@keras.saving.register_keras_serializable(package="imagegen")
class CGAN(AdversarialModel):
    """DCGAN step on (images, labels); fakes get the labels of the real batch."""

    family = "cgan"
    conditional = True

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        n_classes: int = 10,
        generator_filters: int = 64,
        discriminator_filters: int = 64,
        embedding_dim: int = 50,
        seed: int = 0,
        architecture: str = "dcgan",
        dropout: float = 0.3,
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        **kwargs: Any,
    ):
        super().__init__(image_size, channels, latent_dim, seed, **kwargs)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.n_classes = n_classes
        self.generator_filters = generator_filters
        self.discriminator_filters = discriminator_filters
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.dropout = dropout
        self.spectral_norm = spectral_norm
        self.minibatch_std = minibatch_std
        self.generator = build_conditional_generator(
            image_size,
            channels,
            latent_dim,
            n_classes,
            generator_filters,
            embedding_dim,
            architecture,
        )
        self.discriminator = build_conditional_discriminator(
            image_size,
            channels,
            n_classes,
            discriminator_filters,
            dropout,
            spectral_norm,
            minibatch_std,
        )
        self.finish_build()

    def train_step(self, data):
        real_images, labels = data
        noise = self.noise(ops.shape(real_images)[0])
        # Only the image is augmented; the label map is concatenated after.
        return self.adversarial_step(
            [noise, labels], real_images, lambda images: [images, labels]
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            n_classes=self.n_classes,
            generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters,
            embedding_dim=self.embedding_dim,
            architecture=self.architecture,
            dropout=self.dropout,
            spectral_norm=self.spectral_norm,
            minibatch_std=self.minibatch_std,
        )
        return config
