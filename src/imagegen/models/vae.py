"""Convolutional VAE (Kingma & Welling 2014) with a weighted KL term (beta-VAE).

The decoder is the project's generator (noise -> image in [-1, 1]); it is what
training saves as `generator`, so sampling means decoding prior noise.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from imagegen.models.base import GenerativeModel, discriminator_trunk
from imagegen.models.dcgan import build_generator
from imagegen.models.steps import optimise


def build_encoder(
    image_size: int, channels: int, latent_dim: int, filters: int
) -> keras.Model:
    """Image -> [z_mean, z_log_var], each (latent_dim,)."""
    inputs = keras.Input((image_size, image_size, channels), name="image")
    features = discriminator_trunk(inputs, image_size, filters, dropout=0.0)
    z_mean = layers.Dense(latent_dim, dtype="float32", name="z_mean")(features)
    z_log_var = layers.Dense(latent_dim, dtype="float32", name="z_log_var")(features)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


@keras.saving.register_keras_serializable(package="imagegen")
class VAE(GenerativeModel):
    """loss = reconstruction (summed per-pixel cross-entropy) + beta * KL."""

    family = "vae"
    metric_names = ("loss", "reconstruction_loss", "kl_loss")

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 16,
        filters: int = 32,
        beta: float = 1.0,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(image_size, channels, latent_dim, seed, **kwargs)
        self.filters = filters
        self.beta = beta
        self.encoder = build_encoder(image_size, channels, latent_dim, filters)
        self.generator = build_generator(
            image_size, channels, latent_dim, filters, name="decoder"
        )
        self.finish_build()

    @property
    def decoder(self) -> keras.Model:
        return self.generator

    def compile(
        self, optimizer: keras.optimizers.Optimizer | None = None, **kwargs: Any
    ) -> None:
        # Kept out of Keras' own `optimizer` slot: that one would be wrapped,
        # saved and loss-scaled behind our back.
        super().compile(**kwargs)
        self.vae_optimizer = optimizer or keras.optimizers.Adam(1e-3)

    def optimizer_targets(self) -> dict[str, tuple[Any, list]]:
        weights = self.encoder.trainable_weights + self.generator.trainable_weights
        return {"vae": (self.vae_optimizer, weights)}

    def encode(self, images, training: bool = False):
        return self.encoder(images, training=training)

    def reconstruct(self, images):
        """Decode the posterior mean: the deterministic reconstruction."""
        z_mean, _ = self.encoder(images, training=False)
        return self.generator(z_mean, training=False)

    def losses_for(self, images, training: bool = True):
        z_mean, z_log_var = self.encoder(images, training=training)
        epsilon = self.noise(ops.shape(images)[0])
        z = z_mean + ops.exp(0.5 * z_log_var) * epsilon
        decoded = self.generator(z, training=training)
        # Cross-entropy of pixel intensities in [0, 1] (as keras.io's VAE).
        target = (images + 1.0) / 2.0
        predicted = ops.clip((decoded + 1.0) / 2.0, 1e-6, 1.0 - 1e-6)
        per_pixel = -(
            target * ops.log(predicted) + (1.0 - target) * ops.log(1.0 - predicted)
        )
        reconstruction = ops.mean(ops.sum(per_pixel, axis=[1, 2, 3]))
        kl = ops.mean(
            -0.5
            * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        )
        return reconstruction, kl

    def train_step(self, images):
        def compute():
            reconstruction, kl = self.losses_for(images)
            loss = reconstruction + self.beta * kl
            return {"vae": loss}, {"reconstruction": reconstruction, "kl": kl}

        losses, parts = optimise(self, compute, ("vae",))
        return self.update_trackers(
            loss=losses["vae"],
            reconstruction_loss=parts["reconstruction"],
            kl_loss=parts["kl"],
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(filters=self.filters, beta=self.beta)
        return config
