"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

Algorithm 1 of the paper: `n_critic` critic updates, each on a fresh real
batch, then one generator update. One `train_step` takes `n_critic` real
batches at once (the input pipeline batches `batch_size * n_critic` images),
so an epoch still sees every image once and costs about as much as a DCGAN
epoch.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import layers, ops

from imagegen.models.base import GenerativeModel, discriminator_trunk
from imagegen.models.dcgan import build_generator
from imagegen.models.steps import input_gradient, optimise


def build_critic(image_size: int, channels: int, filters: int) -> keras.Model:
    """Image -> unbounded score; no batch norm (the penalty is per sample)."""
    inputs = keras.Input((image_size, image_size, channels), name="image")
    features = discriminator_trunk(inputs, image_size, filters, dropout=0.0)
    outputs = layers.Dense(1, dtype="float32")(features)
    return keras.Model(inputs, outputs, name="critic")


@keras.saving.register_keras_serializable(package="imagegen")
class WGANGP(GenerativeModel):
    """Generator and critic; logs `d_loss` (critic), `g_loss`, the penalty and W."""

    family = "wgan_gp"
    metric_names = ("d_loss", "g_loss", "gradient_penalty", "wasserstein")

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        generator_filters: int = 64,
        critic_filters: int = 64,
        n_critic: int = 5,
        gp_weight: float = 10.0,
        seed: int = 0,
        architecture: str = "dcgan",
        **kwargs: Any,
    ):
        super().__init__(image_size, channels, latent_dim, seed, **kwargs)
        self.generator_filters = generator_filters
        self.critic_filters = critic_filters
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.architecture = architecture
        self.generator = build_generator(
            image_size,
            channels,
            latent_dim,
            generator_filters,
            architecture=architecture,
        )
        self.critic = build_critic(image_size, channels, critic_filters)
        self.finish_build()

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        super().compile(**kwargs)
        # The paper's Adam: lr 1e-4, beta_1 0.5 (0 in the paper), beta_2 0.9.
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(
            1e-4, beta_1=0.5, beta_2=0.9
        )
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(
            1e-4, beta_1=0.5, beta_2=0.9
        )

    def optimizer_targets(self) -> dict[str, tuple[Any, list]]:
        return {
            "discriminator": (self.d_optimizer, self.critic.trainable_weights),
            "generator": (self.g_optimizer, self.generator.trainable_weights),
        }

    def images_per_step(self, batch_size: int) -> int:
        return batch_size * self.n_critic

    def gradient_penalty(self, real, fake):
        """E[(||grad critic(x_hat)||_2 - 1)^2] on random interpolates x_hat."""
        alpha = keras.random.uniform(
            (ops.shape(real)[0], 1, 1, 1), seed=self.seed_generator
        )
        mixed = real + alpha * (fake - real)
        grads = input_gradient(lambda x: self.critic(x, training=True), mixed)
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]) + 1e-12)
        return ops.mean(ops.square(norms - 1.0))

    def critic_losses(self, real, noise):
        """(losses, outputs) of one critic update on augmented reals and fresh fakes."""
        fake = self.augmenter(self.generator(noise, training=True))
        real_scores = self.critic(real, training=True)
        fake_scores = self.critic(fake, training=True)
        wasserstein = ops.mean(real_scores) - ops.mean(fake_scores)
        penalty = self.gradient_penalty(real, fake)
        d_loss = -wasserstein + self.gp_weight * penalty
        return {"discriminator": d_loss}, {
            "real_scores": real_scores,
            "wasserstein": wasserstein,
            "penalty": penalty,
        }

    def generator_losses(self, noise):
        """(losses, outputs) of the generator update."""
        fake_scores = self.critic(
            self.augmenter(self.generator(noise, training=True)), training=True
        )
        return {"generator": -ops.mean(fake_scores)}, {"fake_scores": fake_scores}

    def train_step(self, real_images):
        batch = ops.shape(real_images)[0] // self.n_critic
        chunks = ops.reshape(
            real_images,
            (self.n_critic, batch, self.image_size, self.image_size, self.channels),
        )
        for index in range(self.n_critic):
            # The penalty is taken on interpolates of the augmented images.
            real = self.augmenter(chunks[index])
            noise = self.noise(batch)
            losses, critic = optimise(
                self,
                functools.partial(self.critic_losses, real, noise),
                ("discriminator",),
            )
        noise = self.noise(batch)
        g_losses, outputs = optimise(
            self, functools.partial(self.generator_losses, noise), ("generator",)
        )
        self.update_ema(self.g_optimizer.iterations)
        # A critic's scores have no fixed zero: ADA's sign is taken against
        # the mean score of the generator step's fakes.
        signs = critic["real_scores"] - ops.mean(outputs["fake_scores"])
        return self.update_trackers(
            d_loss=losses["discriminator"],
            g_loss=g_losses["generator"],
            gradient_penalty=critic["penalty"],
            wasserstein=critic["wasserstein"],
            **self.augment_step_values(signs, batch),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            generator_filters=self.generator_filters,
            critic_filters=self.critic_filters,
            n_critic=self.n_critic,
            gp_weight=self.gp_weight,
            architecture=self.architecture,
        )
        return config
