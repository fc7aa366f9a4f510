"""Read-only access to the folder of raw works (`raw_dir`).

kedro-datasets' PartitionedDataset follows symlinks wherever they point and
decodes every file it lists; curation must list a hostile folder without
reading outside it, so the raw folder gets its own small dataset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

# Files that describe the dataset rather than being works of it.
METADATA_FILES = frozenset({"manifest.csv", "takedown.txt"})
SIDECAR_SUFFIX = ".xmp"


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
        """Relative POSIX paths of every candidate work, in sorted order.

        Links are listed, never followed while walking; dataset metadata files
        (`manifest.csv`, `takedown.txt` at the top, `NAME.xmp` sidecars) are not works.
        """
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            base = Path(dirpath)
            # Links to directories are entries too (os.walk lists them as dirs).
            names = sorted(filenames + [d for d in dirnames if (base / d).is_symlink()])
            for name in names:
                rel = (base / name).relative_to(self.root).as_posix()
                if rel in METADATA_FILES or name.lower().endswith(SIDECAR_SUFFIX):
                    continue
                yield rel
        return

    def resolve(self, rel: str) -> Path:
        """Absolute real path of `rel`; raise PathOutsideRawDir if it leaves the folder."""
        candidate = (self.root / rel).resolve()
        real_root = self.root.resolve()
        if candidate != real_root and real_root not in candidate.parents:
            raise PathOutsideRawDir(rel)
        return candidate

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
