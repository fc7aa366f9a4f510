"""Inventory of one raw file: content hash, header facts and an integrity verdict.

Each file is read once: its bytes are hashed while streamed, the image header is
read before any pixel is decoded, and only files within the pixel limit decode.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from imagegen.datasets.raw_folder import PathOutsideRawDir, RawFolder

CHUNK = 1 << 20


@dataclass
class FileRecord:
    """What curation knows of one file before any rights check."""

    path: str
    work_id: str = ""
    size_bytes: int = 0
    format: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    link_target: str = ""  # relative path of a symlink's target inside raw_dir
    integrity: str = ""  # "" or a reason code with detail, e.g. "corrupt:truncated"

    def as_row(self) -> dict:
        return asdict(self)


def sha256_file(path: Path, limit: int) -> tuple[str, int, bytes | None]:
    """SHA-256 and size of a file; the bytes too when the file is under `limit`."""
    digest = hashlib.sha256()
    size = 0
    kept = bytearray()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if size <= limit:
                kept.extend(chunk)
    return digest.hexdigest(), size, bytes(kept) if size <= limit else None


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in head.lower()


def probe_file(
    folder: RawFolder, rel: str, max_pixels: int, min_side: int, max_file_bytes: int
) -> FileRecord:
    """Hash, header check and decode check of one file; never raises for bad input."""
    record = FileRecord(path=rel)
    full = folder.root / rel
    try:
        if full.is_symlink():
            try:
                target = folder.resolve(rel)
            except PathOutsideRawDir:
                record.integrity = "not_an_image:link_outside_raw_dir"
                return record
            record.link_target = target.relative_to(folder.root.resolve()).as_posix()
            if not target.is_file():
                record.integrity = "not_an_image:link_to_non_file"
                return record
            full = target
        elif not full.is_file():
            record.integrity = "not_an_image:not_a_regular_file"
            return record
        record.work_id, record.size_bytes, data = sha256_file(full, max_file_bytes)
    except OSError as exc:
        record.integrity = f"corrupt:unreadable_{type(exc).__name__}"
        return record
    if record.size_bytes == 0:
        record.integrity = "corrupt:empty"
        return record
    if data is None:
        record.integrity = "too_large:file_bytes"
        return record
    record.integrity = check_image_bytes(data, record, max_pixels, min_side)
    return record


def check_image_bytes(
    data: bytes, record: FileRecord, max_pixels: int, min_side: int
) -> str:
    """Fill format and size from the header, then decode; return '' or a reason."""
    if _looks_like_svg(data[:4096]):
        record.format = "SVG"
        return "not_an_image:svg_not_rasterised"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            return "too_large:pixels"
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return "not_an_image:unidentified"
        with image:
            record.format = image.format or ""
            record.width, record.height = image.size
            record.mode = image.mode
            if record.width * record.height > max_pixels:
                return "too_large:pixels"
            try:
                image.load()  # first frame only
            except Exception as exc:  # noqa: BLE001 - any decoder failure is "corrupt"
                return f"corrupt:{_decode_error(exc)}"
    if min(record.width, record.height) < min_side:
        return "too_small:side"
    return ""


def _decode_error(exc: Exception) -> str:
    text = str(exc).lower()
    if "truncated" in text:
        return "truncated"
    return "undecodable"
