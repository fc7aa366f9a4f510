"""Where and how training runs: backend, tf.distribute strategy, precision, XLA, devices.

Keras picks its backend once, when it is first imported, from `KERAS_BACKEND`
(else ~/.keras/keras.json, else TensorFlow). `training.backend` therefore
cannot switch it: it is checked against the process's backend at the start
of a run, and a disagreement stops the run with the variable to set. (Setting
`KERAS_BACKEND` from the configuration would need Keras to be imported after
the configuration is read, which Kedro's plugins and hooks do not guarantee.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


BACKENDS = ("auto", "tensorflow", "jax")


class BackendMismatch(ValueError):
    """`training.backend` names another backend than the one Keras runs in this process."""


def keras_backend() -> str:
    import keras

    return keras.backend.backend()


def check_backend(setting: str) -> str:
    """The backend to train on: `auto` is the process's; anything else must equal it."""
    if setting not in BACKENDS:
        raise BackendMismatch(
            f"training.backend = {setting!r}; allowed values: {', '.join(BACKENDS)}"
        )
    running = keras_backend()
    if running not in BACKENDS[1:]:
        raise BackendMismatch(
            f"Keras runs on {running!r} (KERAS_BACKEND); training runs on "
            "tensorflow or jax: set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"
        )
    if setting not in ("auto", running):
        raise BackendMismatch(
            f"training.backend = {setting} but Keras runs on {running} in this "
            f"process: start it with KERAS_BACKEND={setting} (Keras reads it once, "
            "at import), or set training.backend to auto or "
            f"{running}; allowed values: {', '.join(BACKENDS)}"
        )
    return running


class _NoStrategy:
    """JAX: one process, one device set; there is no strategy scope to enter."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


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
    backend: str = "tensorflow"

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
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
    if keras_backend() == "jax":
        import jax

        return jax.default_backend() in ("gpu", "cuda", "rocm")
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_jit_compile(setting: bool | str) -> bool:
    """`auto`: XLA with a GPU, not on CPU (33% slower and 3-4x longer first step here).

    On JAX `auto` is always on: JAX has no graph mode besides XLA, and
    op-by-op dispatch is many times slower (`false` runs eagerly, to debug).
    """
    if setting == "auto":
        return True if keras_backend() == "jax" else has_gpu()
    return bool(setting)


def resolve_precision(mixed: bool | str) -> str:
    """The Keras dtype policy of `training.mixed_precision`.

    On: `mixed_float16` with loss scaling on TensorFlow (as before),
    `mixed_bfloat16` on JAX (bfloat16 has float32's range: no loss scaling).
    `auto`: on with a GPU, off on CPU (float16/bfloat16 are slower on CPU).
    """
    on = has_gpu() if mixed == "auto" else bool(mixed)
    if not on:
        return "float32"
    return "mixed_bfloat16" if keras_backend() == "jax" else "mixed_float16"


def describe_devices(strategy) -> list[str]:
    """The devices the strategy's replicas run on (all local devices for default)."""
    if isinstance(strategy, _NoStrategy):
        import jax

        return [str(device) for device in jax.devices()]
    import tensorflow as tf

    if strategy is not tf.distribute.get_strategy():
        return list(strategy.extended.worker_devices)
    return [device.name for device in tf.config.list_logical_devices()]


@contextlib.contextmanager
def precision_policy(mixed: bool | str) -> Iterator[str]:
    """Build models under a mixed policy (float32 variables, outputs and losses).

    `mixed` is a policy name or a switch (`resolve_precision`). Keras' dtype
    policy is global: restore the previous one afterwards so a
    mixed-precision run leaves the process as it found it.
    """
    import keras

    previous = keras.config.dtype_policy()
    name = (
        mixed
        if isinstance(mixed, str) and mixed != "auto"
        else resolve_precision(mixed)
    )
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def make_runtime(
    distribution: str,
    mixed_precision: bool | str,
    jit_compile: bool | str,
    backend: str = "auto",
) -> Runtime:
    """Check the backend, create the strategy, then look at the devices; log it all."""
    backend = check_backend(backend)
    if backend == "jax":
        if distribution != "default":
            raise BackendMismatch(
                f"training.distribution = {distribution} needs tf.distribute: on "
                "the jax backend only `default` (one process, its devices) is "
                "supported; allowed values there: default"
            )
        strategy: Any = _NoStrategy()
    else:
        strategy = make_strategy(distribution)
    runtime = Runtime(
        strategy=strategy,
        distribution=distribution,
        replicas=int(strategy.num_replicas_in_sync),
        devices=describe_devices(strategy),
        precision=resolve_precision(mixed_precision),
        jit_compile=resolve_jit_compile(jit_compile),
        is_chief=is_chief(),
        backend=backend,
    )
    if mixed_precision is True and not has_gpu():
        logger.warning(
            "training.mixed_precision is on without a GPU: float16 is slower than "
            "float32 on CPU"
        )
    logger.info(
        "Training runtime: Keras on %s, %s strategy, %d replica(s) on %s; %s; XLA %s",
        backend,
        distribution,
        runtime.replicas,
        ", ".join(runtime.devices),
        runtime.precision,
        "on" if runtime.jit_compile else "off",
    )
    return runtime
