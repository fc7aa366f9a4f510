"""MLflow pyfunc wrapper of a trained generator: request rows -> labelled PNG images.

Imported from inside a served model: it needs only mlflow, numpy, pandas,
Pillow and Keras (the model's pip requirements), never Kedro or the rest of
the project's dependencies.

Request rows: `seed` (int >= 0), `n` (1..max_n), optional `label` (class index,
for class-conditional generators), `truncation` (> 0: noise values beyond it
are redrawn) and `temperature` (> 0: scales the noise). One output row per
image: base64 PNG carrying XMP provenance, plus the same provenance as columns.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from imagegen.models.sampling import generate_images, generator_spec, latent_noise
from imagegen.provenance.generation_ledger import record_images_in_background
from imagegen.provenance.marking import mark_images
from imagegen.provenance.xmp import TRAINED_ALGORITHMIC_MEDIA, encode_png_with_xmp

DIGITAL_SOURCE_TYPE = TRAINED_ALGORITHMIC_MEDIA
OUTPUT_COLUMNS = [
    "request",
    "seed",
    "index",
    "label",
    "png_base64",
    "width",
    "height",
    "digital_source_type",
    "model_name",
    "run_id",
    "dataset_digest",
    "generated_at",
    "entry_id",
]


class InvalidRequest(MlflowException):
    """A request row is out of bounds; served as HTTP 400 with this message."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def _optional(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """Generates images from a Keras generator stored as the `generator` artifact."""

    def load_context(self, context) -> None:
        import keras

        import imagegen.models  # noqa: F401  (registers the generator's layers)

        self.generator = keras.saving.load_model(
            context.artifacts["generator"], compile=False
        )
        self.configure(dict(context.model_config or {}))

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.latent_dim, self.n_classes = generator_spec(self.generator)
        self.conditional = self.n_classes > 0
        self.max_n = int(config.get("max_n", 64))

    def _check(self, row: dict[str, Any]) -> dict[str, Any]:
        try:
            seed, n = int(row["seed"]), int(row["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest("each row needs integer 'seed' and 'n'") from exc
        if seed < 0:
            raise InvalidRequest(f"seed must be >= 0, got {seed}")
        if not 1 <= n <= self.max_n:
            raise InvalidRequest(f"n must be between 1 and {self.max_n}, got {n}")
        label = _optional(row, "label")
        if self.conditional:
            if label is None:
                raise InvalidRequest("this model is class-conditional: give 'label'")
            label = int(label)
            if not 0 <= label < self.n_classes:
                raise InvalidRequest(
                    f"label must be between 0 and {self.n_classes - 1}, got {label}"
                )
        elif label is not None:
            raise InvalidRequest(
                "this model is not class-conditional: leave 'label' out"
            )
        truncation = _optional(row, "truncation")
        if truncation is not None and not float(truncation) > 0:
            raise InvalidRequest(f"truncation must be > 0, got {truncation}")
        temperature = _optional(row, "temperature")
        temperature = 1.0 if temperature is None else float(temperature)
        if not 0 < temperature <= 10:
            raise InvalidRequest(f"temperature must be in (0, 10], got {temperature}")
        return {
            "seed": seed,
            "n": n,
            "label": label,
            "truncation": None if truncation is None else float(truncation),
            "temperature": temperature,
        }

    def images_for(self, request: dict[str, Any]) -> np.ndarray:
        noise = latent_noise(
            request["seed"],
            request["n"],
            self.latent_dim,
            request["truncation"],
            request["temperature"],
        )
        labels = (
            np.full((request["n"],), request["label"]) if self.conditional else None
        )
        return generate_images(self.generator, noise, labels)

    def generate(self, model_input: pd.DataFrame) -> list[dict[str, Any]]:
        """One dict per image: PNG bytes (with XMP) and its provenance."""
        requests = [self._check(row) for row in model_input.to_dict("records")]
        generated_at = datetime.now(UTC).isoformat(timespec="seconds")
        images = []
        for number, request in enumerate(requests):
            for index, image in enumerate(self.images_for(request)):
                provenance = {
                    "model_name": self.config.get("model_name", ""),
                    "run_id": self.config.get("run_id", ""),
                    "dataset_digest": self.config.get("dataset_digest", ""),
                    "seed": request["seed"],
                    "index": index,
                    "label": request["label"],
                    "truncation": request["truncation"],
                    "temperature": request["temperature"],
                    "generated_at": generated_at,
                }
                images.append(
                    {
                        "request": number,
                        "png": encode_png_with_xmp(image, provenance),
                        "width": int(image.shape[1]),
                        "height": int(image.shape[0]),
                        **provenance,
                    }
                )
        return images

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        # Entry id, XMP with it and the C2PA signature on the bytes handed out.
        images = mark_images(self.generate(model_input))
        if self.config.get("record", True):
            record_images_in_background(
                [i["png"] for i in images],
                [ledger_fields(i, source="serving") for i in images],
            )
        rows = [
            {
                **{k: image[k] for k in OUTPUT_COLUMNS if k in image},
                "label": -1 if image["label"] is None else image["label"],
                "png_base64": base64.b64encode(image["png"]).decode("ascii"),
                "digital_source_type": DIGITAL_SOURCE_TYPE,
            }
            for image in images
        ]
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def ledger_fields(image: dict[str, Any], source: str) -> dict[str, Any]:
    keys = (
        "model_name",
        "model_version",
        "run_id",
        "dataset_digest",
        "seed",
        "index",
        "label",
        "truncation",
        "temperature",
        "generated_at",
        "entry_id",
    )
    return {"source": source, **{k: image.get(k) for k in keys}}
