"""Differentiable augmentation of what a discriminator sees (DiffAugment, ADA).

Small datasets let a discriminator memorise its real images; it then gives
the generator no useful gradient and the generator collapses. Augmenting
every image the discriminator sees, real and generated, in both networks'
steps, stops that without leaking the augmentations into the generator
(Zhao et al. 2020, "Differentiable Augmentation"; Karras et al. 2020, "ADA").

Everything is written with `keras.ops`, so it runs on every Keras backend and
gradients flow through it to the generator. Geometric transforms are
separable resamplings: each sample's rows and columns are mixed by a
(side x side) bilinear interpolation matrix, two `einsum`s per batch. That
needs no gather or backend-specific image op; Keras' preprocessing layers
(`RandomTranslation`, `RandomZoom`) are not differentiable on every backend
and draw one transform per batch, not per sample.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

MODES = ("none", "diffaugment", "ada")
DIFFAUGMENT_OPS = ("colour", "translation", "cutout")
ADA_OPS = ("xflip", "rotate90", "translation", "scale", "colour", "cutout")


def interpolation_matrices(source, side: int):
    """(batch, side, side) bilinear weights: out[i] = sum_j m[i, j] * in[j].

    `source` (batch, side) holds the input coordinate each output pixel reads;
    coordinates outside the image get zero weight (zero padding).
    """
    grid = ops.cast(ops.arange(side), source.dtype)
    return ops.relu(1.0 - ops.abs(grid[None, None, :] - source[:, :, None]))


def reflect(coordinates, side: int):
    """Mirror coordinates back into [0, side - 1] (reflection padding)."""
    period = 2.0 * (side - 1)
    folded = ops.mod(coordinates, period)
    return ops.where(folded > side - 1, period - folded, folded)


def resample(images, scale, shift_y, shift_x, *, reflect_edges: bool = False):
    """Scale about the centre, then shift, each sample by its own (batch,) factors."""
    side = images.shape[1]
    dtype = images.dtype
    grid = ops.cast(ops.arange(side), dtype)[None, :]
    centre = (side - 1) / 2.0

    def source(shift):
        coordinates = (grid - centre - shift[:, None]) / scale[:, None] + centre
        return reflect(coordinates, side) if reflect_edges else coordinates

    rows = interpolation_matrices(source(shift_y), side)
    columns = interpolation_matrices(source(shift_x), side)
    mixed = ops.einsum("bik,bkwc->biwc", rows, images)
    return ops.einsum("bjl,bilc->bijc", columns, mixed)


class Augmenter(keras.layers.Layer):
    """Augment a batch of images in [-1, 1]; the identity when `mode` is "none".

    - "diffaugment": every op in `ops_` applied to every sample, with the
      strengths of Zhao et al.: brightness +-0.5, saturation x[0, 2],
      contrast x[0.5, 1.5], integer translation up to `translation` of the
      side (zero padding), one cutout square of `cutout` of the side.
    - "ada": each op applied to each sample with probability `p` (Karras et
      al.'s pipeline, reduced to the ops listed: x-flip, rotation by a
      multiple of 90 degrees, integer translation with reflection, isotropic
      scale with log2-normal std 0.2, brightness/contrast/saturation, cutout).
      `p` is a non-trainable weight that `update_p` moves towards the value
      at which the discriminator's sign on real images averages `target`.
    """

    def __init__(
        self,
        mode: str = "none",
        ops_: tuple[str, ...] | list[str] | None = None,
        translation: float = 0.125,
        cutout: float = 0.5,
        target: float = 0.6,
        speed_images: int = 50_000,
        p_max: float = 0.8,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"augment mode must be one of {MODES}, got {mode!r}")
        allowed = ADA_OPS if mode == "ada" else DIFFAUGMENT_OPS
        self.mode = mode
        self.ops_ = tuple(ops_ if ops_ is not None else allowed)
        unknown = sorted(set(self.ops_) - set(allowed))
        if unknown and mode != "none":
            raise ValueError(f"{mode} has no ops {unknown}; allowed: {allowed}")
        self.translation = translation
        self.cutout = cutout
        self.target = target
        self.speed_images = speed_images
        self.p_max = p_max
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The probability is state of the run: saved and restored with it.
        self.p = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="ada_p"
        )
        # Nothing depends on the input shape: built now, so Keras never traces
        # the whole model to build it (it does under a distribution strategy).
        self.built = True

    # --- drawing per-sample parameters -------------------------------------------

    def _uniform(self, batch, low=0.0, high=1.0, shape=()):
        return keras.random.uniform(
            (batch, *shape), low, high, seed=self.seed_generator
        )

    def _gate(self, batch, dtype):
        """1 for samples an ADA op applies to (probability p), else 0; always 1 otherwise."""
        if self.mode != "ada":
            return ops.ones((batch,), dtype)
        return ops.cast(self._uniform(batch) < ops.cast(self.p, "float32"), dtype)

    # --- the ops -----------------------------------------------------------------

    def _colour(self, x):
        batch, dtype = ops.shape(x)[0], x.dtype
        ada = self.mode == "ada"

        def factor(spread_log2, low, high):
            if ada:  # log-normal around 1, Karras et al.'s strengths
                z = keras.random.normal((batch,), seed=self.seed_generator)
                return ops.exp2(z * spread_log2)
            return self._uniform(batch, low, high)

        def per_sample(v):
            return ops.cast(v, dtype)[:, None, None, None]

        gate = per_sample(self._gate(batch, "float32"))
        if ada:
            brightness = keras.random.normal(
                (batch,), stddev=0.2, seed=self.seed_generator
            )
        else:
            brightness = self._uniform(batch, -0.5, 0.5)
        x = x + per_sample(brightness) * gate
        if x.shape[-1] > 1:
            gate = per_sample(self._gate(batch, "float32"))
            mean = ops.mean(x, axis=-1, keepdims=True)
            saturation = per_sample(factor(1.0, 0.0, 2.0))
            x = mean + (x - mean) * (gate * saturation + 1 - gate)
        gate = per_sample(self._gate(batch, "float32"))
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        contrast = per_sample(factor(0.5, 0.5, 1.5))
        return mean + (x - mean) * (gate * contrast + 1 - gate)

    def _flips(self, x):
        """ADA's x-flip and rotation by k*90 degrees, composed from flips and a transpose."""
        batch = ops.shape(x)[0]

        def choose(flag, a, b):
            return ops.where(ops.reshape(flag, (-1, 1, 1, 1)), a, b)

        if "xflip" in self.ops_:
            flip = self._gate(batch, "float32") * ops.cast(
                self._uniform(batch) < 0.5, "float32"
            )
            x = choose(flip > 0, ops.flip(x, axis=2), x)
        if "rotate90" in self.ops_:
            gate = self._gate(batch, "float32") > 0
            k = ops.cast(ops.floor(self._uniform(batch) * 4.0), "int32")
            k = ops.where(gate, k, ops.zeros_like(k))
            x = choose(k % 2 == 1, ops.transpose(x, (0, 2, 1, 3)), x)
            x = choose((k == 1) | (k == 2), ops.flip(x, axis=1), x)
            x = choose((k == 2) | (k == 3), ops.flip(x, axis=2), x)
        return x

    def _geometric(self, x):
        batch, side = ops.shape(x)[0], x.shape[1]
        dtype = x.dtype
        scale = ops.ones((batch,), dtype)
        shift_y = shift_x = ops.zeros((batch,), dtype)
        if "scale" in self.ops_:
            z = keras.random.normal((batch,), stddev=0.2, seed=self.seed_generator)
            scale = ops.cast(ops.exp2(z * self._gate(batch, "float32")), dtype)
        if "translation" in self.ops_:
            limit = round(self.translation * side)

            def shift():
                offset = ops.floor(self._uniform(batch, -limit, limit + 1))
                return ops.cast(offset * self._gate(batch, "float32"), dtype)

            shift_y, shift_x = shift(), shift()
        return resample(x, scale, shift_y, shift_x, reflect_edges=self.mode == "ada")

    def _cutout(self, x):
        batch, side = ops.shape(x)[0], x.shape[1]
        half = self.cutout * side / 2.0
        centre_y = self._uniform(batch, 0.0, float(side))
        centre_x = self._uniform(batch, 0.0, float(side))
        grid = ops.cast(ops.arange(side), "float32") + 0.5
        inside_y = ops.abs(grid[None, :] - centre_y[:, None]) < half
        inside_x = ops.abs(grid[None, :] - centre_x[:, None]) < half
        hole = inside_y[:, :, None] & inside_x[:, None, :]
        hole = hole & (self._gate(batch, "float32") > 0)[:, None, None]
        return x * ops.cast(~hole, x.dtype)[..., None]

    def call(self, images, training: bool = True):
        if self.mode == "none" or not training:
            return images
        x = images
        if self.mode == "ada":
            x = self._flips(x)
        if "translation" in self.ops_ or "scale" in self.ops_:
            x = self._geometric(x)
        if "colour" in self.ops_:
            x = self._colour(x)
        if "cutout" in self.ops_:
            x = self._cutout(x)
        return x

    # --- ADA's controller -----------------------------------------------------------

    def update_p(self, real_signs, batch_size: int):
        """Move p by batch/speed towards r_t = E[sign(D(real))] = target; returns r_t.

        `real_signs` are the discriminator's raw outputs on real images (or, for
        a critic, how far each is above the mean fake score): overfitting makes
        them all positive and pushes r_t to 1.
        """
        r_t = ops.mean(ops.sign(ops.cast(real_signs, "float32")))
        if self.mode == "ada":
            step = ops.cast(batch_size, "float32") / self.speed_images
            moved = self.p + ops.sign(r_t - self.target) * step
            self.p.assign(ops.clip(moved, 0.0, self.p_max))
        return r_t

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            mode=self.mode,
            ops_=list(self.ops_),
            translation=self.translation,
            cutout=self.cutout,
            target=self.target,
            speed_images=self.speed_images,
            p_max=self.p_max,
            seed=self.seed,
        )
        return config


__all__ = [
    "ADA_OPS",
    "DIFFAUGMENT_OPS",
    "MODES",
    "Augmenter",
    "interpolation_matrices",
    "resample",
]
