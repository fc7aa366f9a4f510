"""MLflow pyfunc wrapper of a trained generator: (seed, n) -> PNG images.

Imported from inside a served model: keep it free of Kedro and of the rest of
the project so the model loads with only its pip requirements.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from PIL import Image

DIGITAL_SOURCE_TYPE = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
OUTPUT_COLUMNS = [
    "request",
    "seed",
    "index",
    "png_base64",
    "width",
    "height",
    "digital_source_type",
    "model_name",
    "run_id",
    "dataset_digest",
]


class InvalidRequest(ValueError):
    """A request row is out of bounds; the message says which field and why."""


def latent_noise(seed: int, n: int, latent_dim: int) -> np.ndarray:
    """Noise for `n` images from `seed`: NumPy's PCG64, the same on every backend."""
    return (
        np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    )


def encode_png(image: np.ndarray) -> bytes:
    """float [-1, 1] (h, w, c) -> PNG bytes."""
    pixels = np.clip(np.round((image + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """Generates images from a Keras generator stored as the `generator` artifact."""

    def load_context(self, context) -> None:
        import keras

        self.generator = keras.saving.load_model(
            context.artifacts["generator"], compile=False
        )
        self.config: dict[str, Any] = dict(context.model_config or {})
        self.latent_dim = int(self.generator.input_shape[-1])
        self.max_n = int(self.config.get("max_n", 64))

    def _check(self, row: dict[str, Any]) -> tuple[int, int]:
        try:
            seed, n = int(row["seed"]), int(row["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest("each row needs integer 'seed' and 'n'") from exc
        if seed < 0:
            raise InvalidRequest(f"seed must be >= 0, got {seed}")
        if not 1 <= n <= self.max_n:
            raise InvalidRequest(f"n must be between 1 and {self.max_n}, got {n}")
        return seed, n

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        rows = []
        for request, row in enumerate(model_input.to_dict("records")):
            seed, n = self._check(row)
            images = np.asarray(
                self.generator(latent_noise(seed, n, self.latent_dim), training=False)
            )
            for index, image in enumerate(images):
                rows.append(
                    {
                        "request": request,
                        "seed": seed,
                        "index": index,
                        "png_base64": base64.b64encode(encode_png(image)).decode(
                            "ascii"
                        ),
                        "width": int(image.shape[1]),
                        "height": int(image.shape[0]),
                        "digital_source_type": DIGITAL_SOURCE_TYPE,
                        "model_name": self.config.get("model_name", ""),
                        "run_id": self.config.get("run_id", ""),
                        "dataset_digest": self.config.get("dataset_digest", ""),
                    }
                )
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
