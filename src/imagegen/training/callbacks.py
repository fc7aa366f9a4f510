"""Keras callbacks of a training run: NaN guard, sample grids and collapse guard, checkpoints.

They share one `RunState`; Keras calls them in list order, which matters:
the guard first (a bad step is never checkpointed), the sample grids next
(an epoch's history entry exists before the checkpoint that closes it).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from imagegen.images import to_uint8
from imagegen.training.checkpoints import CheckpointStore

logger = logging.getLogger(__name__)


@dataclass
class RunState:
    """Progress shared by the callbacks and read back by the training loop."""

    step: int
    steps_per_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    grids: dict[int, np.ndarray] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    last_checkpoint: str | None = None
    last_checkpoint_step: int | None = None
    checkpoint_seconds: float = 0.0
    tracking_seconds: float = 0.0
    collapse_epochs: list[int] = field(default_factory=list)
    collapse_steps: list[int] = field(default_factory=list)
    diversity_checks: list[dict[str, float]] = field(default_factory=list)
    # `on_collapse: stop` holds checkpoints while the last check was under the
    # threshold, so the one kept is from before the collapse.
    hold_checkpoints: bool = False
    pending_metrics: list[np.ndarray] | None = None
    resumed_from: int | None = None


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of images (flattened)."""
    from scipy.spatial.distance import pdist

    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    return float(pdist(flat).mean()) if len(flat) > 1 else 0.0


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """uint8 sheet of images in [-1, 1], `columns` per row, 1 px gaps."""
    pixels = to_uint8(images)
    n, h, w, c = pixels.shape
    rows = math.ceil(n / columns)
    sheet = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, c), 255, np.uint8)
    for index, image in enumerate(pixels):
        row, column = divmod(index, columns)
        top, left = 1 + row * (h + 1), 1 + column * (w + 1)
        sheet[top : top + h, left : left + w] = image
    return sheet[..., 0] if c == 1 else sheet


def _traced_sampler(model, noise: np.ndarray, labels: np.ndarray | None):
    """A compiled `model.generate(noise, labels)`, traced before the first step.

    Calling the functional model eagerly costs more than drawing the samples.
    TensorFlow: a `tf.function`. JAX: the sampling generator's `stateless_call`
    under `jax.jit`, given the variables' current values at each call.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda: model.generate(noise, labels))
    if keras.backend.backend() != "jax":
        return lambda: model.generate(noise, labels)
    import jax

    inputs = [noise, labels] if model.conditional else noise

    @jax.jit
    def sample(trainable, non_trainable):
        generator = model.sampling_generator
        images, _ = generator.stateless_call(
            trainable, non_trainable, inputs, training=False
        )
        return images

    def draw():
        model.jax_state_sync()  # the last step's state, into the variables
        generator = model.sampling_generator
        return sample(
            [v.value for v in generator.trainable_variables],
            [v.value for v in generator.non_trainable_variables],
        )

    return draw


class NonFiniteGuard(keras.callbacks.Callback):
    """Count steps; stop at the first step whose losses are NaN or Inf."""

    def __init__(self, state: RunState):
        super().__init__()
        self.state = state

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.state.step += 1
        values = {k: float(v) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            self.state.failure = {
                "step": self.state.step,
                "epoch": (self.state.step - 1) // self.state.steps_per_epoch + 1,
                "values": bad,
            }
            self.model.stop_training = True


class EpochSamples(keras.callbacks.Callback):
    """Per epoch: the history entry and a grid from fixed noise; the collapse guard.

    Diversity is the mean pairwise distance of the fixed-noise samples over
    that of the same number of training images (about 1 for a healthy
    generator; mode collapse makes samples alike). It is checked at the end
    of every epoch from the first, and every `check_every` steps when that is
    set (long epochs), and logged each time. Each check under `threshold`
    warns; with `on_collapse = "stop"`, `patience` such checks in a row stop
    the run before anything more is checkpointed.
    """

    def __init__(
        self,
        state: RunState,
        noise: np.ndarray,
        labels: np.ndarray | None,
        reference_diversity: float,
        collapse_threshold: float,
        columns: int,
        on_collapse: str = "warn",
        check_every: int = 0,
        patience: int = 2,
    ):
        super().__init__()
        self.state = state
        self._sample = None
        self.noise = noise
        self.labels = labels
        self.reference = reference_diversity
        self.threshold = collapse_threshold
        self.columns = columns
        self.on_collapse = on_collapse
        self.check_every = check_every
        self.patience = patience
        self._below = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._sample is not None:
            return
        started = time.perf_counter()
        self._sample = _traced_sampler(self.model, self.noise, self.labels)
        self._sample()
        self.state.tracking_seconds += time.perf_counter() - started

    def _draw(self) -> tuple[np.ndarray, float]:
        samples = keras.ops.convert_to_numpy(self._sample())
        diversity = (
            mean_pairwise_distance(samples) / self.reference if self.reference else 0.0
        )
        return samples, diversity

    def _check(self, diversity: float, epoch: int, at_epoch_end: bool) -> None:
        step = self.state.step
        collapsed = diversity < self.threshold
        self.state.diversity_checks.append(
            {"step": step, "epoch": epoch, "sample_diversity": round(diversity, 4)}
        )
        logger.info(
            "Sample diversity %.3f of the training set's at step %d (epoch %d)",
            diversity,
            step,
            epoch,
        )
        self._below = self._below + 1 if collapsed else 0
        self.state.hold_checkpoints = collapsed and self.on_collapse == "stop"
        if not collapsed:
            return
        (
            self.state.collapse_epochs if at_epoch_end else self.state.collapse_steps
        ).append(epoch if at_epoch_end else step)
        logger.warning(
            "Possible mode collapse at epoch %d (step %d): sample diversity is %.2f "
            "of the training set's (threshold training.collapse_threshold = %.2f)",
            epoch,
            step,
            diversity,
            self.threshold,
        )
        if self.on_collapse == "stop" and self._below >= self.patience:
            self.state.failure = {
                "kind": "collapse",
                "step": step,
                "epoch": epoch,
                "values": {"sample_diversity": round(diversity, 4)},
            }
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.state.step
        if (
            not self.check_every
            or self.state.failure
            or step % self.check_every
            or step % self.state.steps_per_epoch == 0  # the epoch's end checks it
        ):
            return
        started = time.perf_counter()
        _, diversity = self._draw()
        self._check(diversity, step // self.state.steps_per_epoch + 1, False)
        self.state.tracking_seconds += time.perf_counter() - started

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Keras also ends an epoch that was stopped early: record whole ones only.
        if self.state.failure or self.state.step % self.state.steps_per_epoch:
            return
        started = time.perf_counter()
        entry = {k: float(v) for k, v in (logs or {}).items()}
        samples, diversity = self._draw()
        entry["sample_diversity"] = diversity
        self.state.history.append({"epoch": epoch + 1, **entry})
        self.state.grids[epoch + 1] = tile(samples, self.columns)
        self._check(diversity, epoch + 1, True)
        self.state.tracking_seconds += time.perf_counter() - started


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Checkpoint every `every` steps and at the end, never after a bad step.

    A step that closes an epoch is saved at the epoch's end, so the checkpoint
    holds that epoch's history entry. On resume mid-epoch the saved metric
    accumulators are put back after Keras resets them at the epoch's start, so
    the epoch's mean losses equal an uninterrupted run's.
    """

    def __init__(
        self,
        state: RunState,
        store: CheckpointStore | None,
        every: int,
        header: dict[str, Any],
        metric_variables: list,
    ):
        super().__init__()
        self.state = state
        self.store = store
        self.every = every
        self.header = header
        self.metric_variables = metric_variables
        self._due_at_epoch_end = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pending, self.state.pending_metrics = self.state.pending_metrics, None
        if pending is not None:
            for variable, value in zip(self.metric_variables, pending, strict=True):
                variable.assign(value)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.state.failure or not self.every or self.state.step % self.every:
            return
        if self.state.step % self.state.steps_per_epoch == 0:
            self._due_at_epoch_end = True
        else:
            self.save()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._due_at_epoch_end and not self.state.failure:
            self.save()
        self._due_at_epoch_end = False

    def on_train_end(self, logs: dict | None = None) -> None:
        if (
            not self.state.failure
            and self.state.last_checkpoint_step != self.state.step
        ):
            self.save()

    def save(self) -> None:
        if self.store is None or self.state.hold_checkpoints:
            return  # not the chief of a multi-worker run, or a suspected collapse
        started = time.perf_counter()
        path = self.store.save(
            self.model,
            self.state.step,
            {**self.header, "history": self.state.history},
        )
        self.state.last_checkpoint = str(path)
        self.state.last_checkpoint_step = self.state.step
        self.state.checkpoint_seconds += time.perf_counter() - started
