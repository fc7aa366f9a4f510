"""SHA-256 digests of whatever a Kedro node reads or writes.

Files are hashed as bytes; folders as the sorted (relative path, file digest)
list; in-memory objects through a stable serialisation: data frames as CSV,
arrays as dtype + shape + bytes, Keras models as their weights, anything
JSON-able as canonical JSON.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.provenance.ledger import canonical_json

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(path: str | os.PathLike[str]) -> str:
    """Digest of every regular file under `path` (links not followed)."""
    root = Path(path)
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            digest.update(
                f"{rel}\0{file_digest(full)}\n".encode("utf-8", "surrogateescape")
            )
    return digest.hexdigest()


def path_digest(path: str | os.PathLike[str]) -> str | None:
    """Digest of a file or folder, or None when nothing is there."""
    target = Path(path)
    if target.is_file():
        return file_digest(target)
    if target.is_dir():
        return folder_digest(target)
    return None


def _array_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    return f"{array.dtype.str}{array.shape}".encode() + array.tobytes()


def data_digest(data: Any) -> str:
    """Digest of an in-memory object through a stable serialisation."""
    import pandas as pd

    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        digest.update(
            b"frame\0" + data.to_csv(index=False, lineterminator="\n").encode()
        )
    elif isinstance(data, np.ndarray):
        digest.update(b"array\0" + _array_bytes(data))
    elif (
        isinstance(data, dict)
        and data
        and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        for key in sorted(data):
            digest.update(f"{key}\0".encode() + _array_bytes(data[key]))
    elif hasattr(data, "get_weights") and hasattr(data, "get_config"):
        digest.update(b"keras\0")
        for weights in data.get_weights():
            digest.update(_array_bytes(np.asarray(weights)))
    elif hasattr(data, "savefig"):
        buffer = io.BytesIO()
        # Metadata carries the Matplotlib version and a date: leave it out.
        data.savefig(buffer, format="png", metadata={"Software": None})
        digest.update(b"figure\0" + buffer.getvalue())
    elif hasattr(data, "digest_bytes"):
        # A RemoteFolder (its listing) or a sharded training set (its shards).
        digest.update(data.digest_bytes())
    elif hasattr(data, "root") and hasattr(data, "iter_works"):
        # A RawFolder: its listing (path, size, mtime); file bytes are hashed by curation.
        digest.update(b"rawfolder\0")
        for rel in data.iter_works():
            stat = (data.root / rel).lstat()
            digest.update(
                f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
                    "utf-8", "surrogateescape"
                )
            )
    else:
        try:
            digest.update(b"json\0" + canonical_json(data).encode())
        except (TypeError, ValueError):
            digest.update(b"repr\0" + repr(data).encode())
    return digest.hexdigest()


def dataset_path(dataset: Any) -> str | None:
    """Local path behind a Kedro dataset, when it has one (wrappers unwrapped)."""
    inner = getattr(dataset, "_dataset", None)  # kedro-mlflow's MlflowArtifactDataset
    if inner is not None and not isinstance(inner, dict):
        dataset = inner
    for attribute in ("_filepath", "_path"):
        value = getattr(dataset, attribute, None)
        if value is None:
            continue
        protocol = getattr(dataset, "_protocol", "file")
        if protocol not in ("file", "local", None):
            return None
        get_save = getattr(dataset, "_get_save_path", None)
        if get_save is not None and getattr(dataset, "_version", None) is not None:
            try:
                return str(get_save())
            except Exception:  # noqa: BLE001 - unversioned or not yet saved
                return str(value)
        return str(value)
    return None
