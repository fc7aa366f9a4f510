"""The training curves as TensorBoard event files."""

import tensorflow as tf

from imagegen.pipelines.training.nodes import write_tensorboard_events


def test_each_epoch_metric_becomes_a_scalar_event(tmp_path):
    summary = {
        "history": [
            {"epoch": 1, "d_loss": 1.5, "g_loss": 0.7, "sample_diversity": 0.2},
            {"epoch": 2, "d_loss": 1.25, "g_loss": 0.9, "sample_diversity": 0.4},
        ]
    }
    files = write_tensorboard_events(summary)
    assert len(files) == 1
    ((name, data),) = files.items()
    assert name.startswith("events.out.tfevents.")
    (tmp_path / name).write_bytes(data)
    scalars = {}
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
        for value in event.summary.value:
            scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    expected = {
        ("d_loss", 1): 1.5,
        ("g_loss", 1): 0.7,
        ("sample_diversity", 1): 0.2,
        ("d_loss", 2): 1.25,
        ("g_loss", 2): 0.9,
        ("sample_diversity", 2): 0.4,
    }
    assert scalars.keys() == expected.keys()
    assert all(abs(scalars[k] - v) < 1e-6 for k, v in expected.items())
