"""Read-only access to works on object storage (`raw_dir` as an fsspec URL).

`s3://bucket/prefix`, `gs://bucket/prefix`, `az://...` or any other fsspec
protocol; credentials come from the environment or the provider's usual
config files (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `~/.aws/credentials`,
`GOOGLE_APPLICATION_CREDENTIALS`, fsspec's `FSSPEC_<PROTOCOL>_<OPTION>`
variables), never from the repository.

Confinement: only keys under `prefix/` are listed (a flat listing of that
prefix, so `prefix-other/` is not), and only keys derived from a listed one
(its sidecars, its `_sources/` SVG) are read. A key whose path has an empty,
`.` or `..` component could name something else to a tool that normalises
paths: it is listed, so it gets a decision row, but never read. Paths are
escaped as in `raw_folder` (control characters, backslash), so a key with odd
characters is one printable row. Object storage has no links, FIFOs or
devices: what the local reader guards against there cannot occur.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from imagegen.datasets.raw_folder import (
    RawFolder,
    RawFolderDataset,
    decode_rel_path,
    encode_rel_path,
    hash_and_keep,
)


class UnsafeKey(ValueError):
    """A key with an empty, `.` or `..` path component: listed, never read."""


def is_remote_url(path: str) -> bool:
    """Whether `raw_dir` names object storage (any fsspec protocol but `file`)."""
    protocol, sep, _ = str(path).partition("://")
    return bool(sep) and protocol.lower() not in ("", "file", "local")


def local_path(path: str) -> str:
    """A `file://` URL as a plain path; anything else unchanged."""
    text = str(path)
    return text[len("file://") :] if text.lower().startswith("file://") else text


def _order(rel: str) -> tuple:
    # The local reader's order: a folder's files (sorted) before its subfolders.
    parts = rel.split("/")
    return (*((1, p) for p in parts[:-1]), (0, parts[-1]))


class RemoteFile:
    """One object, with the read methods curation uses on metadata files."""

    def __init__(self, fs, key: str):
        self.fs, self.key = fs, key

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.key)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def open(self, mode: str = "rb"):
        """A binary file object, as `Path.open`, for reads bounded by the caller."""
        return self.fs.open(self.key, mode)


class RemoteFolder:
    """A prefix of works on object storage: lists and reads keys under it only."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        from fsspec.core import url_to_fs

        self.url = str(url).rstrip("/")
        self.fs, prefix = url_to_fs(self.url, **(storage_options or {}))
        self.prefix = prefix.rstrip("/")

    @property
    def root(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemoteFolder({self.url!r})"

    def exists(self) -> bool:
        try:
            return bool(self.fs.isdir(self.prefix))
        except OSError:
            return False

    def _listing(self) -> list[tuple[str, dict]]:
        try:
            found = self.fs.find(self.prefix, withdirs=False, detail=True)
        except FileNotFoundError:
            return []
        start = self.prefix + "/"
        out = []
        for key, info in found.items():
            if key.startswith(start) and info.get("type", "file") == "file":
                out.append((encode_rel_path(key[len(start) :]), info))
        out.sort(key=lambda item: _order(decode_rel_path(item[0])))
        return out

    def iter_works(self) -> Iterator[str]:
        """Escaped relative keys of every candidate work, in the local reader's order."""
        for rel, _ in self._listing():
            if RawFolder.is_work_path(rel):
                yield rel

    is_work_path = staticmethod(RawFolder.is_work_path)

    def digest_bytes(self) -> bytes:
        """Key, size and version tag of every work (the lineage digest's input)."""
        lines = []
        for rel, info in self._listing():
            if RawFolder.is_work_path(rel):
                tag = info.get("ETag") or info.get("etag") or info.get("mtime") or ""
                lines.append(f"{rel}\0{info.get('size', 0)}\0{tag}\n")
        return ("remotefolder\0" + "".join(lines)).encode("utf-8")

    def key(self, rel: str) -> str:
        """The full key of an escaped relative path; UnsafeKey when it could escape."""
        parts = decode_rel_path(rel).split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise UnsafeKey(rel)
        return f"{self.prefix}/{'/'.join(parts)}"

    def read_work(self, rel: str, limit: int) -> tuple[str, int, bytes | None]:
        """SHA-256 and size of an object; its bytes too when it is under `limit`.

        Streamed in chunks, so an object over the limit is hashed without
        being held in memory.
        """
        with self.fs.open(self.key(rel), "rb") as fh:
            return hash_and_keep(fh, limit)

    def read_metadata(self, rel: str, limit: int) -> bytes | None:
        """At most `limit` + 1 bytes of a metadata object; None when there is none."""
        try:
            key = self.key(rel)
        except UnsafeKey:
            return None
        try:
            with self.fs.open(key, "rb") as fh:
                return fh.read(limit + 1)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def resolve(self, rel: str) -> io.BufferedIOBase:
        """An open binary file of the work (object storage has no links to follow)."""
        return self.fs.open(self.key(rel), "rb")

    def metadata_file(self, name: str) -> RemoteFile | None:
        key = f"{self.prefix}/{name}"
        try:
            if not self.fs.isfile(key):
                return None
        except OSError:
            return None
        return RemoteFile(self.fs, key)


class WorksFolderDataset(RawFolderDataset):
    """The raw works: a `RemoteFolder` for an object-storage URL, else a `RawFolder`.

    A `file://` URL is a local folder and gets the local reader, whose
    handling of links, FIFOs and devices is stricter than fsspec's.
    """

    def __init__(
        self,
        path: str,
        storage_options: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(local_path(path), metadata=metadata)
        self._url = str(path)
        self._storage_options = storage_options or {}

    def load(self) -> RawFolder | RemoteFolder:
        if is_remote_url(self._url):
            return RemoteFolder(self._url, self._storage_options)
        return super().load()

    def _exists(self) -> bool:
        if is_remote_url(self._url):
            return self.load().exists()
        return super()._exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._url}
