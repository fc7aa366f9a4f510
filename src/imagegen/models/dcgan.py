"""DCGAN (Radford et al. 2016) in the shape of the TensorFlow DCGAN tutorial.

For 28x28 and widths 64 the generator and discriminator are exactly the
tutorial's; 64x64 (and other multiples of 8) add one stride-2 stage per
doubling, the deeper variant.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers, ops

from imagegen.models.base import (
    GenerativeModel,
    apply_gradients,
    bce_logits,
    discriminator_trunk,
    generator_trunk,
    scaled_loss,
    upsampling_stages,
)

__all__ = ["DCGAN", "build_discriminator", "build_generator", "upsampling_stages"]


def build_generator(
    image_size: int, channels: int, latent_dim: int, filters: int, name="generator"
) -> keras.Model:
    """Noise (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]."""
    inputs = keras.Input((latent_dim,), name="noise")
    outputs = generator_trunk(inputs, image_size, channels, filters)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(image_size: int, channels: int, filters: int) -> keras.Model:
    """Image -> one real/fake logit."""
    inputs = keras.Input((image_size, image_size, channels), name="image")
    features = discriminator_trunk(inputs, image_size, filters)
    outputs = layers.Dense(1, dtype="float32")(features)
    return keras.Model(inputs, outputs, name="discriminator")


@keras.saving.register_keras_serializable(package="imagegen")
class DCGAN(GenerativeModel):
    """Generator and discriminator trained together with `fit`.

    `train_step` is the tutorial's: one batch of noise, both losses from the
    same forward pass, two tapes.
    """

    family = "dcgan"
    metric_names = ("d_loss", "g_loss", "d_real_score")

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        generator_filters: int = 64,
        discriminator_filters: int = 64,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(image_size, channels, latent_dim, seed, **kwargs)
        self.generator_filters = generator_filters
        self.discriminator_filters = discriminator_filters
        self.generator = build_generator(
            image_size, channels, latent_dim, generator_filters
        )
        self.discriminator = build_discriminator(
            image_size, channels, discriminator_filters
        )
        self.built = True  # all sub-networks are built functional models

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        super().compile(**kwargs)
        # Defaults only so that a reloaded .keras model compiles; training
        # passes both (Radford et al.'s Adam settings).
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)

    def optimizer_targets(self) -> dict[str, tuple[Any, list]]:
        return {
            "discriminator": (self.d_optimizer, self.discriminator.trainable_weights),
            "generator": (self.g_optimizer, self.generator.trainable_weights),
        }

    def train_step(self, real_images):
        noise = self.noise(ops.shape(real_images)[0])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_images = self.generator(noise, training=True)
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            g_loss = bce_logits(ops.ones_like(fake_logits), fake_logits)
            d_loss = bce_logits(ops.ones_like(real_logits), real_logits) + bce_logits(
                ops.zeros_like(fake_logits), fake_logits
            )
            g_scaled = scaled_loss(self.g_optimizer, g_loss)
            d_scaled = scaled_loss(self.d_optimizer, d_loss)
        apply_gradients(
            self.g_optimizer, g_tape, g_scaled, self.generator.trainable_weights
        )
        apply_gradients(
            self.d_optimizer, d_tape, d_scaled, self.discriminator.trainable_weights
        )
        return self.update_trackers(
            d_loss=d_loss,
            g_loss=g_loss,
            d_real_score=ops.mean(ops.sigmoid(real_logits)),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters,
        )
        return config
