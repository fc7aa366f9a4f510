"""NumPy `.npz` archives (kedro-datasets has no NumPy array dataset)."""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class NpzDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """A dict of arrays in one `.npz` file, loaded without pickle."""

    def __init__(
        self,
        filepath: str,
        compress: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol)
        self._compress = compress
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, "rb") as fh:
            with np.load(io.BytesIO(fh.read()), allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        path = get_filepath_str(self._filepath, self._protocol)
        buffer = io.BytesIO()
        (np.savez_compressed if self._compress else np.savez)(buffer, **data)
        self._fs.mkdirs(str(self._filepath.parent), exist_ok=True)
        with self._fs.open(path, "wb") as fh:
            fh.write(buffer.getvalue())

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "compress": self._compress}
