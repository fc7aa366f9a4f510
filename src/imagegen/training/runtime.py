"""Where and how training runs: tf.distribute strategy, precision, XLA, devices."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The resolved switches, logged at start and kept in the training summary."""

    strategy: Any
    distribution: str
    replicas: int
    devices: list[str]
    precision: str
    jit_compile: bool
    is_chief: bool

    def describe(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "replicas": self.replicas,
            "devices": self.devices,
            "precision": self.precision,
            "jit_compile": self.jit_compile,
            "is_chief": self.is_chief,
        }


_STRATEGIES: dict[str, Any] = {}


def make_strategy(distribution: str):
    """`default` | `mirrored` | `multi_worker` -> a `tf.distribute.Strategy`.

    Call it before any other TensorFlow work: the multi-worker strategy must
    configure the collective ops at start-up. It reads the cluster from
    `TF_CONFIG` (docs/scale-out.md); without it, it runs as one local worker.
    One instance per process: a second collective strategy in the same
    process clashes with the first one's collective keys.
    """
    import tensorflow as tf

    if distribution == "default":
        return tf.distribute.get_strategy()
    if distribution not in ("mirrored", "multi_worker"):
        raise ValueError(f"unknown distribution {distribution!r}")
    if distribution not in _STRATEGIES:
        _STRATEGIES[distribution] = (
            tf.distribute.MirroredStrategy()
            if distribution == "mirrored"
            else tf.distribute.MultiWorkerMirroredStrategy()
        )
    return _STRATEGIES[distribution]


def is_chief(tf_config: str | None = None) -> bool:
    """Whether this worker writes outputs: the `chief`, else worker 0, else alone."""
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind == "chief":
        return True
    cluster = json.loads(raw).get("cluster", {})
    return kind == "worker" and index == 0 and "chief" not in cluster


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_jit_compile(setting: bool | str) -> bool:
    """`auto`: XLA with a GPU, not on CPU (33% slower and 3-4x longer first step here)."""
    if setting == "auto":
        return has_gpu()
    return bool(setting)


def describe_devices(strategy) -> list[str]:
    """The devices the strategy's replicas run on (all local devices for default)."""
    import tensorflow as tf

    if strategy is not tf.distribute.get_strategy():
        return list(strategy.extended.worker_devices)
    return [device.name for device in tf.config.list_logical_devices()]


@contextlib.contextmanager
def precision_policy(mixed: bool) -> Iterator[str]:
    """Build models under `mixed_float16` (float32 variables, outputs and losses).

    Keras' dtype policy is global: restore the previous one afterwards so a
    mixed-precision run leaves the process as it found it.
    """
    import keras

    previous = keras.config.dtype_policy()
    name = "mixed_float16" if mixed else "float32"
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def make_runtime(
    distribution: str, mixed_precision: bool, jit_compile: bool | str
) -> Runtime:
    """Create the strategy first, then look at the devices; log what was chosen."""
    strategy = make_strategy(distribution)
    runtime = Runtime(
        strategy=strategy,
        distribution=distribution,
        replicas=int(strategy.num_replicas_in_sync),
        devices=describe_devices(strategy),
        precision="mixed_float16" if mixed_precision else "float32",
        jit_compile=resolve_jit_compile(jit_compile),
        is_chief=is_chief(),
    )
    if mixed_precision and not has_gpu():
        logger.warning(
            "training.mixed_precision is on without a GPU: float16 is slower than "
            "float32 on CPU"
        )
    logger.info(
        "Training runtime: %s strategy, %d replica(s) on %s; %s; XLA %s",
        distribution,
        runtime.replicas,
        ", ".join(runtime.devices),
        runtime.precision,
        "on" if runtime.jit_compile else "off",
    )
    return runtime
