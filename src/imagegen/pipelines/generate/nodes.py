"""Generate nodes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from imagegen.pipelines.generate.registered import images_from_registry


def generate_labelled_images(
    params: dict[str, Any],
) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Images from `generate.model`, each PNG carrying its provenance, plus a manifest."""
    images = images_from_registry(params["model"], params["n"], params["seed"])
    files = {image["filename"].removesuffix(".png"): image["png"] for image in images}
    manifest = pd.DataFrame(
        [{k: v for k, v in i.items() if k != "png"} for i in images]
    )
    return files, manifest
