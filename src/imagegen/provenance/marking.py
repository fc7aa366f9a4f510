"""Marking of images handed out: entry id, watermark, XMP label, C2PA signature.

One function for every path that hands images out (`imagegen generate`, the
generate pipeline, the served model), so that all carry the same layers. The
entry id is drawn before the image is written because the XMP packet and the
signed manifest carry it, and the ledger records the final bytes' SHA-256.
The watermark (outputs of 64x64 and larger) goes in first, so the signature
binds the watermarked pixels.
"""

from __future__ import annotations

import secrets
from typing import Any

from imagegen.provenance.content_credentials import sign_image
from imagegen.provenance.watermark import mark_png
from imagegen.provenance.xmp import png_with_xmp


def new_entry_id() -> str:
    """64 random bits as 16 hex digits: ids stay unique across processes and hosts."""
    return secrets.token_hex(8)


def mark_images(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each image (dict with `png` and provenance) an id, mark, XMP and signature."""
    for image in images:
        image.setdefault("entry_id", new_entry_id())
        marked = mark_png(image["png"], image["entry_id"])
        image["png"] = sign_image(png_with_xmp(marked, image), image)
    return images
