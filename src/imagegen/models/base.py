"""What the four model families share: optimisers, loss scaling, saving.

The layers and losses use `keras.ops`, so they are backend-neutral. The
`train_step`s say what to differentiate through `imagegen.models.steps`,
which takes gradients with TensorFlow's `GradientTape` or with JAX: the
models train on either Keras backend.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import layers, ops

from imagegen.models.augment import Augmenter
from imagegen.models.convolutions import Conv2D, Conv2DTranspose
from imagegen.models.steps import optimise, replica_context, replica_scale


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


ARCHITECTURES = ("dcgan", "resize")


def generator_trunk(
    x,
    image_size: int,
    channels: int,
    filters: int,
    *,
    normalise: bool = True,
    architecture: str = "dcgan",
):
    """Dense -> (side, side, width) -> upsampling stages -> tanh image.

    "dcgan": stride-2 5x5 transposed convolutions. At 28x28 with filters=64
    this is the TensorFlow DCGAN tutorial's generator; each doubling of the
    side adds one stage (64x64: 4x4x1024 -> ... -> 64x64, the depth of
    Radford et al.'s DCGAN).
    "resize": nearest-neighbour upsampling then a 3x3 convolution per stage
    (Odena et al. 2016: no checkerboard artefacts), about a quarter of the
    multiply-adds of "dcgan" at the same widths.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}")
    side, stages = upsampling_stages(image_size)
    width = filters * 2**stages

    def block(x):
        if normalise:
            x = layers.BatchNormalization()(x)
        return layers.LeakyReLU()(x)

    x = block(layers.Dense(side * side * width, use_bias=False)(x))
    x = layers.Reshape((side, side, width))(x)
    if architecture == "resize":
        for stage in range(stages):
            x = layers.UpSampling2D(2)(x)
            x = Conv2D(width // 2 ** (stage + 1), 3, padding="same", use_bias=False)(x)
            x = block(x)
        return Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")(
            x
        )
    x = Conv2DTranspose(width // 2, 5, strides=1, padding="same", use_bias=False)(x)
    x = block(x)
    for stage in range(stages - 1):
        x = Conv2DTranspose(
            width // 2 ** (stage + 2), 5, strides=2, padding="same", use_bias=False
        )(x)
        x = block(x)
    # float32 output: under mixed precision the images stay full precision.
    return Conv2DTranspose(
        channels,
        5,
        strides=2,
        padding="same",
        use_bias=False,
        activation="tanh",
        dtype="float32",
    )(x)


@keras.saving.register_keras_serializable(package="imagegen")
class MinibatchStd(layers.Layer):
    """Appends the batch's mean feature standard deviation to every sample's features.

    Karras et al. 2018 (ProGAN): a discriminator that sees how alike the
    samples of a batch are can tell a collapsed generator's batch from a real
    one, so collapse costs the generator. Keras has no such layer.
    """

    def call(self, features):
        spread = ops.mean(ops.std(features, axis=0))
        column = ops.ones_like(features[:, :1]) * ops.cast(spread, features.dtype)
        return ops.concatenate([features, column], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def discriminator_trunk(
    x,
    image_size: int,
    filters: int,
    *,
    dropout: float = 0.3,
    spectral_norm: bool = False,
    minibatch_std: bool = False,
):
    """Stride-2 5x5 convolutions, LeakyReLU (and dropout), flattened features.

    `spectral_norm` wraps each convolution in Keras' `SpectralNormalization`
    (Miyato et al. 2018): the discriminator stays 1-Lipschitz per layer.
    `minibatch_std` appends the batch's feature spread (`MinibatchStd`).
    """
    _, stages = upsampling_stages(image_size)
    for stage in range(stages):
        conv = Conv2D(filters * 2**stage, 5, strides=2, padding="same")
        x = (layers.SpectralNormalization(conv) if spectral_norm else conv)(x)
        x = layers.LeakyReLU()(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    return MinibatchStd()(x) if minibatch_std else x


def bce_logits(labels, logits):
    """Mean binary cross-entropy on logits."""
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


LOSSES = ("bce", "hinge")


def adversarial_losses(loss: str, real_logits, fake_logits):
    """(generator loss, discriminator loss) of `loss` on the two batches' logits.

    "bce": the non-saturating loss of Goodfellow et al. (the TF tutorial's).
    "hinge": Lim & Ye 2017 / Miyato et al. 2018; the discriminator stops
    pushing a sample once it is beyond the margin, which keeps its outputs
    bounded on small datasets.
    """
    if loss == "hinge":
        d_loss = ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(
            ops.relu(1.0 + fake_logits)
        )
        return -ops.mean(fake_logits), d_loss
    g_loss = bce_logits(ops.ones_like(fake_logits), fake_logits)
    d_loss = bce_logits(ops.ones_like(real_logits), real_logits) + bce_logits(
        ops.zeros_like(fake_logits), fake_logits
    )
    return g_loss, d_loss


class GenerativeModel(keras.Model):
    """Base of the four families: `generator` maps noise (and label) to images.

    Subclasses build `generator` (the decoder for the VAE) and whatever else
    they train, list their loss trackers in `metric_names`, and say which
    optimiser updates which weights in `optimizer_targets`.
    """

    family: ClassVar[str] = ""
    conditional: ClassVar[bool] = False
    metric_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        seed: int = 0,
        augment: dict[str, Any] | None = None,
        ema_decay: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.channels = channels
        self.latent_dim = latent_dim
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.augment = dict(augment or {"mode": "none"})
        # Its own seed stream: augmenting does not shift the noise draws.
        self.augmenter = Augmenter(**self.augment, seed=seed + 1, name="augmenter")
        self.ema_decay = float(ema_decay)
        self.ema_generator = None
        names = self.metric_names
        if self.augmenter.mode == "ada":
            names = (*names, "ada_p", "ada_r_t")
        self.trackers = [keras.metrics.Mean(name=name) for name in names]

    def finish_build(self) -> None:
        """Call once the networks exist: adds the EMA copy of the generator."""
        if self.ema_decay:
            # Same layers, separate weights; starts as a copy of the generator.
            self.ema_generator = keras.models.clone_model(self.generator)
            self.ema_generator.set_weights(self.generator.get_weights())
        self.built = True  # all sub-networks are built functional models

    @property
    def sampling_generator(self) -> keras.Model:
        """The network that is saved, evaluated and served: the EMA copy when on."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def update_ema(self, step) -> None:
        """ema = d * ema + (1 - d) * generator, all weights (BatchNorm statistics too).

        The decay ramps up as min(decay, (1 + t) / (10 + t)) over the first
        steps (TensorFlow's ExponentialMovingAverage with num_updates), so a
        short run's EMA is not dominated by the random initial weights.
        """
        if self.ema_generator is None:
            return
        t = ops.cast(step, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for average, weight in zip(
            self.ema_generator.weights, self.generator.weights, strict=True
        ):
            value = ops.cast(weight, "float32")
            mixed = decay * ops.cast(average, "float32") + (1.0 - decay) * value
            average.assign(ops.cast(mixed, average.dtype))

    def augment_step_values(self, real_signs, batch) -> dict[str, Any]:
        """ADA: update p from the discriminator's signs on reals; tracker values."""
        if self.augmenter.mode != "ada":
            return {}
        r_t = self.augmenter.update_p(real_signs, batch)
        return {"ada_p": self.augmenter.p.value, "ada_r_t": r_t}

    # --- what the training loop and the callbacks use ------------------------------

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers)

    def optimizer_targets(self) -> dict[str, tuple[Any, list]]:
        """{name: (optimizer, the weights it updates)}, in a fixed order."""
        raise NotImplementedError

    def build_optimizers(self) -> None:
        """Create every optimiser slot now, so a checkpoint can be restored into them."""
        for optimizer, variables in self.optimizer_targets().values():
            if not optimizer.built:
                optimizer.build(variables)

    def images_per_step(self, batch_size: int) -> int:
        """Real images one `train_step` consumes."""
        return batch_size

    def generate(self, noise, labels=None, training: bool = False):
        """Images in [-1, 1] from noise (and class labels when conditional)."""
        inputs = [noise, labels] if self.conditional else noise
        return self.sampling_generator(inputs, training=training)

    def call(self, inputs, training: bool = False):
        return self.generator(inputs, training=training)

    # --- pieces of the training steps ---------------------------------------------

    def noise(self, batch):
        """This replica's slice of the global batch's noise.

        Every replica draws from the same mirrored seed state; slicing one draw
        of global size keeps replicas apart and equals the one-device noise.
        """
        replicas, replica = replica_context()
        noise = keras.random.normal(
            (batch * replicas, self.latent_dim), seed=self.seed_generator
        )
        if replicas == 1:
            return noise
        return ops.slice(noise, [replica * batch, 0], [batch, self.latent_dim])

    replica_scale = staticmethod(replica_scale)

    def jax_state_sync(self) -> None:
        """JAX: put the last step's state into the variables (callbacks read them).

        The training loop keeps the state as arrays between steps and leaves
        it here; Keras' callbacks call this before they touch the model.
        """
        pending, self._pending_state = getattr(self, "_pending_state", None), None
        if pending is not None:
            for variable, value in zip(pending.variables, pending.values, strict=True):
                variable.assign(value)
        parent = getattr(super(), "jax_state_sync", None)
        if parent is not None:
            parent()

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        shuffle=True,
        initial_epoch=0,
        steps_per_epoch=None,
        **kwargs: Any,
    ):
        """Keras' `fit` on TensorFlow; on JAX, the stateless loop of both optimisers.

        On JAX, `x` is in-memory arrays (with `y`, the labels) or an iterator
        of batches with `steps_per_epoch`; `jit_compile` comes from `compile`.
        """
        if keras.backend.backend() != "jax":
            return super().fit(
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callbacks,
                shuffle=shuffle,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                **kwargs,
            )
        from imagegen.models.stateless import array_batches, fit_stateless

        if kwargs:
            raise TypeError(f"fit on the jax backend takes no {sorted(kwargs)}")
        if isinstance(x, np.ndarray | tuple) or hasattr(x, "shape"):
            data = x if y is None else (x, y)
            batches, steps = array_batches(
                data, batch_size or 32, epochs, shuffle, self.seed
            )
            steps_per_epoch = steps_per_epoch or steps
        else:
            batches = x
        return fit_stateless(
            self,
            batches,
            initial_epoch=initial_epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=1 if verbose == "auto" else verbose,
            jit_compile=self.jit_compile is not False,
        )

    def update_trackers(self, **values) -> dict[str, Any]:
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    # --- saving ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            channels=self.channels,
            latent_dim=self.latent_dim,
            seed=self.seed,
            augment=self.augment,
            ema_decay=self.ema_decay,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)


class AdversarialModel(GenerativeModel):
    """A generator and a discriminator with one Adam each (DCGAN, CGAN).

    `adversarial_step` is the TF DCGAN tutorial's step: one batch of noise,
    both non-saturating losses from the same forward pass, two tapes.
    Subclasses build `generator` and `discriminator` and say what each
    network takes.
    """

    metric_names = ("d_loss", "g_loss", "d_real_score")

    def __init__(self, *args: Any, loss: str = "bce", **kwargs: Any):
        super().__init__(*args, **kwargs)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss_name = loss

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(loss=self.loss_name)
        return config

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

    def adversarial_step(self, generator_input, real_images, discriminator_input):
        """Update both networks once.

        `discriminator_input(images)` is what D sees of a batch of images (the
        images, or [images, labels]). Both batches are augmented first, in one
        forward pass that serves both losses, so the generator's gradient
        flows through the same augmentation as the discriminator's.
        """

        def compute():
            fake_images = self.generator(generator_input, training=True)
            real_logits = self.discriminator(
                discriminator_input(self.augmenter(real_images)), training=True
            )
            fake_logits = self.discriminator(
                discriminator_input(self.augmenter(fake_images)), training=True
            )
            g_loss, d_loss = adversarial_losses(
                self.loss_name, real_logits, fake_logits
            )
            return {"generator": g_loss, "discriminator": d_loss}, {
                "real_logits": real_logits
            }

        # Two tapes (TensorFlow) or two pullbacks of one forward pass (JAX).
        losses, extras = optimise(self, compute, ("generator", "discriminator"))
        d_loss, g_loss = losses["discriminator"], losses["generator"]
        real_logits = extras["real_logits"]
        self.update_ema(self.g_optimizer.iterations)
        return self.update_trackers(
            d_loss=d_loss,
            g_loss=g_loss,
            d_real_score=ops.mean(ops.sigmoid(real_logits)),
            **self.augment_step_values(real_logits, ops.shape(real_images)[0]),
        )
