"""Lookup index over the generation ledger: exact digests, entry ids and fingerprints.

The ledger stays the record; the index is derived from it and rebuilt or
extended at lookup time (never on the serving path). It lives in the folder
`<ledger>.index/`: `fingerprints.f32` (n x 64 float32, memory-mapped: the
coarse stage), `thumbnails.u8` (n x 1,026 bytes: width, height and
pixels of the fine stage's thumbnail; zeros for entries written before it
existed), `sha256.bin` (n x 32 bytes),
`entry_ids.bin` (n x 8 bytes), `offsets.i64` (byte offset of each entry's line)
and `state.json` (format, ledger bytes and rows indexed, written last). Rows
past `state.json` are from an interrupted update and are cut off before the
next one; an index of an older format is rebuilt from the ledger.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagegen.provenance import fingerprint

logger = logging.getLogger(__name__)

# Format 2 added thumbnails.u8 (16x16), format 3 made them the whole image;
# state.json without a format is format 1.
FORMAT = 3
_FILES = {
    "fingerprints.f32": fingerprint.DIMS * 4,
    "thumbnails.u8": fingerprint.REF_DIMS,
    "sha256.bin": 32,
    "entry_ids.bin": 8,
    "offsets.i64": 8,
}


def index_dir(ledger: Path) -> Path:
    return Path(f"{ledger}.index")


def _entry_id_bytes(value: str | None) -> bytes:
    try:
        return bytes.fromhex(value or "")[:8].rjust(8, b"\0")
    except ValueError:
        return bytes(8)


class GenerationIndex:
    """Index of one generation ledger; `update()` brings it up to date."""

    def __init__(self, ledger: Path, folder: Path | None = None):
        self.ledger = Path(ledger)
        self.dir = Path(folder) if folder is not None else index_dir(self.ledger)

    def _state(self) -> dict[str, int]:
        path = self.dir / "state.json"
        if not path.exists():
            return {"format": FORMAT, "bytes": 0, "rows": 0}
        return json.loads(path.read_text())

    def update(self) -> int:
        """Index ledger lines written since the last update; return the row count."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._state()
            if not self.ledger.exists():
                return state["rows"]
            size = self.ledger.stat().st_size
            if state.get("format", 1) != FORMAT and state["rows"]:
                logger.warning(
                    "generation index %s: format %s, rebuilding it as format %s "
                    "from the ledger",
                    self.dir,
                    state.get("format", 1),
                    FORMAT,
                )
                state = {"format": FORMAT, "bytes": 0, "rows": 0}
            if size < state["bytes"]:  # ledger replaced: start over
                state = {"format": FORMAT, "bytes": 0, "rows": 0}
            for name, width in _FILES.items():  # drop rows of an interrupted update
                with open(self.dir / name, "ab") as fh:
                    fh.truncate(state["rows"] * width)
            if size == state["bytes"]:
                return state["rows"]
            rows = {name: bytearray() for name in _FILES}
            offset, added = state["bytes"], 0
            with open(self.ledger, "rb") as fh:
                fh.seek(offset)
                for line in fh:
                    if not line.endswith(b"\n"):
                        break  # a line still being written
                    start, offset = offset, offset + len(line)
                    entry = json.loads(line)
                    if entry.get("kind") != "generation":
                        continue
                    vector = (
                        fingerprint.decode(entry["fingerprint"])
                        if entry.get("fingerprint")
                        else np.zeros(fingerprint.DIMS, np.float32)
                    )
                    rows["fingerprints.f32"] += vector.astype(np.float32).tobytes()
                    rows["thumbnails.u8"] += (
                        fingerprint.index_row(
                            fingerprint.decode_thumbnail(entry["thumbnail"])
                        ).tobytes()
                        if entry.get("thumbnail")
                        else bytes(fingerprint.REF_DIMS)
                    )
                    rows["sha256.bin"] += bytes.fromhex(entry["image_sha256"])
                    rows["entry_ids.bin"] += _entry_id_bytes(entry.get("entry_id"))
                    rows["offsets.i64"] += np.int64(start).tobytes()
                    added += 1
            for name, data in rows.items():
                with open(self.dir / name, "ab") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
            state = {"format": FORMAT, "bytes": offset, "rows": state["rows"] + added}
            tmp = self.dir / "state.json.tmp"
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.dir / "state.json")
            return state["rows"]

    def _array(self, name: str, dtype, width: int) -> np.ndarray:
        rows = self._state()["rows"]
        if rows == 0:
            return np.zeros((0, width), dtype)
        return np.memmap(self.dir / name, dtype=dtype, mode="r", shape=(rows, width))

    def matrix(self) -> np.ndarray:
        """The fingerprints, one row per indexed entry (memory-mapped)."""
        return self._array("fingerprints.f32", np.float32, fingerprint.DIMS)

    def thumbnails(self) -> np.ndarray:
        """The fine thumbnails, one row per indexed entry (memory-mapped)."""
        return self._array("thumbnails.u8", np.uint8, fingerprint.REF_DIMS)

    def entry(self, row: int) -> dict[str, Any]:
        offset = int(self._array("offsets.i64", np.int64, 1)[row, 0])
        with open(self.ledger, "rb") as fh:
            fh.seek(offset)
            return json.loads(fh.readline())

    def _find_bytes(self, name: str, width: int, key: bytes) -> int | None:
        table = self._array(name, np.uint8, width)
        if len(table) == 0:
            return None
        hits = np.flatnonzero((table == np.frombuffer(key, np.uint8)).all(axis=1))
        return int(hits[-1]) if len(hits) else None

    def by_sha256(self, digest: str) -> dict[str, Any] | None:
        row = self._find_bytes("sha256.bin", 32, bytes.fromhex(digest))
        return None if row is None else self.entry(row)

    def by_entry_id(self, entry_id: str) -> dict[str, Any] | None:
        key = _entry_id_bytes(entry_id)
        if key == bytes(8):
            return None
        row = self._find_bytes("entry_ids.bin", 8, key)
        return None if row is None else self.entry(row)

    def by_entry_prefix(self, prefix: str) -> dict[str, Any] | None:
        """The newest entry whose id starts with `prefix` (hex, whole bytes).

        The watermark carries 32 of the id's 64 bits, so two entries share a
        prefix with odds of about n / 2**32 (1 in 4,300 at a million).
        """
        key = np.frombuffer(bytes.fromhex(prefix), np.uint8)
        ids = self._array("entry_ids.bin", np.uint8, 8)
        if len(ids) == 0 or not 0 < len(key) <= 8:
            return None
        hits = np.flatnonzero((ids[:, : len(key)] == key).all(axis=1))
        return self.entry(int(hits[-1])) if len(hits) else None

    def scored(self, image: Image.Image) -> list[dict[str, Any]]:
        """Coarse candidates of a copy, each with its fine check (best first).

        Each as row, coarse cosine, fine `similarity`, the `required`
        similarity at the copy's `contrast`, and `stage`: "fine", or "coarse"
        for an entry written before thumbnails existed (no fine check there).
        """
        matrix = self.matrix()
        if len(matrix) == 0:
            return []
        thumbnails = self.thumbnails()
        query = fingerprint.FineQuery(image)
        scored = []
        for row, coarse, hypothesis in fingerprint.top_candidates(
            matrix, fingerprint.query_descriptors(image)
        ):
            reference = fingerprint.from_row(np.asarray(thumbnails[row]))
            if reference is None:
                scored.append(
                    {
                        "row": row,
                        "coarse": coarse,
                        "similarity": coarse,
                        "required": fingerprint.MIN_SIMILARITY,
                        "contrast": 0.0,
                        "stage": "coarse",
                    }
                )
                continue
            similarity, contrast = query.similarity(
                fingerprint.hypothesis(hypothesis), reference
            )
            scored.append(
                {
                    "row": row,
                    "coarse": coarse,
                    "similarity": similarity,
                    "required": fingerprint.required_similarity(contrast),
                    "contrast": contrast,
                    "stage": "fine",
                }
            )
        return scored

    def by_fingerprint(
        self, image: Image.Image
    ) -> tuple[dict[str, Any], float, str] | None:
        """The entry of a laundered copy: coarse candidates, then the fine check.

        Returns (entry, similarity, stage); an entry that passes the fine
        check wins over one matched by the coarse descriptor alone.
        """
        passed = [c for c in self.scored(image) if c["similarity"] >= c["required"]]
        if not passed:
            return None
        best = max(passed, key=lambda c: (c["stage"] == "fine", c["similarity"]))
        return self.entry(best["row"]), best["similarity"], best["stage"]


def find_generated(
    image_bytes: bytes, ledger: Path, entry_id: str | None = None
) -> dict[str, Any] | None:
    """The ledger entry of an image: exact SHA-256, its entry id, else its fingerprint.

    Returns the entry plus `match` ("exact", "entry_id", "fingerprint" or, for
    an entry older than the fine thumbnails, "fingerprint (coarse only)") and
    `similarity` (correlation of the fine thumbnails, or cosine of the coarse
    descriptors; 1.0 for the first two).
    """
    if not Path(ledger).exists():
        return None
    index = GenerationIndex(ledger)
    try:
        index.update()
    except PermissionError:
        # A read-only ledger folder (an auditor's mount): index in a private cache.
        key = hashlib.sha256(str(Path(ledger).absolute()).encode()).hexdigest()[:16]
        index = GenerationIndex(
            ledger, Path(tempfile.gettempdir()) / f"imagegen-index-{key}"
        )
        index.update()
    found = index.by_sha256(hashlib.sha256(image_bytes).hexdigest())
    if found is not None:
        return {**found, "match": "exact", "similarity": 1.0}
    if entry_id:
        found = index.by_entry_id(entry_id)
        if found is not None:
            return {**found, "match": "entry_id", "similarity": 1.0}
    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        hit = index.by_fingerprint(image)
    if hit is None:
        return None
    match = "fingerprint" if hit[2] == "fine" else "fingerprint (coarse only)"
    return {**hit[0], "match": match, "similarity": round(hit[1], 4)}
