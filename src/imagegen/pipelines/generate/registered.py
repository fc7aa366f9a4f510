"""Images from a registered model version, each with XMP and (when configured) C2PA.

What `imagegen generate` and the generate pipeline hand out: PNG bytes with
provenance, recorded in the generation ledger. (Drawing arrays from a Keras
generator is `imagegen.models.sampling.generate_images`.)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import imagegen
from imagegen.provenance.audit import resolve_version
from imagegen.provenance.marking import mark_images


def images_from_registry(
    model_ref: str, n: int, seed: int, source: str = "cli", **options: Any
) -> list[dict[str, Any]]:
    """`n` images from NAME@ALIAS or NAME/VERSION; PNG bytes with provenance each.

    Every image is recorded in the generation ledger with the bytes handed out.
    """
    from mlflow import MlflowClient

    from imagegen.provenance.generation_ledger import record_images
    from imagegen.registry import load_verified_model
    from imagegen.serving import ledger_fields

    client = MlflowClient()
    version = resolve_version(client, model_ref)
    # Files checked against the version's digest tags before anything is unpickled.
    model = load_verified_model(client, version.name, str(version.version))
    request = pd.DataFrame({"seed": [int(seed)], "n": [int(n)]})
    for key, value in options.items():
        if value is not None:
            request[key] = [value]
    images = model.unwrap_python_model().generate(request)
    for image in images:
        image.update(
            model_name=version.name,
            model_version=str(version.version),
            run_id=version.run_id,
            dataset_digest=image.get("dataset_digest")
            or version.tags.get("dataset_digest", ""),
            tool_version=imagegen.__version__,
        )
        image["filename"] = (
            f"{version.name}-v{version.version}-seed{seed}-{int(image['index']):04d}.png"
        )
    mark_images(images)  # entry id, XMP, C2PA signature when a signer is configured
    record_images(
        [i["png"] for i in images], [ledger_fields(i, source) for i in images]
    )
    return images
