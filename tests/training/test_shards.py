"""Training from shards: the same losses as from memory; the reader's order rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imagegen.datasets.shards import (
    ShardedTrainingSet,
    TrainingSetDataset,
    write_shards,
)
from imagegen.provenance.digests import data_digest
from imagegen.training.loop import train
from imagegen.training.streaming import worker_position
from tests.training.digits import digits_training_set


def _with_ids(training_set: dict) -> dict:
    n = len(training_set["images"])
    return {
        **training_set,
        "work_ids": np.array([f"{i:064x}" for i in range(n)], dtype="U64"),
        "pixels_sha256": np.array([f"{i + 7:064x}" for i in range(n)], dtype="U64"),
    }


def _numpy_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


@pytest.fixture
def sharded(tmp_path):
    data = _with_ids(digits_training_set(n=100, size=8))
    write_shards(tmp_path / "shards", data, per_shard=30)  # 30, 30, 30, 10
    return data, ShardedTrainingSet(tmp_path / "shards")


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_training_from_shards_gives_the_in_memory_losses(model, smoke_params, tmp_path):
    data = _with_ids(digits_training_set())
    write_shards(tmp_path / "shards", data, per_shard=100)  # 3 shards of 256 works
    shards = ShardedTrainingSet(tmp_path / "shards")
    assert len(shards.shards) == 3
    params = smoke_params(model=model, epochs=2)
    memory = train(data, params.model_copy(update={"run_name": "memory"}))
    streamed = train(shards, params.model_copy(update={"run_name": "shards"}))
    assert streamed.summary["steps"] == memory.summary["steps"] == 8
    # The same batches in the same order; CPU kernels may sum in another
    # order (about 1e-6 apart), hence a float tolerance.
    for a, b in zip(memory.history, streamed.history, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key


def test_shards_hold_the_set_with_digests(sharded, tmp_path):
    data, shards = sharded
    index = json.loads((tmp_path / "shards/index.json").read_text())
    assert [s["n"] for s in index["shards"]] == [30, 30, 30, 10]
    assert len({s["sha256"] for s in index["shards"]}) == 4
    np.testing.assert_array_equal(shards["images"], data["images"])
    np.testing.assert_array_equal(shards["work_ids"], data["work_ids"])
    np.testing.assert_array_equal(shards["labels"], data["labels"])
    rows = np.array([99, 0, 31, 30, 29])
    np.testing.assert_array_equal(shards.images[rows], data["images"][rows])
    # Another pixel in one shard: another shard digest, another dataset digest.
    data["images"][95, 0, 0, 0] = 0.5
    write_shards(tmp_path / "changed", data, per_shard=30)
    changed = ShardedTrainingSet(tmp_path / "changed")
    assert [s["sha256"] for s in changed.index["shards"]][:3] == [
        s["sha256"] for s in index["shards"]
    ][:3]
    assert changed.digest != shards.digest
    assert data_digest(changed) != data_digest(shards)


def _epochs(shards, buffer, seed=3, epochs=2, worker=0, workers=1, batch=10):
    steps = shards.steps_per_epoch(batch, workers)
    batches = list(
        shards.iter_batches(
            batch,
            seed,
            0,
            epochs,
            _numpy_order,
            labels=np.arange(len(shards)),
            shuffle_buffer=buffer,
            worker=worker,
            workers=workers,
        )
    )
    return [
        np.concatenate([rows for _, rows in batches[e * steps : (e + 1) * steps]])
        for e in range(epochs)
    ]


@pytest.mark.parametrize("buffer", [0, 16])
def test_each_epoch_is_a_seeded_permutation(sharded, buffer):
    _, shards = sharded
    first, second = _epochs(shards, buffer)
    assert sorted(first) == list(range(100)) == sorted(second)
    assert not np.array_equal(first, second)  # reshuffled per epoch
    again = _epochs(shards, buffer)
    np.testing.assert_array_equal(again[0], first)  # same seed, same order
    assert not np.array_equal(_epochs(shards, buffer, seed=4)[0], first)


def test_the_permuted_order_is_the_given_epoch_order(sharded):
    _, shards = sharded
    (first,) = _epochs(shards, 0, epochs=1)
    np.testing.assert_array_equal(first, _numpy_order(100, 3, 0))


def test_a_resumed_stream_continues_with_the_same_batches(sharded):
    _, shards = sharded

    def stream(start):
        return [
            labels
            for _, labels in shards.iter_batches(
                10, 3, start, 2, _numpy_order, labels=np.arange(100), shuffle_buffer=16
            )
        ]

    whole = stream(0)
    np.testing.assert_array_equal(
        np.concatenate(stream(13)), np.concatenate(whole[13:])
    )


def test_workers_read_disjoint_shards(sharded):
    _, shards = sharded
    one = _epochs(shards, 0, worker=0, workers=2, epochs=1, batch=5)[0]
    two = _epochs(shards, 0, worker=1, workers=2, epochs=1, batch=5)[0]
    assert set(one).isdisjoint(two)
    assert set(one) <= set(range(0, 30)) | set(range(60, 90))  # shards 0 and 2
    assert len(one) == len(two) == 40  # both stop at the smaller worker's steps
    assert worker_position(
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    ) == (1, 2)


def test_the_dataset_writes_one_npz_or_shards_by_size(tmp_path):
    data = _with_ids(digits_training_set(n=100, size=8))
    path = tmp_path / "training_set.npz"
    small = TrainingSetDataset(str(path), shard_mb=1)
    small.save(data)
    assert isinstance(small.load(), dict)
    # 100 works of 256 B each: over a 0.01 MB limit, shards of 40 works.
    large = TrainingSetDataset(str(path), shard_mb=0.01)
    large.save(data)
    assert not path.exists()
    loaded = large.load()
    assert isinstance(loaded, ShardedTrainingSet)
    assert [s.n for s in loaded.shards] == [40, 40, 20]
    small.save(data)
    assert isinstance(small.load(), dict)
    assert not (tmp_path / "training_set.npz.shards").exists()


def test_the_training_manifest_names_each_work_s_shard_and_its_digest(sharded):
    import pandas as pd

    from imagegen.pipelines.preprocessing.nodes import (
        build_training_manifest,
        compute_dataset_digest,
    )

    data, shards = sharded
    works = pd.DataFrame(
        {
            "work_id": data["work_ids"],
            **{
                c: ""
                for c in ("path", "title", "creator", "licence", "source_url", "label")
            },
        }
    )
    manifest = build_training_manifest(works, shards)
    by_shard = manifest.groupby("shard")["shard_sha256"].unique()
    assert list(by_shard.index) == [f"shard-{i:05d}" for i in range(4)]
    assert [v[0] for v in by_shard] == [s["sha256"] for s in shards.index["shards"]]
    in_memory = build_training_manifest(works, data)
    assert "shard" not in in_memory.columns
    assert (
        compute_dataset_digest(manifest)["dataset_digest"]
        != compute_dataset_digest(in_memory)["dataset_digest"]
    )
