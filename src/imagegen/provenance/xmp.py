"""XMP provenance for generated images: IPTC digital source type plus model lineage.

The packet is written by hand (a few attributes on one rdf:Description) and
embedded with Pillow as the PNG iTXt chunk `XML:com.adobe.xmp`, which exiftool
and exiv2 read. It is parsed back with defusedxml (no entities, no DTDs).
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, PngImagePlugin

from imagegen.images import to_uint8

TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "imagegen": "https://imagegen.dev/ns/provenance/1.0/",
}
# XMP property (imagegen namespace) -> provenance key.
FIELDS = {
    "ModelName": "model_name",
    "ModelVersion": "model_version",
    "RunId": "run_id",
    "Seed": "seed",
    "Index": "index",
    "DatasetDigest": "dataset_digest",
    "GeneratedAt": "generated_at",
    "EntryId": "entry_id",
}
XMP_KEY = "XML:com.adobe.xmp"
MAX_XMP_BYTES = 1 << 20


def build_xmp(provenance: dict[str, Any]) -> str:
    """An XMP packet for one generated image."""
    attributes = [
        f"Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)}",
        f"xmp:CreatorTool={quoteattr('imagegen ' + str(provenance.get('tool_version', '')))}",
    ]
    for prop, key in FIELDS.items():
        if provenance.get(key) not in (None, ""):
            attributes.append(f"imagegen:{prop}={quoteattr(str(provenance[key]))}")
    namespaces = " ".join(
        f'xmlns:{p}="{u}"' for p, u in NS.items() if p not in ("x", "rdf")
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="{NS["x"]}"><rdf:RDF xmlns:rdf="{NS["rdf"]}">'
        f'<rdf:Description rdf:about="" {namespaces} ' + " ".join(attributes) + "/>"
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _save_png(image: Image.Image, provenance: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_KEY, build_xmp(provenance), zip=False)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def png_with_xmp(png: bytes, provenance: dict[str, Any]) -> bytes:
    """Re-encode PNG bytes with the provenance packet (pixels unchanged)."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return _save_png(image, provenance)


def encode_png_with_xmp(image: np.ndarray, provenance: dict[str, Any]) -> bytes:
    """float [-1, 1] (h, w, c) image -> PNG bytes carrying the provenance packet."""
    pixels = to_uint8(np.asarray(image, dtype=np.float32))  # NaN as black
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return _save_png(Image.fromarray(pixels), provenance)


def parse_xmp(packet: str | bytes) -> dict[str, str]:
    """Provenance keys found in an XMP packet (attribute or element form)."""
    from defusedxml import ElementTree  # hardened: no entities, no DTDs

    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", errors="replace")
    if len(packet) > MAX_XMP_BYTES:
        raise ValueError("XMP packet over 1 MiB")
    start = packet.find("<x:xmpmeta")
    end = packet.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    root = ElementTree.fromstring(packet[start : end + len("</x:xmpmeta>")])
    found: dict[str, str] = {}
    iptc = f"{{{NS['Iptc4xmpExt']}}}DigitalSourceType"
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        values = dict(description.attrib)
        values.update({child.tag: (child.text or "") for child in description})
        if iptc in values:
            found["digital_source_type"] = values[iptc]
        for prop, key in FIELDS.items():
            tag = f"{{{NS['imagegen']}}}{prop}"
            if tag in values:
                found[key] = values[tag]
    return found


def read_png_provenance(path) -> dict[str, str]:
    """Provenance from an image file's XMP; {} when it has none."""
    with Image.open(path) as image:
        # PNG iTXt, or the XMP Pillow reads from JPEG APP1 / WebP / TIFF.
        packet = image.info.get(XMP_KEY) or image.info.get("xmp")
    return parse_xmp(packet) if packet else {}
