"""Per-layer time of the DCGAN's convolutions: Keras' kernels against the project's.

For every convolution of the project's DCGAN generator and discriminator (at
the tutorial's 28x28, batch 256, widths 64; at the default run's 28x28, batch
64, widths 32; at 64x64, batch 64, widths 32), one training pass of that layer alone: forward, then the gradients with
respect to its input and its kernel, as the training step takes them. Each
layer runs as `keras.layers.Conv2D[Transpose]` and as
`imagegen.models.convolutions`' layer with the same weights, alternating,
median of `--repeats`. See that module for why the second is faster on CPU.

    python benchmarks/conv_kernels.py [--repeats 7]
        [--out benchmarks/results/conv_kernels.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {
    "tutorial 28x28": {"side": 28, "batch": 256, "widths": 64},
    "default 28x28": {"side": 28, "batch": 64, "widths": 32},
    "deeper 64x64": {"side": 64, "batch": 64, "widths": 32},
}


def layer_shapes(side: int, widths: int):
    """(name, transposed?, input shape without batch, filters, stride) per layer."""
    from imagegen.models.base import upsampling_stages

    start, stages = upsampling_stages(side)
    top = widths * 2**stages
    shapes = [("generator 1", True, (start, start, top), top // 2, 1)]
    side_now, width = start, top // 2
    for stage in range(stages - 1):
        filters = top // 2 ** (stage + 2)
        shapes.append(
            (f"generator {stage + 2}", True, (side_now,) * 2 + (width,), filters, 2)
        )
        side_now, width = side_now * 2, filters
    shapes.append(("generator image", True, (side_now,) * 2 + (width,), 1, 2))
    width = 1
    for stage in range(stages):
        filters = widths * 2**stage
        shapes.append(
            (f"discriminator {stage + 1}", False, (side,) * 2 + (width,), filters, 2)
        )
        side, width = side // 2, filters
    return shapes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/conv_kernels.json")
    )
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from imagegen.models import convolutions

    rng = np.random.default_rng(0)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "load_average_at_start": os.getloadavg(),
        },
        "configs": {},
    }
    for config_name, cfg in CONFIGS.items():
        rows = []
        shapes = layer_shapes(cfg["side"], cfg["widths"])
        for name, transposed, shape, filters, stride in shapes:
            kwargs = {
                "filters": filters,
                "kernel_size": 5,
                "strides": stride,
                "padding": "same",
            }
            pair = (
                (keras.layers.Conv2DTranspose, convolutions.Conv2DTranspose)
                if transposed
                else (keras.layers.Conv2D, convolutions.Conv2D)
            )
            x = tf.constant(rng.normal(size=(cfg["batch"], *shape)).astype("float32"))
            passes = []
            weights = None
            for cls in pair:
                layer = cls(**kwargs)
                layer.build(x.shape)
                if weights is None:
                    weights = layer.get_weights()
                layer.set_weights(weights)

                @tf.function
                def one_pass(x, layer=layer):
                    with tf.GradientTape() as tape:
                        tape.watch(x)
                        loss = tf.reduce_sum(tf.square(layer(x)))
                    return tape.gradient(loss, [x, *layer.trainable_variables])

                for _ in range(2):  # trace and warm up
                    [g.numpy() for g in one_pass(x)]
                passes.append(one_pass)
            times: list[list[float]] = [[], []]
            for _ in range(args.repeats):
                for index, one_pass in enumerate(passes):
                    started = time.perf_counter()
                    [g.numpy() for g in one_pass(x)]
                    times[index].append(time.perf_counter() - started)
            keras_ms, project_ms = (1000 * statistics.median(t) for t in times)
            rows.append(
                {
                    "layer": name,
                    "op": "Conv2DTranspose" if transposed else "Conv2D",
                    "input": [cfg["batch"], *shape],
                    "filters": filters,
                    "stride": stride,
                    "keras_ms": round(keras_ms, 2),
                    "project_ms": round(project_ms, 2),
                    "speedup": round(keras_ms / project_ms, 2),
                }
            )
            print(  # noqa: T201
                f"{config_name} {name:16s} {rows[-1]['op']:15s} in {tuple(rows[-1]['input'])}"
                f" -> {filters:4d}: Keras {keras_ms:7.1f} ms, project {project_ms:7.1f} ms,"
                f" x{rows[-1]['speedup']:.2f}",
                flush=True,
            )
        totals = {
            k: round(sum(r[k] for r in rows), 1) for k in ("keras_ms", "project_ms")
        }
        report["configs"][config_name] = {
            "config": cfg,
            "layers": rows,
            "totals": totals,
        }
        print(  # noqa: T201
            f"{config_name} all layers: Keras {totals['keras_ms']} ms, project "
            f"{totals['project_ms']} ms, x{totals['keras_ms'] / totals['project_ms']:.2f}"
        )
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
