"""Keras 3 generative models: DCGAN, conditional GAN, WGAN-GP, VAE."""

from __future__ import annotations

from imagegen.models.base import GenerativeModel
from imagegen.models.cgan import CGAN
from imagegen.models.dcgan import DCGAN
from imagegen.models.vae import VAE
from imagegen.models.wgan_gp import WGANGP
from imagegen.sampling import generate_images, generator_spec, latent_noise

MODEL_CLASSES: dict[str, type[GenerativeModel]] = {
    "dcgan": DCGAN,
    "cgan": CGAN,
    "wgan_gp": WGANGP,
    "vae": VAE,
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
