"""DCGAN (Radford et al. 2016) in the shape of the TensorFlow DCGAN tutorial.

For 28x28 and the default widths the generator and discriminator are exactly the
tutorial's; other sizes add one stride-2 stage per doubling.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


def upsampling_stages(image_size: int) -> tuple[int, int]:
    """(start side, number of stride-2 stages) so that start * 2**stages == image_size."""
    stages = 0
    side = image_size
    while side % 2 == 0 and side // 2 >= 4:
        side //= 2
        stages += 1
    if stages == 0:
        raise ValueError(f"image_size {image_size} must be a multiple of 8 (or 28)")
    return side, stages


def build_generator(
    image_size: int, channels: int, latent_dim: int, filters: int
) -> keras.Model:
    """Noise (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]."""
    side, stages = upsampling_stages(image_size)
    width = filters * 2**stages
    inputs = keras.Input((latent_dim,), name="noise")
    x = layers.Dense(side * side * width, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU()(x)
    x = layers.Reshape((side, side, width))(x)
    x = layers.Conv2DTranspose(
        width // 2, 5, strides=1, padding="same", use_bias=False
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU()(x)
    for stage in range(stages - 1):
        x = layers.Conv2DTranspose(
            width // 2 ** (stage + 2), 5, strides=2, padding="same", use_bias=False
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU()(x)
    outputs = layers.Conv2DTranspose(
        channels,
        5,
        strides=2,
        padding="same",
        use_bias=False,
        activation="tanh",
        dtype="float32",
    )(x)
    return keras.Model(inputs, outputs, name="generator")


def build_discriminator(image_size: int, channels: int, filters: int) -> keras.Model:
    """Image -> one real/fake logit."""
    _, stages = upsampling_stages(image_size)
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = inputs
    for stage in range(stages):
        x = layers.Conv2D(filters * 2**stage, 5, strides=2, padding="same")(x)
        x = layers.LeakyReLU()(x)
        x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="discriminator")


@keras.saving.register_keras_serializable(package="imagegen")
class DCGAN(keras.Model):
    """Generator and discriminator trained together with `fit`.

    `train_step` follows the tutorial: one batch of noise, both losses from the
    same forward pass, two tapes. It uses TensorFlow's GradientTape, so this
    model trains on the TensorFlow backend; the layers themselves are
    backend-neutral.
    """

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
        super().__init__(**kwargs)
        self.image_size = image_size
        self.channels = channels
        self.latent_dim = latent_dim
        self.generator_filters = generator_filters
        self.discriminator_filters = discriminator_filters
        self.seed = seed
        self.generator = build_generator(
            image_size, channels, latent_dim, generator_filters
        )
        self.discriminator = build_discriminator(
            image_size, channels, discriminator_filters
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real_score")

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        **kwargs: Any,
    ) -> None:
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker]

    def call(self, noise, training: bool = False):
        return self.generator(noise, training=training)

    def sample_noise(self, n: int):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def train_step(self, real_images):
        import tensorflow as tf

        batch = ops.shape(real_images)[0]
        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_images = self.generator(noise, training=True)
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            g_loss = _bce_logits(ops.ones_like(fake_logits), fake_logits)
            d_loss = _bce_logits(ops.ones_like(real_logits), real_logits) + _bce_logits(
                ops.zeros_like(fake_logits), fake_logits
            )
        g_grads = g_tape.gradient(g_loss, self.generator.trainable_weights)
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.g_optimizer.apply_gradients(
            zip(g_grads, self.generator.trainable_weights, strict=True)
        )
        self.d_optimizer.apply_gradients(
            zip(d_grads, self.discriminator.trainable_weights, strict=True)
        )
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            channels=self.channels,
            latent_dim=self.latent_dim,
            generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters,
            seed=self.seed,
        )
        return config


def _bce_logits(labels, logits):
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))
