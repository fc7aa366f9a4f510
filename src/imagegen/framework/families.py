"""The model families: one entry each, read by the parameters, `models` and the loop.

An entry names the family's parameter block (`training.<name>`), its
`keras.Model` class (by import path: the class is loaded on use, so validating
parameters never imports TensorFlow) and what the training loop needs to know
of it: whether it is adversarial (a discriminator or critic with its own
optimiser, the augmentation of `training.augment`, the EMA generator of
`training.ema_decay`) and which Adam settings its block holds.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from imagegen.framework.schema import Strict


class DCGANParams(Strict):
    generator_filters: int = Field(gt=0)
    discriminator_filters: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    # null: the generator's learning rate (two-time-scale when different).
    discriminator_learning_rate: float | None = Field(default=None, gt=0)
    beta_1: float = Field(ge=0, lt=1)
    architecture: Literal["dcgan", "resize"] = "dcgan"
    loss: Literal["bce", "hinge"] = "bce"
    dropout: float = Field(default=0.3, ge=0, lt=1)
    spectral_norm: bool = False
    minibatch_std: bool = False


class CGANParams(DCGANParams):
    embedding_dim: int = Field(gt=0)


class WGANGPParams(Strict):
    generator_filters: int = Field(gt=0)
    critic_filters: int = Field(gt=0)
    n_critic: int = Field(ge=1, le=20)
    gp_weight: float = Field(ge=0)
    learning_rate: float = Field(gt=0)
    discriminator_learning_rate: float | None = Field(default=None, gt=0)
    beta_1: float = Field(ge=0, lt=1)
    beta_2: float = Field(ge=0, lt=1)
    architecture: Literal["dcgan", "resize"] = "dcgan"


class VAEParams(Strict):
    filters: int = Field(gt=0)
    beta: float = Field(ge=0)
    learning_rate: float = Field(gt=0)


# Keys of a family's block that configure its optimisers, not the model.
OPTIMISER_KEYS = ("learning_rate", "discriminator_learning_rate", "beta_1", "beta_2")


@dataclass(frozen=True)
class ModelFamily:
    """One family: its parameter block, its model class and how it is trained."""

    name: str
    params: type[Strict]
    model_path: str  # "module:Class"
    adversarial: bool
    adam_betas: tuple[str, ...]

    def model_class(self) -> Any:
        """The family's `keras.Model` subclass (imports Keras)."""
        module, _, name = self.model_path.partition(":")
        return getattr(importlib.import_module(module), name)


FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            "dcgan", DCGANParams, "imagegen.models.dcgan:DCGAN", True, ("beta_1",)
        ),
        ModelFamily("cgan", CGANParams, "imagegen.models.cgan:CGAN", True, ("beta_1",)),
        ModelFamily(
            "wgan_gp",
            WGANGPParams,
            "imagegen.models.wgan_gp:WGANGP",
            True,
            ("beta_1", "beta_2"),
        ),
        ModelFamily("vae", VAEParams, "imagegen.models.vae:VAE", False, ()),
    )
}
MODEL_NAMES = tuple(FAMILIES)
