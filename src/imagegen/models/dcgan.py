"""DCGAN (Radford et al. 2016) in the shape of the TensorFlow DCGAN tutorial.

For 28x28 and widths 64 the generator and discriminator are exactly the
tutorial's; 64x64 (and other multiples of 8) add one stride-2 stage per
doubling, the deeper variant.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from imagegen.models.base import (
    AdversarialModel,
    discriminator_trunk,
    generator_trunk,
    upsampling_stages,
)

__all__ = ["DCGAN", "build_discriminator", "build_generator", "upsampling_stages"]


def build_generator(
    image_size: int,
    channels: int,
    latent_dim: int,
    filters: int,
    name="generator",
    architecture: str = "dcgan",
) -> keras.Model:
    """Noise (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]."""
    inputs = keras.Input((latent_dim,), name="noise")
    outputs = generator_trunk(
        inputs, image_size, channels, filters, architecture=architecture
    )
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(
    image_size: int,
    channels: int,
    filters: int,
    dropout: float = 0.3,
    spectral_norm: bool = False,
    minibatch_std: bool = False,
) -> keras.Model:
    """Image -> one real/fake logit."""
    inputs = keras.Input((image_size, image_size, channels), name="image")
    features = discriminator_trunk(
        inputs,
        image_size,
        filters,
        dropout=dropout,
        spectral_norm=spectral_norm,
        minibatch_std=minibatch_std,
    )
    outputs = layers.Dense(1, dtype="float32")(features)
    return keras.Model(inputs, outputs, name="discriminator")


@keras.saving.register_keras_serializable(package="imagegen")
class DCGAN(AdversarialModel):
    """Generator and discriminator trained together with `fit`, the tutorial's step."""

    family = "dcgan"

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        generator_filters: int = 64,
        discriminator_filters: int = 64,
        seed: int = 0,
        architecture: str = "dcgan",
        dropout: float = 0.3,
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        **kwargs: Any,
    ):
        super().__init__(image_size, channels, latent_dim, seed, **kwargs)
        self.generator_filters = generator_filters
        self.discriminator_filters = discriminator_filters
        self.architecture = architecture
        self.dropout = dropout
        self.spectral_norm = spectral_norm
        self.minibatch_std = minibatch_std
        self.generator = build_generator(
            image_size,
            channels,
            latent_dim,
            generator_filters,
            architecture=architecture,
        )
        self.discriminator = build_discriminator(
            image_size,
            channels,
            discriminator_filters,
            dropout,
            spectral_norm,
            minibatch_std,
        )
        self.finish_build()

    def train_step(self, real_images):
        noise = self.noise(ops.shape(real_images)[0])
        return self.adversarial_step(noise, real_images, lambda images: images)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters,
            architecture=self.architecture,
            dropout=self.dropout,
            spectral_norm=self.spectral_norm,
            minibatch_std=self.minibatch_std,
        )
        return config
