"""Backend-neutral pieces of the train steps: gradients, replicas, stateless steps.

Each family writes its step once, as "compute the losses, then update the
networks named" (`optimise`). Under TensorFlow that is one `GradientTape` per
network, as in the TF DCGAN tutorial. Under JAX it is Keras' stateless pattern
(keras.io, "Customizing what happens in fit() with JAX"): the step runs inside
a `keras.StatelessScope` holding the current value of every variable, the
losses are differentiated with `jax.vjp` (one forward pass serves the losses
of both networks, as the two tapes do) and `optimizer.apply` records the new
values in the scope, which `imagegen.models.stateless` returns as the next
state.
Writing to the scope rather than through `stateless_call`/`stateless_apply`
per network keeps one step body for both backends: batch-norm statistics,
seed-generator states, the EMA copy, ADA's p and the loss trackers are all
ordinary variable assignments that the scope collects.

TensorFlow is imported only on the TensorFlow path, so the models import and
train on a machine without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import keras

Compute = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


def backend() -> str:
    """The Keras backend this process runs (fixed when Keras is first imported)."""
    return keras.backend.backend()


def replica_context() -> tuple[int, int]:
    """(replicas in sync, this replica's index): a `tf.distribute` strategy's, else (1, 0)."""
    if backend() != "tensorflow":
        return 1, 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def replica_scale(loss):
    """Divide by the replica count: gradients are summed across replicas."""
    replicas, _ = replica_context()
    return loss if replicas == 1 else loss / replicas


def scaled_loss(optimizer, loss):
    """The loss to differentiate: divided by the replicas, times the loss scale.

    `scale_loss` is the identity for plain optimisers; a `LossScaleOptimizer`
    unscales the gradients again and skips a step whose gradients are not
    finite.
    """
    return optimizer.scale_loss(replica_scale(loss))


def apply_gradients(optimizer, tape, scaled, variables) -> None:
    """TensorFlow: differentiate a `scaled_loss` on its tape and apply the gradients.

    Embedding gradients come as IndexedSlices whose size depends on the
    batch's labels; replicas cannot all-reduce those, so they are made dense
    (the label tables are small).
    """
    import tensorflow as tf

    grads = [
        tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
        for g in tape.gradient(scaled, variables)
    ]
    optimizer.apply_gradients(zip(grads, variables, strict=True))


def input_gradient(fn: Callable, x):
    """d sum(fn(x)) / dx, with the backend's own autodiff (the WGAN-GP penalty)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x)
    import jax

    return jax.grad(lambda inputs: keras.ops.sum(fn(inputs)))(x)


def optimise(
    model, compute: Compute, names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `compute()` once; step optimiser `name` on d losses[name] / its weights.

    `compute` returns (losses by optimiser name, other outputs of the forward
    pass); `names` are keys of `model.optimizer_targets()`, applied in order.
    """
    if backend() == "tensorflow":
        return _optimise_tensorflow(model, compute, names)
    if backend() == "jax":
        return _optimise_jax(model, compute, names)
    raise NotImplementedError(
        f"training runs on the tensorflow and jax backends, not {backend()!r}"
    )


def _optimise_tensorflow(model, compute: Compute, names: Sequence[str]):
    import tensorflow as tf

    targets = model.optimizer_targets()
    with contextlib.ExitStack() as stack:
        tapes = [stack.enter_context(tf.GradientTape()) for _ in names]
        losses, extras = compute()
        scaled = [scaled_loss(targets[name][0], losses[name]) for name in names]
    for name, tape, loss in zip(names, tapes, scaled, strict=True):
        optimizer, variables = targets[name]
        apply_gradients(optimizer, tape, loss, variables)
    return losses, extras


def _optimise_jax(model, compute: Compute, names: Sequence[str]):
    import jax
    import jax.numpy as jnp

    targets = model.optimizer_targets()
    groups = [list(targets[name][1]) for name in names]
    differentiated = {id(v) for group in groups for v in group}
    # Everything else keeps its current value (read from the enclosing scope);
    # what the forward pass assigns (batch-norm statistics, seed states) is
    # carried out of the differentiated function as auxiliary output.
    from imagegen.models.stateless import training_state_variables

    fixed = [
        (v, v.value)
        for v in training_state_variables(model)
        if id(v) not in differentiated
    ]
    changed: list[int] = []

    def forward(group_values):
        mapping = fixed + [
            (v, value)
            for group, values in zip(groups, group_values, strict=True)
            for v, value in zip(group, values, strict=True)
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            before = [scope.get_current_value(v) for v, _ in fixed]
            losses, extras = compute()
            scaled = tuple(
                scaled_loss(targets[name][0], losses[name]) for name in names
            )
            changed.clear()
            updates = []
            for index, ((v, _), old) in enumerate(zip(fixed, before, strict=True)):
                new = scope.get_current_value(v)
                if new is not old:
                    changed.append(index)
                    updates.append(new)
        return scaled, (losses, extras, updates)

    primals = [[v.value for v in group] for group in groups]
    scaled, pullback, (losses, extras, updates) = jax.vjp(
        forward, primals, has_aux=True
    )
    for index, value in zip(changed, updates, strict=True):
        fixed[index][0].assign(value)
    grads = []
    for k in range(len(names)):
        cotangent = tuple(
            jnp.ones_like(s) if j == k else jnp.zeros_like(s)
            for j, s in enumerate(scaled)
        )
        grads.append(pullback(cotangent)[0][k])
    for name, group_grads in zip(names, grads, strict=True):
        optimizer, variables = targets[name]
        optimizer.apply(group_grads, variables)
    return losses, extras
