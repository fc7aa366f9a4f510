"""Keras' Conv2D and Conv2DTranspose, with transposed convolutions run forward.

A transposed convolution (the generator's upsampling, and a convolution's
gradient with respect to its input) runs on TensorFlow's CPU build as
oneDNN's backward-data kernel, which measured 1.7-2.3x slower on this
project's 2-core CPU than its forward kernel at the DCGAN's shapes. A 'same'
transposed convolution of stride s is a stride-1 convolution whose kernel
regroups the taps by output phase, followed by depth_to_space: the sub-pixel
convolution of Shi et al. (2016), the same sums in another order, so results
match to float rounding. One training pass (forward and both gradients) of
the tutorial generator's first layer measured 1.46x faster this way; all the
DCGAN's convolutions together 1.36x at the tutorial's 28x28, 1.23x at the
default run's sizes and 1.68x at 64x64 (`benchmarks/conv_kernels.py`).

The layers here keep Keras' weights, shapes and config (a model saved with
them loads into these classes; the weights fit the stock layers too). On
TensorFlow, for 'same' padding, unit dilation, channels-last and at least
`MIN_CHANNELS` output channels, they run:

- `Conv2DTranspose`: forward as the sub-pixel convolution; gradients as
  TensorFlow's own (a forward convolution and Conv2DBackpropFilter);
- `Conv2D`: forward as TensorFlow's; the input gradient as the sub-pixel
  convolution, the kernel gradient as TensorFlow's.

Anything else (another backend, a GPU, other padding) runs Keras' code
unchanged, as does everything traced inside `keras_kernels()` (for
comparisons). Under 64 output channels the sub-pixel form is not reliably
faster: its stride-1 convolution has s*s*channels outputs over a small
image, and measured 0.77x at the default 28x28 run's second layer (7x7x64
to 32 channels, batch 64) and 0.5x forward for the 1-channel image layer.
"""

from __future__ import annotations

import contextlib
import functools

import keras
import numpy as np

# Fewer output channels than this: Keras' own kernels (see the docstring).
MIN_CHANNELS = 64

_use_forward = [True]


@contextlib.contextmanager
def keras_kernels():
    """Layers called (traced) inside run Keras' own convolutions."""
    _use_forward[0] = False
    try:
        yield
    finally:
        _use_forward[0] = True


@functools.cache
def _on_cpu_tensorflow() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    # Measured on CPU only: on a GPU, cuDNN's kernels run as Keras calls them.
    return not tf.config.list_logical_devices("GPU")


def _phase_table(kernel: int, stride: int) -> tuple[np.ndarray, int, int]:
    """For each window offset and output phase, the kernel tap it uses.

    Output pixel y = stride * m + p of a 'same' transposed convolution sums
    x[m + d] * k[p + pad - stride * d] over the offsets d where that tap
    exists. Returns (table[window, phase] = tap, or `kernel` for none;
    offsets before; offsets after).
    """
    pad = max(kernel - stride, 0) // 2
    low = min(-((kernel - 1 - p - pad) // stride) for p in range(stride))
    high = max((p + pad) // stride for p in range(stride))
    table = np.full((high - low + 1, stride), kernel, np.int32)
    for a in range(high - low + 1):
        for p in range(stride):
            tap = p + pad - stride * (low + a)
            if 0 <= tap < kernel:
                table[a, p] = tap
    return table, -low, high


def _subpixel_kernel(kernel, table: np.ndarray, stride: int):
    """A (k, k, out, in) transposed-convolution kernel as (n, n, in, s*s*out)."""
    import tensorflow as tf

    size, _, out, inp = kernel.shape
    window = table.shape[0]
    taps = table.reshape(-1)
    padded = tf.pad(kernel, [[0, 1], [0, 1], [0, 0], [0, 0]])  # tap `size` is 0
    rows = tf.reshape(
        tf.gather(padded, taps, axis=0), (window, stride, size + 1, out, inp)
    )
    both = tf.reshape(
        tf.gather(rows, taps, axis=2), (window, stride, window, stride, out, inp)
    )
    # depth_to_space reads channel (p * s + q) * out + c as phase (p, q).
    both = tf.transpose(both, (0, 2, 5, 1, 3, 4))
    return tf.reshape(both, (window, window, inp, stride * stride * out))


def transposed_conv(x, kernel, stride: int):
    """conv2d_transpose(x, kernel, 'same', stride) via a forward convolution."""
    import tensorflow as tf

    table, before, after = _phase_table(int(kernel.shape[0]), stride)
    weights = _subpixel_kernel(kernel, table, stride)
    if before == after:
        y = tf.nn.conv2d(x, weights, 1, "SAME")
    else:
        pads = [[0, 0], [before, after], [before, after], [0, 0]]
        y = tf.nn.conv2d(tf.pad(x, pads), weights, 1, "VALID")
    return y if stride == 1 else tf.nn.depth_to_space(y, stride)


def _kernel_gradient(inputs, out_backprop, kernel, stride: int):
    """TensorFlow's kernel gradient of conv2d(inputs, kernel) given out_backprop."""
    import tensorflow as tf

    return tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=tf.shape(kernel),
        out_backprop=out_backprop,
        strides=[1, stride, stride, 1],
        padding="SAME",
    )


def _transpose_forward(x, kernel, stride: int):
    """Conv2DTranspose's op, with TensorFlow's gradients for it."""
    import tensorflow as tf

    @tf.custom_gradient
    def op(x, kernel):
        def grad(dy):
            # A transposed convolution is conv2d's input gradient, so its
            # own kernel gradient is conv2d's with the roles of x and dy swapped.
            dx = tf.nn.conv2d(dy, kernel, stride, "SAME")
            return dx, _kernel_gradient(dy, x, kernel, stride)

        return transposed_conv(x, kernel, stride), grad

    return op(x, tf.convert_to_tensor(kernel))


def _conv_forward(x, kernel, stride: int):
    """Conv2D's op, with its input gradient as a forward convolution."""
    import tensorflow as tf

    @tf.custom_gradient
    def op(x, kernel):
        def grad(dy):
            dx = transposed_conv(dy, kernel, stride)
            return dx, _kernel_gradient(x, dy, kernel, stride)

        return tf.nn.conv2d(x, kernel, stride, "SAME"), grad

    return op(x, tf.convert_to_tensor(kernel))


def _eligible(layer, transposed_channels: int, spatial) -> bool:
    """Whether the forward form applies; `spatial` sides must divide by the stride."""
    stride = layer.strides[0]
    return (
        _use_forward[0]
        and _on_cpu_tensorflow()
        and layer.padding == "same"
        and layer.data_format == "channels_last"
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.strides[0] == layer.strides[1]
        and layer.kernel_size[0] == layer.kernel_size[1]
        and transposed_channels >= MIN_CHANNELS
        and all(side is not None and side % stride == 0 for side in spatial)
    )


@keras.saving.register_keras_serializable(package="imagegen")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """keras.layers.Conv2DTranspose, run as a sub-pixel forward convolution."""

    def call(self, inputs):
        if self.output_padding is not None or not _eligible(self, self.filters, ()):
            return super().call(inputs)
        outputs = _transpose_forward(inputs, self.kernel, self.strides[0])
        if self.use_bias:
            outputs = keras.ops.add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


@keras.saving.register_keras_serializable(package="imagegen")
class Conv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D whose input gradient runs as a forward convolution."""

    def convolution_op(self, inputs, kernel):
        if self.groups != 1 or not _eligible(
            self, int(inputs.shape[-1]), inputs.shape[1:3]
        ):
            return super().convolution_op(inputs, kernel)
        return _conv_forward(inputs, kernel, self.strides[0])
