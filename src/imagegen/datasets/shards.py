"""The training set as shards on disk, read a batch at a time.

A training set larger than one shard (`shard_mb`, 512 MB in the catalog) is
written as `shard-NNNNN.npy` files of float32 images (NumPy's own format: a
header and the raw array, readable from any backend) with a small
`shard-NNNNN.npz` of per-work arrays (labels, work ids, pixel digests) each,
and `index.json`: per shard its count and SHA-256, and `shards_digest`, the
SHA-256 over the shards' digests in order. A smaller set stays the one `.npz`
archive that training holds in memory, as before.

Readers seek to the records they need, so a process holds one batch (or one
shuffle buffer), never the set: memory does not grow with the set.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.datasets.npz import NpzDataset

INDEX = "index.json"
FORMAT = 1
PER_WORK = ("labels", "work_ids", "pixels_sha256")
EpochOrder = Callable[[int, int, int], np.ndarray]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ShardWriter:
    """Appends works and closes a shard each time it holds `per_shard` of them."""

    def __init__(self, directory: Path, per_shard: int, class_names: list[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.per_shard = max(1, per_shard)
        self.class_names = [str(c) for c in class_names]
        self.shards: list[dict[str, Any]] = []
        self._pending: dict[str, list] = {"images": [], **{k: [] for k in PER_WORK}}
        self.shape: list[int] | None = None

    def add(self, images: np.ndarray, labels, work_ids, pixels_sha256) -> None:
        for index, image in enumerate(np.asarray(images, dtype=np.float32)):
            self._pending["images"].append(image)
            self._pending["labels"].append(labels[index])
            self._pending["work_ids"].append(work_ids[index])
            self._pending["pixels_sha256"].append(pixels_sha256[index])
            if len(self._pending["images"]) >= self.per_shard:
                self._flush()

    def _flush(self) -> None:
        if not self._pending["images"]:
            return
        stem = f"shard-{len(self.shards):05d}"
        images = np.stack(self._pending["images"])
        self.shape = list(images.shape[1:])
        np.save(self.directory / f"{stem}.npy", images, allow_pickle=False)
        np.savez(
            self.directory / f"{stem}.npz",
            labels=np.asarray(self._pending["labels"], dtype=np.int32),
            work_ids=np.asarray(self._pending["work_ids"], dtype="U64"),
            pixels_sha256=np.asarray(self._pending["pixels_sha256"], dtype="U64"),
        )
        digest = hashlib.sha256()
        for suffix in (".npy", ".npz"):
            digest.update(_file_sha256(self.directory / f"{stem}{suffix}").encode())
        self.shards.append(
            {"file": stem, "n": len(images), "sha256": digest.hexdigest()}
        )
        self._pending = {"images": [], **{k: [] for k in PER_WORK}}

    def close(self) -> dict[str, Any]:
        self._flush()
        index = {
            "format": FORMAT,
            "n": sum(s["n"] for s in self.shards),
            "shape": self.shape,
            "dtype": "float32",
            "class_names": self.class_names,
            "shards": self.shards,
            "shards_digest": hashlib.sha256(
                "".join(s["sha256"] for s in self.shards).encode()
            ).hexdigest(),
        }
        (self.directory / INDEX).write_text(json.dumps(index, indent=1))
        return index


def write_shards(
    directory: Path, training_set: dict[str, np.ndarray], per_shard: int
) -> dict[str, Any]:
    """Write an in-memory training set as shards of `per_shard` works."""
    writer = ShardWriter(
        directory, per_shard, list(training_set.get("class_names", []))
    )
    n = len(training_set["images"])
    labels = training_set.get("labels", np.full(n, -1, dtype=np.int32))
    writer.add(
        training_set["images"],
        labels,
        training_set["work_ids"],
        training_set["pixels_sha256"],
    )
    return writer.close()


class _Shard:
    """One `.npy` file of images: the byte offset and size of its records."""

    def __init__(self, path: Path, n: int):
        self.path, self.n = path, n
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran or shape[0] != n:
            raise ValueError(f"{path}: not a shard of {n} C-ordered records")
        self.shape, self.dtype = tuple(shape[1:]), np.dtype(dtype)
        self.record = int(np.prod(self.shape)) * self.dtype.itemsize

    def read(self, rows: np.ndarray, fh) -> np.ndarray:
        """Records `rows` (indices into this shard), in the order given."""
        out = np.empty((len(rows), *self.shape), dtype=self.dtype)
        order = np.argsort(rows, kind="stable")
        for position in order:  # ascending offsets: sequential on disk
            fh.seek(self.offset + int(rows[position]) * self.record)
            out[position] = np.frombuffer(fh.read(self.record), self.dtype).reshape(
                self.shape
            )
        return out

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The shard front to back, `size` records at a time."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for start in range(0, self.n, size):
                count = min(size, self.n - start)
                yield np.frombuffer(fh.read(count * self.record), self.dtype).reshape(
                    count, *self.shape
                )


class ShardedImages:
    """`len()` and integer-array indexing over every shard's images, read on demand."""

    def __init__(self, shards: list[_Shard]):
        self.shards = shards
        self.starts = np.cumsum([0] + [s.n for s in shards])
        self.shape = (int(self.starts[-1]), *shards[0].shape)
        self.dtype = shards[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(len(self))[index] if isinstance(index, slice) else index
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for shard_index in np.unique(which):
            mask = which == shard_index
            shard = self.shards[shard_index]
            with open(shard.path, "rb") as fh:
                out[mask] = shard.read(rows[mask] - self.starts[shard_index], fh)
        return out


class ShardedTrainingSet:
    """A training set on disk as shards: streams batches; small per-work arrays on ask.

    `iter_batches` yields the batches of global steps from `start_step` to the
    end of epoch `epochs`, the same for the same (seed, epoch) whatever ran
    before, so resuming stays exact. With `shuffle_buffer` 0 each epoch is one
    permutation of all works (`epoch_order`, the in-memory path's), read by
    seeking (local disks); with a buffer, shards are read front to back in a
    seeded order per epoch through a seeded shuffle buffer of that many works
    (object storage, network file systems). With `workers` > 1, worker
    `worker` reads shards `worker::workers` only.
    """

    is_sharded = True

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.index = json.loads((self.directory / INDEX).read_text())
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{self.directory / INDEX}: unknown shard format")
        self.shards = [
            _Shard(self.directory / f"{s['file']}.npy", s["n"])
            for s in self.index["shards"]
        ]
        self.images = ShardedImages(self.shards)
        self.class_names = list(self.index["class_names"])
        self.digest = self.index["shards_digest"]

    def __len__(self) -> int:
        return len(self.images)

    def digest_bytes(self) -> bytes:
        return f"shards\0{self.digest}".encode()

    def per_work(self, key: str) -> np.ndarray:
        parts = []
        for shard in self.index["shards"]:
            with np.load(self.directory / f"{shard['file']}.npz") as archive:
                parts.append(archive[key])
        return np.concatenate(parts)

    def shard_of_works(self) -> dict[str, tuple[str, str]]:
        """{work id: (shard file, shard SHA-256)}, for the training manifest."""
        found = {}
        for shard in self.index["shards"]:
            with np.load(self.directory / f"{shard['file']}.npz") as archive:
                for work_id in archive["work_ids"]:
                    found[str(work_id)] = (shard["file"], shard["sha256"])
        return found

    def __getitem__(self, key: str) -> np.ndarray:
        """Whole arrays, as the in-memory set has them (evaluation reads them)."""
        if key == "images":
            return self.images[:]
        if key == "class_names":
            return np.asarray(self.class_names, dtype=str)
        return self.per_work(key)

    def keys(self) -> list[str]:
        return ["images", "class_names", *PER_WORK]

    def worker_shards(self, worker: int, workers: int) -> list[int]:
        return list(range(len(self.shards)))[worker::workers]

    def steps_per_epoch(self, batch: int, workers: int = 1) -> int:
        """Whole batches per epoch, the same on every worker (the fewest)."""
        counts = [
            sum(self.shards[i].n for i in self.worker_shards(w, workers))
            for w in range(workers)
        ]
        return min(counts) // batch

    def iter_batches(
        self,
        batch: int,
        seed: int,
        start_step: int,
        epochs: int,
        epoch_order: EpochOrder,
        labels: np.ndarray | None = None,
        shuffle_buffer: int = 0,
        worker: int = 0,
        workers: int = 1,
    ) -> Iterator[np.ndarray | tuple[np.ndarray, np.ndarray]]:
        steps = self.steps_per_epoch(batch, workers)
        if steps < 1:
            raise ValueError(f"{len(self)} works are too few for one batch of {batch}")
        first_epoch, offset = divmod(start_step, steps)
        mine = self.worker_shards(worker, workers)
        global_rows = np.concatenate(
            [np.arange(self.images.starts[i], self.images.starts[i + 1]) for i in mine]
        )
        for epoch in range(first_epoch, epochs):
            if shuffle_buffer:
                stream = self._buffered(mine, seed, epoch, shuffle_buffer, batch)
            else:
                stream = self._permuted(global_rows, seed, epoch, epoch_order, batch)
            for step, (rows, images) in enumerate(stream):
                if step >= steps:
                    break
                if epoch == first_epoch and step < offset:
                    continue
                yield images if labels is None else (images, labels[rows])

    def _permuted(self, rows, seed, epoch, epoch_order, batch):
        order = rows[np.asarray(epoch_order(len(rows), seed, epoch))]
        for start in range(0, len(order) - batch + 1, batch):
            chosen = order[start : start + batch]
            yield chosen, self.images[chosen]

    def _buffered(self, mine, seed, epoch, size, batch):
        # A seeded shuffle buffer written out (tf.data's has no NumPy twin and
        # its seed is tied to TensorFlow): the same algorithm, reproducible per
        # (seed, epoch) on any backend.
        rng = np.random.default_rng([seed, epoch])
        shard_order = [mine[i] for i in rng.permutation(len(mine))]
        buffer_rows: list[int] = []
        buffer_images: list[np.ndarray] = []
        out_rows: list[int] = []
        out_images: list[np.ndarray] = []

        def emit(row, image):
            out_rows.append(row)
            out_images.append(image)

        for shard_index in shard_order:
            start = int(self.images.starts[shard_index])
            row = start
            for block in self.shards[shard_index].blocks(256):
                for image in block:
                    if len(buffer_rows) < size:
                        buffer_rows.append(row)
                        buffer_images.append(image.copy())
                    else:
                        pick = int(rng.integers(size))
                        emit(buffer_rows[pick], buffer_images[pick])
                        buffer_rows[pick], buffer_images[pick] = row, image.copy()
                    row += 1
                    if len(out_rows) == batch:
                        yield np.asarray(out_rows), np.stack(out_images)
                        out_rows, out_images = [], []
        for pick in rng.permutation(len(buffer_rows)):
            emit(buffer_rows[pick], buffer_images[pick])
            if len(out_rows) == batch:
                yield np.asarray(out_rows), np.stack(out_images)
                out_rows, out_images = [], []


class TrainingSetDataset(NpzDataset):
    """The training set: one `.npz` up to `shard_mb`, shards beside it above.

    Shards go to `<filepath>.shards/`. Whichever form a save writes, the other
    is removed afterwards, so a load never mixes two runs; the new form is
    complete on disk before the old one goes.
    """

    def __init__(
        self,
        filepath: str,
        shard_mb: float = 256,
        compress: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(filepath, compress=compress, metadata=metadata)
        self._shard_bytes = int(shard_mb * (1 << 20))
        self._shards = Path(f"{filepath}.shards")

    def load(self) -> dict[str, np.ndarray] | ShardedTrainingSet:
        if not super()._exists() and (self._shards / INDEX).exists():
            return ShardedTrainingSet(self._shards)
        return super().load()

    def save(self, data: dict[str, np.ndarray]) -> None:
        images = np.asarray(data["images"])
        if images.nbytes <= self._shard_bytes:
            super().save(data)
            shutil.rmtree(self._shards, ignore_errors=True)
            return
        per_shard = max(1, self._shard_bytes // max(1, images[0].nbytes))
        staging = self._shards.with_name(self._shards.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        write_shards(staging, data, per_shard)
        shutil.rmtree(self._shards, ignore_errors=True)
        staging.rename(self._shards)
        Path(str(self._filepath)).unlink(missing_ok=True)

    def _exists(self) -> bool:
        return super()._exists() or (self._shards / INDEX).exists()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "shard_mb": self._shard_bytes / (1 << 20)}
