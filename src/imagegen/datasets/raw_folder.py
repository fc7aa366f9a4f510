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

import os
import re
from collections.abc import Iterator
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


class PathOutsideRawDir(ValueError):
    """A path named by a file or a link resolves outside `raw_dir`."""


class RawFolder:
    """A folder of works: lists files and opens them without leaving the folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"RawFolder({str(self.root)!r})"

    def exists(self) -> bool:
        return self.root.is_dir()

    def iter_works(self) -> Iterator[str]:
        """Escaped relative paths of every candidate work, in sorted order.

        Links are listed, never followed while walking; dataset metadata files
        (`manifest.csv`, `takedown.txt` at the top, `NAME.xmp` sidecars, the
        `_sources/` folder at the top) are not works.
        """
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            base = Path(dirpath)
            if base == self.root and SOURCES_DIR in dirnames:
                if not (base / SOURCES_DIR).is_symlink():
                    dirnames.remove(SOURCES_DIR)
            dirnames.sort()
            # Links to directories are entries too (os.walk lists them as dirs).
            names = sorted(filenames + [d for d in dirnames if (base / d).is_symlink()])
            for name in names:
                rel = encode_rel_path((base / name).relative_to(self.root).as_posix())
                if not self.is_work_path(rel):
                    continue
                yield rel

    @staticmethod
    def is_work_path(rel: str) -> bool:
        """Whether an escaped relative path names a work (not dataset metadata)."""
        if rel in METADATA_FILES or rel.lower().endswith(SIDECAR_SUFFIX):
            return False
        return not (rel == SOURCES_DIR or rel.startswith(SOURCES_DIR + "/"))

    def path(self, rel: str) -> Path:
        """Path of an escaped relative path, links not resolved."""
        return self.root / decode_rel_path(rel)

    def resolve(self, rel: str) -> Path:
        """Absolute real path of `rel`; raise PathOutsideRawDir if it leaves the folder."""
        candidate = self.path(rel).resolve()
        real_root = self.root.resolve()
        if candidate != real_root and real_root not in candidate.parents:
            raise PathOutsideRawDir("path resolves outside raw_dir")
        return candidate

    def relative(self, real: Path) -> str:
        """Escaped relative path of a resolved path inside the folder."""
        return encode_rel_path(real.relative_to(self.root.resolve()).as_posix())

    def metadata_file(self, name: str) -> Path | None:
        path = self.root / name
        if path.is_symlink() or not path.is_file():
            return None
        return path


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
