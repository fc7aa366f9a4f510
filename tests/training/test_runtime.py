import json

import keras
import pytest

from imagegen.training.runtime import (
    describe_devices,
    is_chief,
    make_runtime,
    make_strategy,
    precision_policy,
    resolve_jit_compile,
)


def cluster(task_type, index, chief=False):
    spec = {"worker": ["a:1", "b:1"]}
    if chief:
        spec["chief"] = ["c:1"]
    return json.dumps({"cluster": spec, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        ("", True),
        (cluster("worker", 0), True),
        (cluster("worker", 1), False),
        (cluster("worker", 0, chief=True), False),
        (cluster("chief", 0, chief=True), True),
    ],
)
def test_only_the_chief_writes(tf_config, expected):
    assert is_chief(tf_config) is expected


def test_xla_auto_is_off_on_this_cpu_and_switches_are_honoured():
    import tensorflow as tf

    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert resolve_jit_compile("auto") is has_gpu
    assert resolve_jit_compile(True) is True
    assert resolve_jit_compile(False) is False


def test_precision_policy_is_restored_even_on_error():
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(RuntimeError), precision_policy(True) as name:
        assert name == "mixed_float16"
        assert keras.config.dtype_policy().name == "mixed_float16"
        raise RuntimeError
    assert keras.config.dtype_policy().name == "float32"


def test_strategies_and_devices_are_described(caplog):
    import tensorflow as tf

    assert make_strategy("default") is tf.distribute.get_strategy()
    mirrored = make_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert describe_devices(mirrored)
    with caplog.at_level("INFO", logger="imagegen.training.runtime"):
        runtime = make_runtime("default", False, "auto")
    assert runtime.replicas == 1 and runtime.devices
    assert (
        "Training runtime: Keras on tensorflow, default strategy, 1 replica(s) on"
        in caplog.text
    )
    assert runtime.describe()["backend"] == "tensorflow"
    with pytest.raises(ValueError, match="unknown distribution"):
        make_strategy("tpu")
