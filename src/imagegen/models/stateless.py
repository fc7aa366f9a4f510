"""`fit` on the JAX backend: the model's stateless step in a jit-compiled loop.

Keras' own JAX `fit` carries one optimiser's variables in its state
(`model.optimizer`); the GAN families step two optimisers each, and the
training loop checkpoints and restores both. This loop carries every
variable a step touches (`training_state_variables`) as one list of arrays
and calls the callbacks as Keras' `fit` does, so the same callbacks (NaN
guard, sample grids, checkpoints, progress bar) serve both backends. Between
steps the state stays as arrays; `model.jax_state_sync()` (which every Keras
callback calls before it touches the model) puts it back into the variables.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np


class PendingState:
    """The last step's values of `variables`, not yet in them (`jax_state_sync`).

    A plain object, not a tuple: Keras tracks the variables in any list or
    tuple set on a model and would count them as the model's own.
    """

    def __init__(self, variables: list, values: list):
        self.variables = variables
        self.values = values


def training_state_variables(model) -> list:
    """Every variable a train step reads or writes, once each, in a fixed order."""
    seen: set[int] = set()
    ordered = []
    groups = [model.variables]
    groups += [opt.variables for opt, _ in model.optimizer_targets().values()]
    groups += [m.variables for m in model.metrics]
    for group in groups:
        for variable in group:
            if id(variable) not in seen:
                seen.add(id(variable))
                ordered.append(variable)
    return ordered


def stateless_train_step(model, variables: list, state: list, data):
    """JAX: `model.train_step(data)` as a pure function of the variables' values.

    Returns (logs, the new values of `variables`); jit-compiled by the loop.
    """
    with keras.StatelessScope(
        state_mapping=list(zip(variables, state, strict=True))
    ) as scope:
        logs = model.train_step(data)
        new_state = [scope.get_current_value(v) for v in variables]
    return logs, new_state


def make_step(model, variables: list, jit_compile: bool):
    """The jitted (or, with jit off, eager) `(state, batch) -> (logs, state)`."""
    import jax

    step = functools.partial(stateless_train_step, model, variables)
    return jax.jit(step) if jit_compile else step


def array_batches(
    data, batch_size: int, epochs: int, shuffle: bool, seed: int
) -> tuple[Iterator[Any], int]:
    """(batches, steps per epoch) of in-memory arrays; a last partial batch is dropped.

    Whole batches only: WGAN-GP splits each batch into `n_critic` equal parts.
    """
    arrays = data if isinstance(data, tuple) else (data,)
    n = len(arrays[0])
    steps = n // batch_size

    def generate():
        for epoch in range(epochs):
            order = (
                np.random.default_rng([seed, epoch]).permutation(n)
                if shuffle
                else np.arange(n)
            )
            for step in range(steps):
                index = order[step * batch_size : (step + 1) * batch_size]
                picked = tuple(np.asarray(a)[index] for a in arrays)
                yield picked if isinstance(data, tuple) else picked[0]

    return generate(), steps


def prefetch_to_device(batches: Iterable[Any], size: int = 2) -> Iterator[Any]:
    """Gather and copy the next `size` batches to the accelerator in a thread.

    On a GPU the host gather and the copy would otherwise sit between steps
    (each step ends with the NaN guard reading the losses back); the order
    of the batches is unchanged. On CPU the batches are used as they come.
    """
    import queue
    import threading

    import jax

    if jax.default_backend() == "cpu":
        yield from batches
        return
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=size)

    def fill() -> None:
        try:
            for batch in batches:
                ready.put(jax.device_put(batch))
        except BaseException as error:  # re-raised in the training thread
            ready.put(error)
        ready.put(done)

    threading.Thread(target=fill, daemon=True, name="prefetch").start()
    while (batch := ready.get()) is not done:
        if isinstance(batch, BaseException):
            raise batch
        yield batch


def fit_stateless(
    model,
    batches: Iterable[Any],
    *,
    initial_epoch: int,
    epochs: int,
    steps_per_epoch: int,
    callbacks: list | None,
    verbose: int,
    jit_compile: bool = True,
):
    """Run epochs `initial_epoch` .. `epochs - 1` of `steps_per_epoch` steps each."""
    # Slots created while tracing would hold tracers: every variable exists first.
    model.build_optimizers()
    variables = training_state_variables(model)
    step = make_step(model, variables, jit_compile)
    callback_list = keras.callbacks.CallbackList(
        callbacks or [],
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    iterator = iter(prefetch_to_device(batches))
    model.stop_training = False
    callback_list.on_train_begin()
    epoch_logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        model.jax_state_sync()
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        state = [v.value for v in variables]
        logs: dict[str, Any] = {}
        for index in range(steps_per_epoch):
            callback_list.on_train_batch_begin(index)
            logs, state = step(state, next(iterator))
            model._pending_state = PendingState(variables, state)
            callback_list.on_train_batch_end(index, logs)
            if model.stop_training:
                break
        model.jax_state_sync()
        epoch_logs = {name: float(value) for name, value in logs.items()}
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    model.jax_state_sync()
    callback_list.on_train_end(epoch_logs)
    return model.history
