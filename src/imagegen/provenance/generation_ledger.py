"""The generation ledger: every generated image, hash-chained like the lineage ledger.

One entry per image: SHA-256 of the PNG bytes handed out, its perceptual hash,
the model (name, version when known, run id), seed, index, label, sampling
parameters and time. Written by `imagegen generate`, the `generate` pipeline
and the served pyfunc model. Location: `$IMAGEGEN_GENERATION_LEDGER`, else
`data/09_lineage/generation_ledger.jsonl` under the current directory; set the
variable to `off` to record nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

from imagegen.provenance.ledger import Ledger
from imagegen.provenance.phash import hamming, phash_batch

ENV = "IMAGEGEN_GENERATION_LEDGER"
DEFAULT = "data/09_lineage/generation_ledger.jsonl"
# pHash bits that may differ after resizing, re-encoding or stripping metadata.
MAX_PHASH_DISTANCE = 10


def ledger_path() -> Path | None:
    value = os.environ.get(ENV, "").strip()
    if value.lower() == "off":
        return None
    return Path(value) if value else Path(DEFAULT)


def record_images(
    pngs: list[bytes], provenance: list[dict[str, Any]], path: Path | None = None
) -> list[dict[str, Any]]:
    """Append one entry per PNG (all in one locked write); return the entries."""
    target = path if path is not None else ledger_path()
    if target is None or not pngs:
        return []
    images = [Image.open(io.BytesIO(png)) for png in pngs]
    hashes = phash_batch(images)
    records = [
        {
            "kind": "generation",
            "image_sha256": hashlib.sha256(png).hexdigest(),
            "phash": phash,
            **{k: v for k, v in meta.items() if v is not None},
        }
        for png, phash, meta in zip(pngs, hashes, provenance, strict=True)
    ]
    return Ledger(target).append_many(records)


def find_image(
    image_bytes: bytes, path: Path | None = None, max_distance: int = MAX_PHASH_DISTANCE
) -> dict[str, Any] | None:
    """The ledger entry of an image: by exact SHA-256, else by nearest pHash.

    Returns the entry plus `match` ("exact" or "perceptual") and `distance`.
    """
    target = path if path is not None else ledger_path()
    if target is None or not Path(target).exists():
        return None
    digest = hashlib.sha256(image_bytes).hexdigest()
    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        query = phash_batch([image])[0]
    best, best_distance = None, max_distance + 1
    for entry in Ledger(target).entries():
        if entry.get("kind") != "generation":
            continue
        if entry.get("image_sha256") == digest:
            return {**entry, "match": "exact", "distance": 0}
        distance = hamming(entry.get("phash", "0"), query)
        if distance < best_distance:
            best, best_distance = entry, distance
    if best is None:
        return None
    return {**best, "match": "perceptual", "distance": best_distance}
