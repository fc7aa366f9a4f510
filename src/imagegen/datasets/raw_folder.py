"""Read-only access to the folder of raw works (`raw_dir`).

kedro-datasets' PartitionedDataset follows symlinks wherever they point and
decodes every file it lists; curation must list a hostile folder without
reading outside it, so the raw folder gets its own small dataset.

Paths are handled in their *escaped* form (`encode_rel_path`): the relative
POSIX path as text, with every byte that is not UTF-8, every control character
and the backslash escaped: `\\xNN` for a byte or a C0 control, `\\uNNNN` for a C1
control or a Unicode line separator, `\\\\` for the backslash. The form is one
printable line, writes to any UTF-8 file, and maps back to the exact bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import deque
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

# Files that describe the dataset rather than being works of it.
METADATA_FILES = frozenset({"manifest.csv", "takedown.txt"})
SIDECAR_SUFFIX = ".xmp"
# Vector sources whose RDF describes the work at the same relative path
# (`_sources/a/b.svg` for `a/b.png`), as scripts/fetch_openclipart.sh lays out.
SOURCES_DIR = "_sources"

_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")
# Characters some tools read as line breaks (C1 controls, U+2028, U+2029).
_LINE_BREAKS = frozenset([*range(0x80, 0xA0), 0x2028, 0x2029])


def encode_rel_path(rel: str) -> str:
    """Escaped form of a relative path read from the file system (surrogateescape)."""
    if rel.isascii() and rel.isprintable() and "\\" not in rel:
        return rel  # the common case, nothing to escape: no per-character loop
    out = []
    for char in rel:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code in _LINE_BREAKS:
            out.append(f"\\u{code:04x}")
        elif char == "\\":
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)


def decode_rel_path(escaped: str) -> str:
    """The file-system form (surrogateescape str) of an escaped relative path."""

    def unescape(match: re.Match[str]) -> str:
        token = match[1]
        if token == "\\":
            return "\\"
        if token[0] == "u":
            return chr(int(token[1:], 16))
        code = int(token[1:], 16)
        return chr(code if code < 0x80 else 0xDC00 + code)

    return _ESCAPED.sub(unescape, escaped)


CHUNK = 1 << 20


def hash_and_keep(fh, limit: int) -> tuple[str, int, bytes | None]:
    """SHA-256 and size of a binary stream; its bytes too when it is under `limit`.

    Read in chunks, so a file over the limit is hashed without being held.
    """
    digest = hashlib.sha256()
    size = 0
    kept = bytearray()
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if size <= limit:
            kept.extend(chunk)
        elif kept:
            kept = bytearray()  # over the limit: stop holding the bytes
    return digest.hexdigest(), size, bytes(kept) if size <= limit else None


class PathOutsideRawDir(ValueError):
    """A path named by a file or a link resolves outside `raw_dir`."""


class LinkLoop(ValueError):
    """A chain of links that does not end (a loop, or more than `MAX_LINKS` links)."""


# The kernel's own limit on links followed in one lookup (Linux MAXSYMLINKS).
MAX_LINKS = 40


class RawFolder:
    """A folder of works: lists files and opens them without leaving the folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"RawFolder({str(self.root)!r})"

    def exists(self) -> bool:
        return self.root.is_dir()

    def iter_works(self) -> Iterator[str]:
        """Escaped relative paths of every candidate work, folders first-visited in order.

        Each folder's entries come in sorted order before its subfolders (as
        `os.walk` top-down). Links are listed, never followed; dataset metadata
        files (`manifest.csv`, `takedown.txt` at the top, `NAME.xmp` sidecars,
        the `_sources/` folder at the top) are not works. A subfolder that
        cannot be listed is an entry of its own, so it gets a row saying why.
        """
        pending = [""]
        while pending:
            rel_dir = pending.pop()
            try:
                with os.scandir(self.root / rel_dir) as listing:
                    entries = list(listing)
            except FileNotFoundError:
                if not rel_dir:
                    return  # no raw_dir: no works (inventory_works says so first)
                yield encode_rel_path(rel_dir)  # gone since listed: probed as such
                continue
            except OSError:
                if not rel_dir:
                    raise  # raw_dir itself: a configuration error, not a work
                if self.is_work_path(encode_rel_path(rel_dir)):
                    yield encode_rel_path(rel_dir)
                continue
            files, folders = [], []
            for entry in entries:
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_folder = False  # probed as a file: its row says what failed
                (folders if is_folder else files).append(entry.name)
            if not rel_dir and SOURCES_DIR in folders:
                folders.remove(SOURCES_DIR)
            for name in sorted(files):
                rel = encode_rel_path(f"{rel_dir}/{name}" if rel_dir else name)
                if self.is_work_path(rel):
                    yield rel
            pending.extend(
                f"{rel_dir}/{name}" if rel_dir else name
                for name in sorted(folders, reverse=True)
            )

    @staticmethod
    def is_work_path(rel: str) -> bool:
        """Whether an escaped relative path names a work (not dataset metadata)."""
        if rel in METADATA_FILES or rel.lower().endswith(SIDECAR_SUFFIX):
            return False
        return not (rel == SOURCES_DIR or rel.startswith(SOURCES_DIR + "/"))

    def path(self, rel: str) -> Path:
        """Path of an escaped relative path, links not resolved."""
        return self.root / decode_rel_path(rel)

    @cached_property
    def real_root(self) -> Path:
        return self.root.resolve()

    def resolve(self, rel: str) -> Path:
        """Absolute real path of `rel`, links resolved without leaving the folder.

        Each link is read and followed here, one component at a time, so
        nothing outside `raw_dir` is ever looked at: a link that leaves it
        raises PathOutsideRawDir, a loop LinkLoop. Missing components are
        joined as written (like `Path.resolve(strict=False)`); other OSErrors
        (a folder that cannot be searched) propagate.
        """
        real_root = self.real_root
        roots = {real_root.parts, self.root.parts}
        parts = deque(_components(decode_rel_path(rel)))
        current: list[str] = []
        links = 0
        while parts:
            part = parts.popleft()
            if part == "..":
                if not current:
                    raise PathOutsideRawDir("path resolves outside raw_dir")
                current.pop()
                continue
            candidate = real_root.joinpath(*current, part)
            try:
                mode = os.lstat(candidate).st_mode
            except (FileNotFoundError, NotADirectoryError):
                mode = 0  # missing: the rest is joined as written
            if not stat.S_ISLNK(mode):
                current.append(part)
                continue
            links += 1
            if links > MAX_LINKS:
                raise LinkLoop("too many levels of links")
            target = os.readlink(candidate)
            if os.path.isabs(target):
                target_parts = Path(target).parts
                inside = next((r for r in roots if target_parts[: len(r)] == r), None)
                if inside is None:
                    raise PathOutsideRawDir("path resolves outside raw_dir")
                current = []
                target = "/".join(target_parts[len(inside) :])
            parts.extendleft(reversed(_components(target)))
        return real_root.joinpath(*current)

    def relative(self, real: Path) -> str:
        """Escaped relative path of a resolved path inside the folder."""
        return encode_rel_path(real.relative_to(self.real_root).as_posix())

    def metadata_file(self, name: str) -> Path | None:
        path = self.root / name
        if path.is_symlink() or not path.is_file():
            return None
        return path


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def entry_kind(mode: int) -> str:
    """A name for a file type that is neither a regular file, a folder nor a link."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "char_device"
    if stat.S_ISBLK(mode):
        return "block_device"
    return "not_a_regular_file"


class RawFolderDataset(AbstractDataset[RawFolder, None]):
    """Loads a `RawFolder`; saving is refused, raw works are never written."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = path
        self.metadata = metadata

    def load(self) -> RawFolder:
        return RawFolder(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("the raw folder is read-only: no file in raw_dir is written")

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
