"""The project's convolutions compute Keras' results, through forward kernels on CPU."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from imagegen.models import convolutions
from imagegen.models.dcgan import build_discriminator, build_generator

RNG = np.random.default_rng(0)


def _pair(project_cls, keras_cls, shape, **kwargs):
    ours, theirs = project_cls(**kwargs), keras_cls(**kwargs)
    ours.build(shape)
    theirs.build(shape)
    weights = [
        RNG.normal(0, 0.1, w.shape).astype("float32") for w in ours.get_weights()
    ]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _value_and_grads(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.sin(layer(x)))  # a non-uniform upstream gradient
    return [loss, *tape.gradient(loss, [x, *layer.trainable_variables])]


# Channels at MIN_CHANNELS or more, so that the project's layers take their
# forward-kernel path (asserted below); small images keep the test quick.
CASES = [
    # (project layer, Keras layer, input shape, kwargs)
    (
        convolutions.Conv2DTranspose,
        keras.layers.Conv2DTranspose,
        (3, 5, 5, 32),
        {"filters": 64, "kernel_size": 5, "strides": 1, "use_bias": False},
    ),
    (
        convolutions.Conv2DTranspose,
        keras.layers.Conv2DTranspose,
        (3, 5, 5, 24),
        {"filters": 64, "kernel_size": 5, "strides": 2, "activation": "tanh"},
    ),
    (
        convolutions.Conv2DTranspose,
        keras.layers.Conv2DTranspose,
        (3, 4, 4, 16),
        {"filters": 64, "kernel_size": 4, "strides": 2},
    ),  # even kernel: padded window
    (
        convolutions.Conv2DTranspose,
        keras.layers.Conv2DTranspose,
        (3, 3, 3, 8),
        {"filters": 64, "kernel_size": 3, "strides": 3},
    ),
    (
        convolutions.Conv2D,
        keras.layers.Conv2D,
        (3, 10, 10, 64),
        {"filters": 8, "kernel_size": 5, "strides": 2},
    ),
    (
        convolutions.Conv2D,
        keras.layers.Conv2D,
        (3, 8, 8, 64),
        {"filters": 8, "kernel_size": 4, "strides": 2, "use_bias": False},
    ),
    (
        convolutions.Conv2D,
        keras.layers.Conv2D,
        (3, 6, 6, 64),
        {"filters": 8, "kernel_size": 3, "strides": 1},
    ),
]


def _takes_forward_path(layer, shape) -> bool:
    transposed = isinstance(layer, keras.layers.Conv2DTranspose)
    channels = layer.filters if transposed else shape[-1]
    return convolutions._eligible(layer, channels, () if transposed else shape[1:3])


@pytest.mark.parametrize(("ours_cls", "keras_cls", "shape", "kwargs"), CASES)
def test_values_and_gradients_match_keras(ours_cls, keras_cls, shape, kwargs):
    ours, theirs = _pair(ours_cls, keras_cls, shape, padding="same", **kwargs)
    assert _takes_forward_path(ours, shape)
    x = tf.constant(RNG.normal(size=shape).astype("float32"))
    for mine, reference in zip(
        _value_and_grads(ours, x), _value_and_grads(theirs, x), strict=True
    ):
        scale = float(tf.reduce_max(tf.abs(reference)))
        np.testing.assert_allclose(mine, reference, atol=1e-5 * max(scale, 1.0))


def test_second_order_gradients_match_keras():
    """WGAN-GP differentiates the input gradient again."""
    shape = (4, 8, 8, 64)
    ours, theirs = _pair(
        convolutions.Conv2D,
        keras.layers.Conv2D,
        shape,
        filters=8,
        kernel_size=5,
        strides=2,
        padding="same",
    )
    assert _takes_forward_path(ours, shape)
    x = tf.constant(RNG.normal(size=shape).astype("float32"))
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(tf.tanh(layer(x)))
            penalty = tf.reduce_sum(inner.gradient(y, x) ** 2)
        results.append(outer.gradient(penalty, layer.trainable_variables))
    for mine, reference in zip(*results, strict=True):
        scale = float(tf.reduce_max(tf.abs(reference)))
        np.testing.assert_allclose(mine, reference, atol=1e-5 * scale)


def _backward_data_ops(fn, *args) -> int:
    graph = tf.function(fn).get_concrete_function(*args).graph
    return sum(op.type == "Conv2DBackpropInput" for op in graph.get_operations())


def test_dcgan_step_runs_forward_kernels_on_cpu():
    """The tutorial generator's transposed convolutions no longer use backward-data."""
    assert not tf.config.list_logical_devices("GPU")
    generator = build_generator(28, 1, 100, 64)
    discriminator = build_discriminator(28, 1, 64)
    noise = tf.TensorSpec((8, 100), tf.float32)

    def step(noise):
        with tf.GradientTape() as tape:
            logits = discriminator(generator(noise, training=True), training=True)
        return tape.gradient(logits, generator.trainable_variables)

    # Keras' kernels: three transposed convolutions forward, and the
    # discriminator's two input gradients on the way back.
    with convolutions.keras_kernels():
        assert _backward_data_ops(step, noise) == 5
    # Ours: only the 1-channel image layer forward and the 1-channel
    # discriminator input's gradient, under MIN_CHANNELS, keep Keras' kernels.
    assert _backward_data_ops(step, noise) == 2


def test_mixed_precision_runs_forward_kernels():
    policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        layer = convolutions.Conv2DTranspose(64, 5, strides=2, padding="same")
        x = tf.constant(RNG.normal(size=(2, 4, 4, 16)).astype("float32"))
        y = layer(x)
    finally:
        keras.mixed_precision.set_dtype_policy(policy)
    assert y.dtype == tf.float16
    reference = (
        tf.nn.conv2d_transpose(x, layer.kernel.value, (2, 8, 8, 64), 2, "SAME")
        + layer.bias.value
    )
    np.testing.assert_allclose(np.asarray(y, "float32"), reference, atol=2e-2)


def test_generator_file_loads_in_a_fresh_process(tmp_path):
    """Saved generators name the project's layers; the catalog's dataset registers them."""
    generator = build_generator(28, 1, 100, 16)
    path = tmp_path / "generator.keras"
    generator.save(path)
    noise = RNG.normal(size=(2, 100)).astype("float32")
    np.save(tmp_path / "noise.npy", noise)
    np.save(tmp_path / "expected.npy", np.asarray(generator(noise, training=False)))
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from imagegen.datasets.generator import GeneratorDataset
        assert "imagegen.models" not in sys.modules
        model = GeneratorDataset(filepath={str(path)!r}, load_args={{"compile": False}}).load()
        assert type(model.layers[5]).__module__ == "imagegen.models.convolutions"
        out = np.asarray(model(np.load({str(tmp_path / "noise.npy")!r}), training=False))
        np.testing.assert_allclose(out, np.load({str(tmp_path / "expected.npy")!r}), atol=1e-5)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
