"""Raw bytes in a file (kedro-datasets has text but no binary file dataset)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class BytesDataset(AbstractDataset[bytes, bytes]):
    """Loads and saves a file's bytes unchanged (e.g. PNGs carrying XMP)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata

    def load(self) -> bytes:
        with self._fs.open(
            get_filepath_str(self._filepath, self._protocol), "rb"
        ) as fh:
            return fh.read()

    def save(self, data: bytes) -> None:
        self._fs.mkdirs(str(self._filepath.parent), exist_ok=True)
        with self._fs.open(
            get_filepath_str(self._filepath, self._protocol), "wb"
        ) as fh:
            fh.write(data)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
