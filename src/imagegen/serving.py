"""MLflow pyfunc wrapper of a trained generator: request rows -> labelled PNG images.

Imported from inside a served model: it needs only mlflow, numpy, pandas,
Pillow and Keras (the model's pip requirements), never Kedro or the rest of
the project's dependencies.

Request rows: `seed` (integer >= 0), `n` (1..max_n), optional `label` (class
index, for class-conditional generators), `truncation` (> 0: noise values
beyond it are redrawn) and `temperature` (> 0: scales the noise). One output
row per image: base64 PNG carrying XMP provenance, plus the same provenance as
columns.

The model checks its own input (the signature declares outputs only): MLflow's
schema enforcement would cast `1.5` or `"3"` to an integer, overflow `1e30`
and drop unknown columns with a server-side warning. A request asks for at
most `max_images_per_request` images (rows x n), refused before any work, and
a served request stops generating once its time budget is spent; the
generation ledger records only images that were handed out.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import DEADLINE_EXCEEDED, INVALID_PARAMETER_VALUE

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
INTEGER_FIELDS = ("seed", "n", "label")
NUMBER_FIELDS = ("truncation", "temperature")
FIELDS = (*INTEGER_FIELDS, *NUMBER_FIELDS)
MAX_SEED = 2**63 - 1
DEFAULT_MAX_IMAGES = 256
# Request bodies: a valid one is a few hundred bytes, three levels deep.
MAX_BODY_BYTES = 1_000_000
MAX_JSON_DEPTH = 8
# Share of the scoring server's timeout (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT)
# a request may spend generating; the rest is for encoding and the answer.
TIME_BUDGET_SHARE = 0.8


class InvalidRequest(MlflowException):
    """A request is malformed or out of bounds; served as HTTP 400 with this message."""

    error_code = INVALID_PARAMETER_VALUE

    def __init__(self, message: str):
        super().__init__(message, error_code=self.error_code)

    # The scoring server rewrites `message` as "Failed to predict data '<the
    # whole request frame>'. Error: ..."; the client gets our one line only.
    @property
    def message(self) -> str:
        return self._one_line

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_one_line"):
            self._one_line = value


class RequestTimeout(InvalidRequest):
    """The request's time budget ran out: HTTP 504, nothing handed out or recorded."""

    error_code = DEADLINE_EXCEEDED


def _shown(value: Any) -> str:
    """A client's value in an error message: its JSON-like repr, bounded."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _integer(row: dict[str, Any], key: str, low: int, high: int) -> int | None:
    """`row[key]` as an int in [low, high]; None when absent. Refuses 1.5, "3", true."""
    value = row.get(key)
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise InvalidRequest(f"{key} must be an integer, got {_shown(value)}")
    if isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating) and float(value).is_integer():
        # A column with a missing value or a float elsewhere holds 2 as 2.0.
        number = int(value)
    else:
        raise InvalidRequest(f"{key} must be an integer, got {_shown(value)}")
    if not low <= number <= high:
        raise InvalidRequest(
            f"{key} must be an integer between {low} and {high}, got {_shown(value)}"
        )
    return number


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise InvalidRequest(f"{key} must be a number, got {_shown(value)}")
    return float(value)


def _as_frame(model_input: Any) -> pd.DataFrame:
    """The request as a frame: `dataframe_*` arrive as one, `inputs` as a dict."""
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        try:
            return pd.DataFrame(
                {
                    k: np.atleast_1d(np.asarray(v, dtype=object))
                    for k, v in model_input.items()
                }
            )
        except ValueError as exc:
            raise InvalidRequest(
                f"request columns must have equal lengths ({exc})"
            ) from exc
    raise InvalidRequest(
        f"request must be a table of rows with {', '.join(FIELDS)}, "
        f"got {type(model_input).__name__}"
    )


def _request_deadline() -> float | None:
    """When a served request must stop generating (None outside the scoring server)."""
    timeout = os.environ.get("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT")
    if not timeout and os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT") != "true":
        return None
    return time.monotonic() + TIME_BUDGET_SHARE * float(timeout or 60)


def _check_depth(value: Any) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidRequest(
                f"request JSON is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def checked_json(body: Any) -> Any:
    """A request body parsed as JSON, or one 400 line on why not."""
    if isinstance(body, dict):
        _check_depth(body)
        return body
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(f"request body is over {MAX_BODY_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except RecursionError as exc:
        raise InvalidRequest(
            f"request JSON is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest("request body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc
    _check_depth(parsed)
    return parsed


def guard_scoring_server() -> None:
    """Parse request bodies with `checked_json` in MLflow's scoring server.

    The server decodes the body before the model sees it: a deeply nested body
    raises RecursionError there (a bare 500) and a malformed one answers with
    the whole body echoed. Wrapping its decoder (MLflow 3.17's
    `_decode_json_input`, checked by tests/e2e/test_serving_e2e.py) is the one
    place a model can guard that; a no-op outside the server.
    """
    server = sys.modules.get("mlflow.pyfunc.scoring_server")
    decode = getattr(server, "_decode_json_input", None)
    if decode is None or getattr(decode, "imagegen_guard", False):
        return

    def guarded(json_input):
        return decode(checked_json(json_input))

    guarded.imagegen_guard = True
    guarded.__wrapped_decoder__ = decode
    server._decode_json_input = guarded


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """Generates images from a Keras generator stored as the `generator` artifact."""

    def load_context(self, context) -> None:
        import keras

        import imagegen.models  # noqa: F401  (registers the generator's layers)

        self.generator = keras.saving.load_model(
            context.artifacts["generator"], compile=False
        )
        self.configure(dict(context.model_config or {}))
        guard_scoring_server()

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.latent_dim, self.n_classes = generator_spec(self.generator)
        self.conditional = self.n_classes > 0
        self.max_n = int(config.get("max_n", 64))
        self.max_images = int(config.get("max_images_per_request", DEFAULT_MAX_IMAGES))

    def _check(self, row: dict[str, Any]) -> dict[str, Any]:
        seed = _integer(row, "seed", 0, MAX_SEED)
        n = _integer(row, "n", 1, self.max_n)
        if seed is None or n is None:
            raise InvalidRequest("each row needs integer 'seed' and 'n'")
        if self.conditional:
            label = _integer(row, "label", 0, self.n_classes - 1)
            if label is None:
                raise InvalidRequest("this model is class-conditional: give 'label'")
        elif not _missing(row.get("label")):
            raise InvalidRequest(
                "this model is not class-conditional: leave 'label' out"
            )
        else:
            label = None
        truncation = _number(row, "truncation")
        if truncation is not None and not truncation > 0:
            raise InvalidRequest(f"truncation must be > 0, got {truncation}")
        temperature = _number(row, "temperature")
        temperature = 1.0 if temperature is None else temperature
        if not 0 < temperature <= 10:
            raise InvalidRequest(f"temperature must be in (0, 10], got {temperature}")
        return {
            "seed": seed,
            "n": n,
            "label": label,
            "truncation": truncation,
            "temperature": temperature,
        }

    def check_request(self, model_input: Any) -> list[dict[str, Any]]:
        """Every row checked and the total counted before any image is drawn."""
        frame = _as_frame(model_input)
        unknown = [str(c) for c in frame.columns if c not in FIELDS]
        if unknown:
            raise InvalidRequest(
                f"unknown column(s) {', '.join(_shown(c) for c in unknown[:5])}; "
                f"allowed: {', '.join(FIELDS)}"
            )
        if len(frame) > self.max_images:  # every row asks for one image at least
            raise InvalidRequest(
                f"a request may ask for at most {self.max_images} images "
                f"(rows x n), got {len(frame)} rows"
            )
        requests = [self._check(row) for row in frame.to_dict("records")]
        total = sum(r["n"] for r in requests)
        if total > self.max_images:
            raise InvalidRequest(
                f"a request may ask for at most {self.max_images} images "
                f"(rows x n), got {total}"
            )
        return requests

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

    def generate(
        self, model_input: Any, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """One dict per image: PNG bytes (with XMP) and its provenance.

        Generates row by row (at most `max_n` images at a time) and stops with
        RequestTimeout once `deadline` (time.monotonic()) has passed.
        """
        requests = self.check_request(model_input)
        generated_at = datetime.now(UTC).isoformat(timespec="seconds")
        images = []
        for number, request in enumerate(requests):
            _within(deadline)
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

    # Annotated as a frame (MLflow reads the hint); `inputs` requests arrive as a dict.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        deadline = _request_deadline()
        # Entry id, XMP with it and the C2PA signature on the bytes handed out.
        images = mark_images(self.generate(model_input, deadline))
        _within(deadline)  # past it the client has had its 504: record nothing
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


def _within(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise RequestTimeout(
            "the request's time budget ran out; ask for fewer images per request"
        )


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
