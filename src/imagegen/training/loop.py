"""A training run: build the configured model, fit it with checkpoints and guards.

`train` is what the Kedro node calls; tests and the throughput benchmark call
it too, so they measure the code that runs.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.framework.families import FAMILIES, OPTIMISER_KEYS
from imagegen.framework.parameters import TrainingParams
from imagegen.training.callbacks import (
    EpochSamples,
    NonFiniteGuard,
    PeriodicCheckpoint,
    RunState,
    mean_pairwise_distance,
)
from imagegen.training.checkpoints import (
    CheckpointMismatch,
    CheckpointStore,
    restore,
)
from imagegen.training.data import (
    TrainingDataError,
    check_training_set,
    fingerprint,
    make_dataset,
    numpy_batches,
)
from imagegen.training.runtime import Runtime, make_runtime, precision_policy
from imagegen.training.streaming import (
    check_sharded_set,
    make_sharded_dataset,
    worker_position,
)

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the message names the step and the last checkpoint."""


class TrainingCollapsedError(RuntimeError):
    """`on_collapse: stop` saw the generator collapse; the message says what to try."""


@dataclass
class TrainingResult:
    model: Any
    history: list[dict[str, float]]
    grids: dict[int, np.ndarray]
    summary: dict[str, Any]
    class_names: list[str] = field(default_factory=list)


def build_model(params: TrainingParams, image_size: int, channels: int, n_classes: int):
    """The `keras.Model` named by `training.model`, sized by its parameter block.

    Adversarial families get the augmentation (`training.augment`) and the EMA
    generator (`training.ema_decay`); the VAE has neither.
    """
    family = FAMILIES[params.model]
    model_class = family.model_class()
    common: dict[str, Any] = {
        "image_size": image_size,
        "channels": channels,
        "latent_dim": params.latent_dim,
        "seed": params.seed,
    }
    block = getattr(params, params.model).model_dump()
    for key in OPTIMISER_KEYS:
        block.pop(key, None)
    if family.adversarial:
        common.update(augment=params.augment_config(), ema_decay=params.ema_decay)
    if model_class.conditional:
        common["n_classes"] = n_classes
    return model_class(**block, **common)


def compile_model(model, params: TrainingParams, runtime: Runtime) -> None:
    """Adam per network from the model's block; loss scaling under mixed precision."""
    import keras

    def adam(**kwargs):
        optimizer = keras.optimizers.Adam(**kwargs)
        # bfloat16 (JAX) has float32's range: only float16 needs loss scaling.
        if runtime.precision == "mixed_float16":
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    family = FAMILIES[params.model]
    block = getattr(params, params.model)
    if not family.adversarial:
        model.compile(
            optimizer=adam(learning_rate=block.learning_rate),
            jit_compile=runtime.jit_compile,
        )
        return
    settings = {key: getattr(block, key) for key in family.adam_betas}
    model.compile(
        d_optimizer=adam(
            learning_rate=block.discriminator_learning_rate or block.learning_rate,
            **settings,
        ),
        g_optimizer=adam(learning_rate=block.learning_rate, **settings),
        jit_compile=runtime.jit_compile,
    )


def resume_keys(
    params: TrainingParams, data_fingerprint: str, precision: str = "float32"
) -> dict[str, Any]:
    """Settings a checkpoint must share with the run that resumes it.

    The backend is not one of them: a checkpoint holds plain arrays (resuming
    on the other backend is untested; its later batches would follow that
    backend's shuffle).
    """
    keys: dict[str, Any] = {
        "training.model": params.model,
        "training.batch_size": params.batch_size,
        "training.latent_dim": params.latent_dim,
        "training.seed": params.seed,
        "training.mixed_precision": precision != "float32",
        "training.augment": params.augment,
        "training.ema_decay": params.ema_decay,
        "training set": data_fingerprint,
    }
    if params.augment != "none":
        policy = getattr(params.augmentation, params.augment).model_dump()
        for key, value in policy.items():
            keys[f"training.augmentation.{params.augment}.{key}"] = value
    for key, value in getattr(params, params.model).model_dump().items():
        keys[f"training.{params.model}.{key}"] = value
    return keys


def check_resumable(checkpoint, expected: dict[str, Any]) -> None:
    saved = checkpoint.header.get("resume_keys", {})
    different = [
        f"{key} (checkpoint {saved.get(key)!r}, now {value!r})"
        for key, value in expected.items()
        if saved.get(key) != value
    ]
    if different:
        raise CheckpointMismatch(
            f"cannot resume from {checkpoint.path}: " + "; ".join(different) + ". "
            "Use the checkpoint's settings, or start afresh without training.resume"
        )


def _effective_batch(model, params: TrainingParams, n: int, replicas: int) -> int:
    per_image = model.images_per_step(1)
    batch = min(params.batch_size, n // per_image)
    if batch < 1:
        raise TrainingDataError(
            f"{n} training images are too few for one step of {params.model} "
            f"({per_image} real batches per step)"
        )
    if batch < params.batch_size:
        logger.warning(
            "training.batch_size = %d is more than the %d training images allow; "
            "using %d",
            params.batch_size,
            n,
            batch,
        )
    if batch % replicas:
        raise TrainingDataError(
            f"training.batch_size = {batch} must be a multiple of the {replicas} "
            "replicas"
        )
    return batch


def _verbosity(progress_bar: bool) -> int:
    # The bar redraws in place on a terminal; in a log it would print a line
    # every 50 ms, so logs get one line per epoch.
    if not progress_bar:
        return 0
    return 1 if sys.stdout.isatty() else 2


def _start_state(
    params: TrainingParams,
    model,
    store: CheckpointStore,
    expected: dict[str, Any],
    steps_per_epoch: int,
    is_chief: bool,
) -> RunState:
    """Step 0 with no old checkpoints, or the last checkpoint's state on resume."""
    state = RunState(step=0, steps_per_epoch=steps_per_epoch)
    if not params.resume:
        if is_chief and store.paths():
            logger.warning(
                "Starting afresh: removed %d checkpoint(s) of an earlier run from %s "
                "(--params training.resume=true continues one instead)",
                store.clear(),
                store.directory,
            )
        return state
    checkpoint = store.latest()
    if checkpoint is None:
        logger.warning(
            "training.resume is on but %s holds no checkpoint: starting at step 0",
            store.directory,
        )
        return state
    check_resumable(checkpoint, expected)
    restore(model, checkpoint)
    state.step = state.resumed_from = checkpoint.step
    done = checkpoint.step // steps_per_epoch
    state.history = [h for h in checkpoint.header["history"] if h["epoch"] <= done]
    state.last_checkpoint = str(checkpoint.path)
    state.last_checkpoint_step = checkpoint.step
    if checkpoint.step % steps_per_epoch:
        state.pending_metrics = [
            checkpoint.arrays[k]
            for k in sorted(checkpoint.arrays)
            if k.startswith("metrics.")
        ]
    logger.info("Resuming from %s (step %d)", checkpoint.path, checkpoint.step)
    return state


def _segments(step: int, steps_per_epoch: int, epochs: int) -> list[tuple[int, int]]:
    """(initial epoch, steps per epoch) of each `fit` call from `step` on.

    A run resumed mid-epoch first finishes that epoch, then runs whole ones.
    """
    first_epoch, offset = divmod(step, steps_per_epoch)
    segments = []
    if offset and first_epoch < epochs:
        segments.append((first_epoch, steps_per_epoch - offset))
        first_epoch += 1
    if first_epoch < epochs:
        segments.append((first_epoch, steps_per_epoch))
    return segments


def _failure_message(state: RunState, params: TrainingParams) -> str:
    model_name = params.model
    failure = state.failure or {}
    values = ", ".join(f"{k} = {v}" for k, v in failure["values"].items())
    kept = (
        f"the last good checkpoint is {state.last_checkpoint} (step "
        f"{state.last_checkpoint_step})"
        if state.last_checkpoint
        else "no checkpoint was written before it"
    )
    if failure.get("kind") == "collapse":
        return (
            f"training stopped: the generator collapsed ({values} of the training "
            f"set's, under training.collapse_threshold = {params.collapse_threshold}) "
            f"at step {failure['step']} (epoch {failure['epoch']}); {kept}. Try "
            "training.augment=diffaugment or ada, training.ema_decay=0.999, "
            f"training.{model_name}.loss=hinge, a lower "
            f"training.{model_name}.discriminator_learning_rate, or more works; "
            "training.on_collapse=warn trains on regardless"
        )
    return (
        f"training stopped: {values} at step {failure['step']} (epoch "
        f"{failure['epoch']}); {kept}. Lower training.{model_name}.learning_rate "
        "or check the training set, then rerun (with --params "
        "training.resume=true to continue from that checkpoint)"
    )


def train(
    training_set: dict[str, np.ndarray],
    params: TrainingParams,
    extra_callbacks: tuple = (),
) -> TrainingResult:
    """Train `params.model` on the training set; resume from a checkpoint if asked."""
    runtime = make_runtime(
        params.distribution, params.mixed_precision, params.jit_compile, params.backend
    )
    import keras

    model_class = FAMILIES[params.model].model_class()
    sharded = getattr(training_set, "is_sharded", False)
    check = check_sharded_set if sharded else check_training_set
    images, labels, class_names = check(training_set, model_class.conditional)
    keras.utils.set_random_seed(params.seed)
    with precision_policy(runtime.precision), runtime.strategy.scope():
        model = build_model(params, images.shape[1], images.shape[-1], len(class_names))
        compile_model(model, params, runtime)
        model.build_optimizers()
    batch = _effective_batch(model, params, len(images), runtime.replicas)
    data_batch = model.images_per_step(batch)
    steps_per_epoch = len(images) // data_batch
    if sharded:
        steps_per_epoch = training_set.steps_per_epoch(data_batch, worker_position()[1])
    logger.info(
        "Training %s on %d images%s: %d epochs of %d steps, %d images per step",
        params.model,
        len(images),
        f" in {len(class_names)} classes" if class_names else "",
        params.epochs,
        steps_per_epoch,
        data_batch,
    )
    store = CheckpointStore(
        Path(params.checkpoint_dir) / (params.run_name or params.model),
        params.checkpoints_to_keep,
    )
    expected = resume_keys(
        params,
        training_set.digest if sharded else fingerprint(images, labels),
        runtime.precision,
    )
    state = _start_state(
        params, model, store, expected, steps_per_epoch, runtime.is_chief
    )
    callbacks = [
        NonFiniteGuard(state),
        _epoch_samples(state, params, images, class_names),
        PeriodicCheckpoint(
            state,
            store if runtime.is_chief else None,
            params.checkpoint_every_n_steps,
            {"format": 1, "resume_keys": expected, "steps_per_epoch": steps_per_epoch},
            [v for m in model.metrics for v in m.variables],
        ),
        *extra_callbacks,
    ]
    segments = _segments(state.step, steps_per_epoch, params.epochs)
    start_step, started = state.step, time.perf_counter()
    for index, (initial_epoch, steps) in enumerate(segments):
        last_epoch = initial_epoch + 1 if steps != steps_per_epoch else params.epochs
        _fit(
            model,
            runtime,
            (
                training_set if sharded else images,
                labels,
                data_batch,
                params.seed,
                state.step,
                last_epoch,
            ),
            shuffle_buffer=params.shuffle_buffer if sharded else None,
            initial_epoch=initial_epoch,
            epochs=last_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=_verbosity(params.progress_bar),
        )
        if state.failure or (model.stop_training and index < len(segments) - 1):
            break
    seconds = time.perf_counter() - started
    if state.failure:
        error = (
            TrainingCollapsedError
            if state.failure.get("kind") == "collapse"
            else NonFiniteLossError
        )
        raise error(_failure_message(state, params))
    summary = _summary(params, model, runtime, state, store, batch, data_batch)
    summary.update(
        n_images=len(images),
        class_names=class_names,
        seconds=round(seconds, 2),
        images_per_second=round((state.step - start_step) * data_batch / seconds, 1)
        if seconds and state.step > start_step
        else None,
        tracking_fraction=round(state.tracking_seconds / seconds, 4)
        if seconds
        else None,
    )
    if not all(math.isfinite(v) for v in summary["final"].values()):
        raise NonFiniteLossError(f"training diverged: final metrics {summary['final']}")
    return TrainingResult(model, state.history, state.grids, summary, class_names)


def _fit(
    model, runtime: Runtime, data: tuple, shuffle_buffer: int | None, **kwargs: Any
) -> None:
    """One `fit` segment: `tf.data` batches on TensorFlow (streamed from the shards
    when `shuffle_buffer` is given: a sharded set), NumPy batches on JAX."""
    if runtime.backend == "jax":
        if shuffle_buffer is not None:
            raise ValueError(
                "a sharded training set streams through tf.data: train it with "
                "KERAS_BACKEND=tensorflow, or raise the catalog's shard_mb"
            )
        model.fit(numpy_batches(*data), **kwargs)
        return
    if shuffle_buffer is not None:
        model.fit(
            make_sharded_dataset(*data, shuffle_buffer=shuffle_buffer),
            shuffle=False,  # the stream is shuffled, reproducibly, per epoch
            **kwargs,
        )
        return
    model.fit(
        make_dataset(*data),
        shuffle=False,  # the dataset is shuffled, reproducibly, per epoch
        **kwargs,
    )


def _epoch_samples(
    state: RunState, params: TrainingParams, images: np.ndarray, class_names: list
) -> EpochSamples:
    """Fixed noise (and a class per column) for the per-epoch grids and diversity."""
    from imagegen.models import latent_noise

    n = params.grid_size**2
    reference = np.random.default_rng(params.seed).choice(
        len(images), min(len(images), n), replace=False
    )
    per_column = class_names and len(class_names) <= 16
    return EpochSamples(
        state,
        latent_noise(params.seed, n, params.latent_dim),
        (np.arange(n) % len(class_names)).astype(np.int32) if class_names else None,
        mean_pairwise_distance(images[reference]),
        params.collapse_threshold,
        columns=len(class_names) if per_column else params.grid_size,
        on_collapse=params.on_collapse,
        check_every=params.collapse_check_every_n_steps,
    )


def _summary(
    params: TrainingParams,
    model,
    runtime: Runtime,
    state: RunState,
    store: CheckpointStore,
    batch: int,
    data_batch: int,
) -> dict[str, Any]:
    config = model.get_config()
    return {
        "model": params.model,
        "model_config": {
            k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")
        },
        "epochs": params.epochs,
        "steps": state.step,
        "steps_per_epoch": state.steps_per_epoch,
        "total_steps": params.epochs * state.steps_per_epoch,
        "resumed_from_step": state.resumed_from,
        "batch_size": batch,
        "images_per_step": data_batch,
        **runtime.describe(),
        "checkpoint_dir": str(store.directory),
        "last_checkpoint": state.last_checkpoint,
        "checkpoint_seconds": round(state.checkpoint_seconds, 3),
        "tracking_seconds": round(state.tracking_seconds, 3),
        "collapse_warnings": state.collapse_epochs,
        "collapse_warning_steps": state.collapse_steps,
        "diversity_checks": state.diversity_checks,
        "augment": params.augment,
        "ema_decay": params.ema_decay if FAMILIES[params.model].adversarial else 0.0,
        "history": state.history,
        "final": {
            k: v
            for k, v in (state.history[-1] if state.history else {}).items()
            if k != "epoch"
        },
    }
