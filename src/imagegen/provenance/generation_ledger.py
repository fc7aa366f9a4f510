"""The generation ledger: every generated image, hash-chained like the lineage ledger.

One entry per image: SHA-256 of the PNG bytes handed out, its perceptual hash,
its fingerprint and fine thumbnail (`imagegen.provenance.fingerprint`: survive
resizing, re-encoding and small crops; looked up through `generation_index`), the entry
id also carried by the image's XMP and C2PA manifest, the model (name, version when known, run id), seed, index, label, sampling
parameters and time. Written by `imagegen generate`, the `generate` pipeline
and the served pyfunc model. Location: `$IMAGEGEN_GENERATION_LEDGER`, else
`data/09_lineage/generation_ledger.jsonl` under the current directory; set the
variable to `off` to record nothing.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from imagegen.provenance import fingerprint
from imagegen.provenance.ledger import Ledger
from imagegen.provenance.phash import phash_batch

logger = logging.getLogger(__name__)

ENV = "IMAGEGEN_GENERATION_LEDGER"
DEFAULT = "data/09_lineage/generation_ledger.jsonl"
# pHash bits that may differ after resizing, re-encoding or stripping metadata.
MAX_PHASH_DISTANCE = 10


def ledger_path() -> Path | None:
    value = os.environ.get(ENV, "").strip()
    if value.lower() == "off":
        return None
    return Path(value) if value else Path(DEFAULT)


def record_images(
    pngs: list[bytes], provenance: list[dict[str, Any]], path: Path | None = None
) -> list[dict[str, Any]]:
    """Append one entry per PNG (all in one locked write); return the entries."""
    target = path if path is not None else ledger_path()
    if target is None or not pngs:
        return []
    images = [Image.open(io.BytesIO(png)) for png in pngs]
    hashes = phash_batch(images)
    vectors = fingerprint.descriptors(images)
    records = [
        {
            "kind": "generation",
            "image_sha256": hashlib.sha256(png).hexdigest(),
            "phash": phash,
            "fingerprint": fingerprint.encode(vector),
            "thumbnail": fingerprint.encode_thumbnail(fingerprint.thumbnail(image)),
            **{k: v for k, v in meta.items() if v is not None},
        }
        for png, image, phash, vector, meta in zip(
            pngs, images, hashes, vectors, provenance, strict=True
        )
    ]
    return Ledger(target).append_many(records)


def find_image(
    image_bytes: bytes, path: Path | None = None, max_distance: int = MAX_PHASH_DISTANCE
) -> dict[str, Any] | None:
    """The ledger entry of an image: by exact SHA-256, else by nearest pHash.

    Returns the entry plus `match` ("exact" or "perceptual") and `distance`.
    Lines are scanned as bytes and only the matching line is parsed: a full
    JSON parse of 100,000 entries takes seconds.
    """
    target = path if path is not None else ledger_path()
    if target is None or not Path(target).exists():
        return None
    digest = hashlib.sha256(image_bytes).hexdigest().encode()
    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        query = int(phash_batch([image])[0], 16)
    best_line, best_distance = None, max_distance + 1
    marker = b'"phash":"'
    with open(target, "rb") as fh:
        for line in fh:
            if digest in line:
                return {**json.loads(line), "match": "exact", "distance": 0}
            at = line.find(marker)
            if at < 0:
                continue
            start = at + len(marker)
            distance = (int(line[start : start + 16], 16) ^ query).bit_count()
            if distance < best_distance:
                best_line, best_distance = line, distance
    if best_line is None:
        return None
    return {**json.loads(best_line), "match": "perceptual", "distance": best_distance}


class _BackgroundRecorder:
    """Writes ledger entries from a queue on one thread, off the request path.

    The queue is bounded: a writer that falls behind slows requests down
    rather than dropping entries. At exit the queue is drained.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=1024)
        self.pid = os.getpid()
        self.thread = threading.Thread(
            target=self._run, name="generation-ledger", daemon=True
        )
        self.thread.start()
        atexit.register(self.drain)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is not None:
                    pngs, provenance, path = item
                    record_images(pngs, provenance, path)
            except Exception:  # noqa: BLE001 - never kill the writer; say why
                logger.exception(
                    "generation ledger: could not record %d images", len(item[0])
                )
            finally:
                self.queue.task_done()

    def submit(
        self, pngs: list[bytes], provenance: list[dict[str, Any]], path: Path
    ) -> None:
        self.queue.put((pngs, provenance, path))

    def drain(self) -> None:
        self.queue.join()


_recorders: dict[int, _BackgroundRecorder] = {}  # one per process (pid)
_recorder_lock = threading.Lock()


def record_images_in_background(
    pngs: list[bytes], provenance: list[dict[str, Any]]
) -> None:
    """Queue images for the ledger (serving path); `flush_background()` waits for them."""
    target = ledger_path()
    if target is None or not pngs:
        return
    with _recorder_lock:
        recorder = _recorders.get(os.getpid())  # a forked worker starts its own
        if recorder is None:
            recorder = _recorders[os.getpid()] = _BackgroundRecorder()
    recorder.submit(pngs, provenance, target.absolute())


def flush_background() -> None:
    """Wait until every queued image is in the ledger."""
    recorder = _recorders.get(os.getpid())
    if recorder is not None:
        recorder.drain()
