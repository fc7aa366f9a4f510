import numpy as np
import pytest

from imagegen.training.data import (
    TrainingDataError,
    check_training_set,
    fingerprint,
    make_dataset,
)
from tests.training.digits import digits_training_set


def batches(dataset):
    return [np.asarray(b[1] if isinstance(b, tuple) else b) for b in dataset]


def test_every_epoch_is_a_seeded_permutation():
    images = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    labels = np.arange(10, dtype="int32")
    got = batches(make_dataset(images, labels, 3, seed=7, start_step=0, epochs=3))
    assert len(got) == 3 * 3  # 10 // 3 full batches per epoch
    epochs = [np.concatenate(got[i : i + 3]) for i in (0, 3, 6)]
    for order in epochs:
        assert len(set(order.tolist())) == 9  # no repeats within an epoch
    assert not np.array_equal(epochs[0], epochs[1])
    again = batches(make_dataset(images, labels, 3, seed=7, start_step=0, epochs=3))
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(again))
    other = batches(make_dataset(images, labels, 3, seed=8, start_step=0, epochs=3))
    assert not np.array_equal(np.concatenate(got), np.concatenate(other))


def test_starting_mid_run_gives_the_same_later_batches():
    images = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    full = batches(make_dataset(images, None, 3, seed=1, start_step=0, epochs=4))
    for start in (1, 3, 5, 11):
        later = batches(
            make_dataset(images, None, 3, seed=1, start_step=start, epochs=4)
        )
        assert len(later) == len(full) - start
        for a, b in zip(full[start:], later, strict=True):
            np.testing.assert_array_equal(a, b)


def test_images_and_labels_stay_paired():
    training = digits_training_set(n=64)
    dataset = make_dataset(training["images"], training["labels"], 16, 0, 0, 1)
    index = {
        img.tobytes(): label
        for img, label in zip(training["images"], training["labels"], strict=True)
    }
    for images, labels in dataset:
        for image, label in zip(np.asarray(images), np.asarray(labels), strict=True):
            assert index[image.tobytes()] == label


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(images=t["images"][:0]), "the training set is empty"),
        (
            lambda t: t["images"].__setitem__((3, 0, 0, 0), np.nan),
            "1 training images hold NaN",
        ),
        (lambda t: t["images"].__setitem__((0, 0, 0, 0), 3.0), r"scaled to \[-1, 1\]"),
        (lambda t: t.update(images=t["images"][:, :20]), "must be square"),
    ],
)
def test_bad_training_sets_are_refused(change, message):
    training = digits_training_set(n=8)
    change(training)
    with pytest.raises(TrainingDataError, match=message):
        check_training_set(training, conditional=False)


def test_cgan_needs_labels_and_says_where_they_come_from():
    training = digits_training_set(n=8)
    training["labels"][2] = -1
    with pytest.raises(
        TrainingDataError, match=r"training\.model = 'cgan'.*1 works without a label"
    ):
        check_training_set(training, conditional=True)
    unlabelled = {
        "images": training["images"],
        "labels": np.full(8, -1),
        "class_names": np.array([]),
    }
    with pytest.raises(TrainingDataError, match="manifest.csv"):
        check_training_set(unlabelled, conditional=True)
    images, labels, names = check_training_set(
        digits_training_set(n=8), conditional=True
    )
    assert names == [str(i) for i in range(10)] and labels.dtype == np.int32


def test_fingerprint_changes_with_data_and_labels():
    training = digits_training_set(n=8)
    base = fingerprint(training["images"], training["labels"])
    assert base == fingerprint(training["images"].copy(), training["labels"].copy())
    assert base != fingerprint(training["images"], training["labels"][::-1])
    assert base != fingerprint(training["images"], None)
