"""Readers of the rights metadata a work carries: XMP, SVG RDF, EXIF, IPTC, C2PA.

Each reader takes bytes (or a decoded Pillow image) that the caller has
already size-checked, and returns a `Metadata` for one source. XML is parsed
with defusedxml (no DTD in XMP, no entity declarations anywhere, no external
references), so entity text never reaches the result. Properties are matched
by namespace URI, not by prefix: `cc:license` is found under Open Clip Art's
`http://web.resource.org/cc/` as well as `http://creativecommons.org/ns#`.

Pillow extracts the raw packets (PNG iTXt `XML:com.adobe.xmp`, JPEG APP1,
WebP `XMP ` chunk, TIFF tag 700); parsing them here rather than with exiv2
keeps matching namespace-aware and the parser hardened.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
CC_NAMESPACES = ("http://creativecommons.org/ns#", "http://web.resource.org/cc/")
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
TDMREP = "http://www.w3.org/ns/tdmrep/"
EXIF_XMP = "http://ns.adobe.com/exif/1.0/"
SVG = "http://www.w3.org/2000/svg"

# Opt-out signal names, as written after `opt_out:` in a reason.
IPTC_DATA_MINING = "iptc_data_mining"
TDM_RESERVATION = "tdm_reservation"
C2PA_TRAINING_MINING = "c2pa_training_mining"
TAKEDOWN = "takedown"  # the raw folder's takedown.txt names the work
# Every opt-out signal curation reads, in the order a reason names the first found.
OPT_OUT_SIGNALS = (TAKEDOWN, IPTC_DATA_MINING, TDM_RESERVATION, C2PA_TRAINING_MINING)

MAX_TEXT = 300  # characters kept of any text read from a file

# PLUS `DataMining` values (http://ns.useplus.org/ldf/vocab/DMI-*) that do not
# reserve training; every other value, recognised or not, is an opt-out.
_DMI_NOT_RESERVED = frozenset({"DMI-ALLOWED", "DMI-UNSPECIFIED"})
# C2PA 1.x / CAWG training-and-data-mining entries that cover model training.
_C2PA_TRAINING_ENTRIES = frozenset(
    f"{prefix}.{entry}"
    for prefix in ("c2pa", "cawg")
    for entry in ("ai_training", "ai_generative_training", "data_mining")
)
_C2PA_TRAINING_LABELS = frozenset({"c2pa.training-mining", "cawg.training-mining"})
_C2PA_RESERVED_USES = frozenset({"notAllowed", "constrained"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Bidi overrides/isolates and zero-width characters: removed, so that
# "invoice\u202egnp.exe" cannot display as "invoiceexe.png" anywhere.
_INVISIBLE = re.compile(r"[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# OWASP CSV injection: a cell a spreadsheet would read as a formula.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r]")
# Served with our HTML reports: no script, no remote resource, no form target.
CSP_META = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'\">"
)
_SPACES = re.compile(r"\s+")
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+!|]")


class MetadataError(ValueError):
    """A metadata block is over the size limit or cannot be parsed safely.

    `code` is the detail of the `corrupt:` reason: `metadata_too_large` or
    `metadata_unreadable`. The message never repeats file content.
    """

    def __init__(self, code: str, source: str):
        super().__init__(f"{source}: {code}")
        self.code = code
        self.source = source


@dataclass
class Metadata:
    """What one metadata source says about a work (all text cleaned)."""

    source: str
    licences: list[str] = field(default_factory=list)
    creator: str = ""
    title: str = ""
    source_url: str = ""
    opt_out: list[str] = field(default_factory=list)
    gps: bool = False

    def is_empty(self) -> bool:
        return not (
            self.licences
            or self.creator
            or self.title
            or self.source_url
            or self.opt_out
            or self.gps
        )


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """One line of printable text, at most `limit` characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _SPACES.sub(" ", _CONTROL.sub(" ", _INVISIBLE.sub("", str(value)))).strip()
    return text[:limit]


def html_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Text read from a file, for an HTML page: one bounded line, HTML-escaped."""
    return html.escape(clean_text(value, limit), quote=True)


def markdown_link(url: Any, limit: int = MAX_TEXT) -> str:
    """A Markdown autolink for an http(s) URL; any other URL as escaped text."""
    text = clean_text(url, limit)
    if re.fullmatch(r"https?://[^\s<>\\\[\]()`|]+", text):
        return f"<{text}>"
    return markdown_text(text, limit)


def plot_text(value: Any, limit: int = 80) -> str:
    """Text read from a file, for a figure (`plots.py` turns mathtext off)."""
    return clean_text(value, limit)


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: `'` before a leading = + - @ tab or CR.

    Reversible (`restore_csv_cell`): a value already starting with `'` and
    one of those characters gets one more `'`.
    """
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def restore_csv_cell(value: Any) -> Any:
    """The value `csv_cell` was given."""
    if isinstance(value, str) and _NEUTRALISED.match(value):
        return value[1:]
    return value


def csv_safe(frame):
    """A copy of `frame` whose text cells are `csv_cell`-neutralised (for people)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(csv_cell)
    return out


def csv_restored(frame):
    """A frame read from a `csv_safe` CSV, with its original values."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(restore_csv_cell)
    return out


def markdown_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Text read from a file, shown as text: one bounded line, Markdown and HTML
    characters escaped (a `|` cannot split a table cell, `<script>` is not HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\g<0>", clean_text(value, limit))


# --- opt-out vocabularies -----------------------------------------------------------


def data_mining_opts_out(value: str) -> bool:
    """Whether a PLUS `DataMining` value reserves AI/ML training or data mining."""
    token = value.strip().rstrip("/").rsplit("/", 1)[-1]
    return bool(token) and token.upper() not in _DMI_NOT_RESERVED


def tdm_reservation_opts_out(value: str) -> bool:
    """Whether a TDMRep `tdm:reservation` value reserves text and data mining.

    TDMRep defines 0 (not reserved) and 1 (reserved); anything else is read as
    reserved, since a right holder wrote something there.
    """
    token = value.strip().lower()
    return bool(token) and token not in {"0", "false"}


def c2pa_opts_out(manifest_store: dict) -> bool:
    """Whether any manifest holds a training-and-data-mining assertion reserving training.

    Entries `*.ai_training`, `*.ai_generative_training` and `*.data_mining` with
    use `notAllowed` (or `constrained`, whose constraints a pipeline cannot
    check) are opt-outs. Every manifest counts, not only the active one: an
    ingredient's reservation carries over to the works made from it.
    """
    for manifest in (manifest_store.get("manifests") or {}).values():
        for assertion in manifest.get("assertions") or []:
            label = re.sub(r"\.v\d+$", "", str(assertion.get("label", "")))
            if label not in _C2PA_TRAINING_LABELS:
                continue
            entries = (assertion.get("data") or {}).get("entries") or {}
            for name, entry in entries.items():
                use = entry.get("use") if isinstance(entry, dict) else None
                if name in _C2PA_TRAINING_ENTRIES and use in _C2PA_RESERVED_USES:
                    return True
    return False


# --- RDF (XMP packets, SVG metadata, sidecars) ---------------------------------------


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


_RDF_RDF = _q(RDF, "RDF")
_RDF_LI = _q(RDF, "li")
_RDF_RESOURCE = _q(RDF, "resource")
_RDF_CONTAINERS = {_q(RDF, "Alt"), _q(RDF, "Seq"), _q(RDF, "Bag")}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DC_TITLE = _q(DC, "title")

_LICENCE_PROPS = {
    *(_q(ns, "license") for ns in CC_NAMESPACES),
    _q(XMP_RIGHTS, "WebStatement"),
    _q(XMP_RIGHTS, "UsageTerms"),
    _q(DC, "rights"),
}


def _values(prop: Element) -> list[str]:
    """The values of one RDF property element (resource, container items or text)."""
    if resource := prop.get(_RDF_RESOURCE):
        return [resource]
    values = []
    for child in prop:
        if child.tag in _RDF_CONTAINERS:
            items = list(child.iter(_RDF_LI))
            # Language alternatives: the default language first.
            items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")
            values.extend(v for li in items for v in _values(li))
        elif child.tag != _RDF_LI:
            # A node such as cc:Agent: its name is its dc:title.
            values.extend(v for t in child.iter(_DC_TITLE) for v in _values(t))
    if not values and prop.text and prop.text.strip():
        values.append(prop.text)
    # Each value cleaned once (a hot path: every RDF property of every work).
    cleaned = (clean_text(v) for v in values)
    return [v for v in cleaned if v]


def _is_agent(prop: Element) -> bool:
    return any(child.tag not in _RDF_CONTAINERS for child in prop)


def _properties(node: Element) -> list[tuple[str, Element | str]]:
    """(tag, element or attribute value) of every property of an RDF node."""
    found: list[tuple[str, Element | str]] = [
        (key, value)
        for key, value in node.attrib.items()
        if not key.startswith(f"{{{RDF}}}") and key != _XML_LANG
    ]
    for prop in node:
        found.append((prop.tag, prop))
        # rdf:parseType="Resource" and nested descriptions hold more properties.
        for nested in prop:
            if nested.tag == _q(RDF, "Description"):
                found.extend(_properties(nested))
    return found


def metadata_from_rdf(root: Element, source: str) -> Metadata:
    """Licence, creator, title, source and opt-outs from every RDF node under `root`."""
    meta = Metadata(source=source)
    creators: list[str] = []
    for rdf in root.iter(_RDF_RDF):
        for node in rdf:
            for tag, value in _properties(node):
                _apply(meta, creators, tag, value)
    meta.creator = clean_text("; ".join(dict.fromkeys(creators)))
    meta.opt_out = sorted(set(meta.opt_out))
    return meta


def _apply(meta: Metadata, creators: list[str], tag: str, value: Element | str) -> None:
    values = [clean_text(value)] if isinstance(value, str) else _values(value)
    values = [v for v in values if v]
    if not values:
        return
    if tag in _LICENCE_PROPS:
        # dc:rights holding an agent (as in Open Clip Art) names the rights
        # holder, not a licence.
        if tag == _q(DC, "rights") and isinstance(value, Element) and _is_agent(value):
            return
        meta.licences.extend(v for v in values if v not in meta.licences)
    elif tag == _q(DC, "creator"):
        creators.extend(values)
    elif tag == _DC_TITLE and not meta.title:
        meta.title = values[0]
    elif tag == _q(DC, "source") and not meta.source_url:
        meta.source_url = values[0]
    elif tag == _q(PLUS, "DataMining"):
        if any(data_mining_opts_out(v) for v in values):
            meta.opt_out.append(IPTC_DATA_MINING)
    elif tag == _q(TDMREP, "reservation"):
        if any(tdm_reservation_opts_out(v) for v in values):
            meta.opt_out.append(TDM_RESERVATION)
    elif tag in (_q(EXIF_XMP, "GPSLatitude"), _q(EXIF_XMP, "GPSLongitude")):
        meta.gps = True


def read_xmp(packet: bytes | str, source: str, limit: int) -> Metadata:
    """Parse one XMP packet (embedded or sidecar); raise MetadataError when unsafe."""
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "surrogateescape")
    if len(packet) > limit:
        raise MetadataError("metadata_too_large", source)
    try:
        # XMP never needs a DTD: refuse one outright.
        root = SafeET.fromstring(packet.strip(b"\x00 \t\r\n"), forbid_dtd=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise MetadataError("metadata_unreadable", source) from exc
    return metadata_from_rdf(root, source)


class _BoundedReader(io.RawIOBase):
    """A binary stream that ends after `limit` bytes and says whether more were left.

    Each read returns at most `chunk` bytes: `iterparse` asks for 16 KiB at a
    time and parses all of it before it yields, while an Open Clip Art SVG's
    metadata ends within its first 3 KiB (small reads stop the parse there).
    """

    def __init__(self, stream, limit: int, chunk: int = 1024):
        self._stream, self._left, self.truncated = stream, limit, False
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            self.truncated = self.truncated or bool(self._stream.read(1))
            return b""
        want = min(self._chunk, self._left)
        if size is not None and size >= 0:
            want = min(size, want)
        data = self._stream.read(want)
        self._left -= len(data)
        return data


def read_svg_rdf(stream, source: str, limit: int) -> Metadata:
    """RDF metadata of an SVG (Open Clip Art style `cc:Work`) from a binary stream.

    The document is parsed only up to the end of its first `<metadata>`
    element, and at most `limit` bytes of it; a DOCTYPE is allowed (SVG files
    carry one) but no entity declaration.
    """
    if isinstance(stream, bytes | bytearray):
        stream = io.BytesIO(stream)
    bounded = _BoundedReader(stream, limit)
    # Inkscape writes the SVG namespace; many older files have none.
    metadata_tags = {_q(SVG, "metadata"), "metadata"}
    try:
        for _, element in SafeET.iterparse(bounded, events=("end",)):
            if element.tag in metadata_tags:
                return metadata_from_rdf(element, source)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        if bounded.truncated and isinstance(exc, ParseError):
            raise MetadataError("metadata_too_large", source) from exc
        raise MetadataError("metadata_unreadable", source) from exc
    return Metadata(source=source)


# --- EXIF / IPTC (through Pillow) ----------------------------------------------------

_EXIF_ARTIST, _EXIF_COPYRIGHT, _EXIF_GPS_IFD = 0x013B, 0x8298, 0x8825
_IPTC_TITLE, _IPTC_BYLINE, _IPTC_COPYRIGHT = (2, 5), (2, 80), (2, 116)


def read_exif(image, limit: int) -> Metadata:
    """Artist, Copyright and whether GPS position is present, from EXIF."""
    meta = Metadata(source="exif")
    raw = image.info.get("exif")
    if raw is not None and len(raw) > limit:
        raise MetadataError("metadata_too_large", "exif")
    exif = image.getexif()
    meta.creator = clean_text(exif.get(_EXIF_ARTIST))
    if rights := clean_text(exif.get(_EXIF_COPYRIGHT)):
        meta.licences.append(rights)
    if _EXIF_GPS_IFD in exif:
        meta.gps = bool(exif.get_ifd(_EXIF_GPS_IFD))
    return meta


def read_iptc(image, limit: int) -> Metadata:
    """By-line, copyright notice and object name from IPTC IIM (JPEG, TIFF)."""
    from PIL import IptcImagePlugin

    meta = Metadata(source="iptc")
    info = IptcImagePlugin.getiptcinfo(image) or {}
    if sum(len(v) if isinstance(v, bytes) else 0 for v in info.values()) > limit:
        raise MetadataError("metadata_too_large", "iptc")

    def text(key) -> list[str]:
        value = info.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        return [clean_text(v) for v in items if clean_text(v)]

    meta.creator = clean_text("; ".join(text(_IPTC_BYLINE)))
    meta.licences.extend(text(_IPTC_COPYRIGHT)[:1])
    meta.title = (text(_IPTC_TITLE) or [""])[0]
    return meta


# --- C2PA ------------------------------------------------------------------------------

_C2PA_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "SVG": "image/svg+xml",
    "AVIF": "image/avif",
    "HEIF": "image/heic",
}
_c2pa_context = None


def has_c2pa_marker(data: bytes) -> bool:
    """Cheap test for an embedded JUMBF manifest store (its label is `c2pa`)."""
    return b"c2pa" in data


def read_c2pa(data: bytes, image_format: str) -> Metadata:
    """Training-and-data-mining reservations from an embedded C2PA manifest store.

    Manifests are read with c2pa-python, never fetched from a remote URL. An
    unverifiable signature does not void a reservation: opt-outs are honoured
    whatever their validation state.
    """
    import c2pa

    global _c2pa_context  # noqa: PLW0603 - one reader context per process
    if _c2pa_context is None:
        _c2pa_context = c2pa.Context.from_dict(
            {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        )
    meta = Metadata(source="c2pa")
    mime = _C2PA_MIME.get(image_format.upper())
    if mime is None:
        return meta
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=_c2pa_context)
    except c2pa.C2paError as exc:
        if "could not be parsed" in str(exc) or "JUMBF" in str(exc):
            return meta  # the marker bytes were not a manifest store
        raise MetadataError("metadata_unreadable", "c2pa") from exc
    if reader is None:
        return meta
    with reader:
        store = json.loads(reader.json())
    if c2pa_opts_out(store):
        meta.opt_out.append(C2PA_TRAINING_MINING)
    return meta
