"""Images from a registered model, each labelled with XMP provenance."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pandas as pd

import imagegen
from imagegen.provenance.audit import resolve_version
from imagegen.provenance.xmp import png_with_xmp


def generate_images(model_ref: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` images from NAME@ALIAS or NAME/VERSION; PNG bytes with provenance each."""
    import mlflow
    from mlflow import MlflowClient

    version = resolve_version(MlflowClient(), model_ref)
    model = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    rows = model.predict(pd.DataFrame({"seed": [int(seed)], "n": [int(n)]}))
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    images = []
    for row in rows.to_dict("records"):
        provenance = {
            "model_name": version.name,
            "model_version": str(version.version),
            "run_id": version.run_id,
            "seed": int(row["seed"]),
            "index": int(row["index"]),
            "dataset_digest": row.get("dataset_digest")
            or version.tags.get("dataset_digest", ""),
            "generated_at": generated_at,
            "tool_version": imagegen.__version__,
        }
        png = png_with_xmp(base64.b64decode(row["png_base64"]), provenance)
        name = (
            f"{version.name}-v{version.version}-seed{seed}-{int(row['index']):04d}.png"
        )
        images.append({"filename": name, "png": png, **provenance})
    return images
