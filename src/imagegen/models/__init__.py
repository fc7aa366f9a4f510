"""Keras 3 generative models: DCGAN, conditional GAN, WGAN-GP, VAE."""

from __future__ import annotations

from imagegen.framework.families import FAMILIES
from imagegen.models.base import GenerativeModel
from imagegen.models.cgan import CGAN
from imagegen.models.dcgan import DCGAN
from imagegen.models.sampling import generate_images, generator_spec, latent_noise
from imagegen.models.vae import VAE
from imagegen.models.wgan_gp import WGANGP

# From the one registry of families (imagegen.framework.families).
MODEL_CLASSES: dict[str, type[GenerativeModel]] = {
    name: family.model_class() for name, family in FAMILIES.items()
}

__all__ = [
    "CGAN",
    "DCGAN",
    "MODEL_CLASSES",
    "VAE",
    "WGANGP",
    "GenerativeModel",
    "generate_images",
    "generator_spec",
    "latent_noise",
]
