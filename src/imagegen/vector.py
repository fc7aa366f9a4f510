"""SVG and SVGZ works rendered to pixels: offline, and bounded before rendering.

Rendering is done by resvg (`resvg-py`, Rust): no network code, no scripts,
and here no system fonts either (`skip_system_fonts`), so a render depends on
the file alone. What resvg would read besides the file is refused before it
runs: any `href` that is not a fragment (`#id`) or an embedded raster
`data:` URI, `url(...)` and `@import` that leave the document, entity
declarations (defusedxml). Time and memory are bounded by what is checked
first: the decompressed size, the element count with `<use>` and other
references expanded (the SVG form of "billion laughs"), the pixel count of
embedded rasters, and the render size (`policy.svg_render_side` on the longest side).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
import zlib
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from PIL import Image

RENDER_SIDE = 256  # default longest side of a render (policy.svg_render_side)
MAX_SVG_BYTES = 16 << 20  # decompressed document
MAX_SVG_NODES = 200_000  # elements, with references expanded
EMBEDDED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_IMPORT = re.compile(r"@import", re.IGNORECASE)
_DATA_URI = re.compile(
    r"^data:image/(?:png|jpeg|jpg|gif|webp)(?:;[^,]*)?;base64,", re.IGNORECASE
)


class SvgRefused(ValueError):
    """The document is not rendered; `code` is the reason's detail."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype")) and (
        b"<svg" in head.lower()
    )


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def svg_document(data: bytes) -> tuple[bytes, str] | None:
    """(document, "SVG" or "SVGZ") of an SVG or gzip-compressed SVG; None otherwise.

    An SVGZ is decompressed up to `MAX_SVG_BYTES` only (a gzip bomb stops
    there, SvgRefused("svg_too_large")).
    """
    if is_gzip(data):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            head = inflater.decompress(data, 4096)
        except zlib.error:
            return None
        if not looks_like_svg(head):
            return None
        try:
            rest = inflater.decompress(inflater.unconsumed_tail, MAX_SVG_BYTES)
        except zlib.error as exc:
            raise SvgRefused("svgz_undecodable") from exc
        if inflater.unconsumed_tail:
            raise SvgRefused("svg_too_large")
        return head + rest, "SVGZ"
    if looks_like_svg(data[:4096]):
        if len(data) > MAX_SVG_BYTES:
            raise SvgRefused("svg_too_large")
        return data, "SVG"
    return None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_embedded(uri: str, max_pixels: int) -> None:
    """An embedded raster's header: a known format under the pixel limit."""
    try:
        raw = base64.b64decode(uri.split(",", 1)[1], validate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=EMBEDDED_FORMATS) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise SvgRefused("svg_embedded_image_too_large") from exc
    except (OSError, ValueError, SyntaxError, binascii.Error) as exc:
        raise SvgRefused("svg_embedded_image_unreadable") from exc
    if width * height > max_pixels:
        raise SvgRefused("svg_embedded_image_too_large")


def check_svg(document: bytes, max_pixels: int) -> Element:
    """The parsed root of a document resvg may render; SvgRefused when it may not."""
    try:
        root = SafeET.fromstring(document)
    except DefusedXmlException as exc:
        raise SvgRefused("svg_entities") from exc
    except (ParseError, ValueError) as exc:
        raise SvgRefused("svg_unparseable") from exc
    if _local_name(root.tag) != "svg":
        raise SvgRefused("svg_unparseable")
    ids: dict[str, Element] = {}
    references: dict[int, list[str]] = {}
    for count, element in enumerate(root.iter()):
        if count > MAX_SVG_NODES:
            raise SvgRefused("svg_too_complex")
        if element_id := element.get("id"):
            ids.setdefault(element_id, element)
        if targets := _references(element, max_pixels):
            references[id(element)] = targets
    _check_expansion(root, ids, references)
    return root


def _fragment_urls(text: str) -> list[str]:
    """The ids named by `url(#id)` in CSS text; SvgRefused for any other url()."""
    urls = _URL.findall(text)
    if any(not url.startswith("#") for url in urls):
        raise SvgRefused("svg_external_reference")
    return [url[1:] for url in urls]


def _references(element: Element, max_pixels: int) -> list[str]:
    """Ids an element refers to; SvgRefused for a reference that leaves the document."""
    targets = []
    namespace = element.tag[1:].split("}", 1)[0] if element.tag[:1] == "{" else ""
    if namespace not in ("", SVG_NS):
        return targets  # metadata, editor data: never rendered
    for key, raw in element.attrib.items():
        value = raw.strip()
        # A hyperlink (`<a href>`) is followed by no renderer.
        if key in (XLINK_HREF, "href") and _local_name(element.tag) != "a":
            if value.startswith("#"):
                targets.append(value[1:])
            elif _DATA_URI.match(value):
                _check_embedded(value, max_pixels)
            else:
                raise SvgRefused("svg_external_reference")
        targets.extend(_fragment_urls(value))
    if _local_name(element.tag) == "style" and element.text:
        if _IMPORT.search(element.text):
            raise SvgRefused("svg_external_reference")
        targets.extend(_fragment_urls(element.text))
    return targets


def _check_expansion(
    root: Element, ids: dict[str, Element], references: dict[int, list[str]]
) -> None:
    """Refuse a document whose references expand to more than MAX_SVG_NODES elements."""
    sizes: dict[int, int] = {}
    # Post-order over the tree, references followed; iterative, so a deep
    # document cannot exhaust the Python stack.
    stack: list[tuple[Element, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        element, done = stack.pop()
        key = id(element)
        if key in sizes:
            continue
        linked = [ids[t] for t in references.get(key, []) if t in ids]
        if not done:
            if key in active:
                raise SvgRefused("svg_reference_loop")
            active.add(key)
            stack.append((element, True))
            stack.extend((child, False) for child in [*element, *linked])
            continue
        active.discard(key)
        total = 1
        for child in [*element, *linked]:
            child_size = sizes.get(id(child))
            if child_size is None:  # a reference back up the tree: a loop
                raise SvgRefused("svg_reference_loop")
            total += child_size
        if total > MAX_SVG_NODES:
            raise SvgRefused("svg_too_complex")
        sizes[key] = total


def render_svg(
    document: bytes, max_pixels: int, side: int = RENDER_SIDE
) -> Image.Image:
    """The document rendered (RGBA, longest side `side`); SvgRefused when refused."""
    import resvg_py

    root = check_svg(document, max_pixels)
    try:
        text = document.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Another declared encoding: the parsed tree, written out as Unicode.
        text = tostring(root, encoding="unicode")
    try:
        png = resvg_py.svg_to_bytes(
            svg_string=text, skip_system_fonts=True, width=side, height=side, dpi=96.0
        )
    except (ValueError, OSError) as exc:
        raise SvgRefused("svg_unrenderable") from exc
    image = Image.open(io.BytesIO(bytes(png)), formats=["PNG"])
    image.load()
    return image
