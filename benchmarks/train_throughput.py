"""DCGAN training throughput: the project's training loop against the TF tutorial's step.

In one process, on the same data (scikit-learn's digits resized to the side),
alternating them so that load from other processes hits all alike:

- tutorial: an independent plain-TensorFlow reimplementation of the TF DCGAN
  tutorial (https://www.tensorflow.org/tutorials/generative/dcgan): its
  Sequential generator and discriminator, Adam(1e-4) for each, and its
  `train_step` (two GradientTapes in a `tf.function`) over a `tf.data`
  pipeline, called from a Python loop;
- project: `imagegen.training.loop.train` with `training.model=dcgan` at the
  same sizes, i.e. what `kedro run --pipelines training` runs (Keras `fit`,
  NaN guard, per-epoch sample grid and diversity, checkpoints), inside an
  MLflow run, then the per-epoch metrics and grids logged to that run as the
  catalog logs them. The logging time is added to the measured
  window, so the project's figure includes MLflow tracking;
- project, Keras' kernels: the same, with the convolutions traced inside
  `imagegen.models.convolutions.keras_kernels()`, so that the share of the
  difference due to the project's forward-kernel convolutions shows;
- project on JAX (`--jax`): the same `train` in a child process started with
  `KERAS_BACKEND=jax` (Keras fixes its backend at import), i.e. the
  stateless jit-compiled step and NumPy batches, with the same MLflow logging.

Images per second are counted over `--steps` steps after `--warmup` steps
(tracing, first-step allocations), per round. Rounds are many and short, and
the arms run in a shuffled order in each round, so that load from other
processes and the machine's warm-up hit every arm alike; the figures are
medians over `--rounds`, with the spread of the per-round ratios. CPU seconds
per image are reported beside wall time: they depend less on how busy the
machine's other processes keep the cores. The JSON names the CPU model.

    python benchmarks/train_throughput.py [--sizes 28 64] [--rounds 9]
        [--jax] [--out benchmarks/results/train_throughput.json]

JAX beside TensorFlow on the tutorial configuration (one round, as measured
for docs/training.md):

    python benchmarks/train_throughput.py --sizes 28 --rounds 1 --jax
        --out benchmarks/results/train_throughput_jax.json

The default run's sizes (batch 64, widths 32) instead of the tutorial's:

    python benchmarks/train_throughput.py --sizes 28 --batch 64 --widths 32
        --steps 100 --out benchmarks/results/train_throughput_default.json

Sizes: 28 is the tutorial's configuration (batch 256, noise 100, widths 64);
64 is the project's deeper 64x64 variant at batch 64 and widths 32 (widths 64
make a 19M-parameter generator at about 2 images/s on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {
    28: {"batch": 256, "widths": 64, "steps": 8, "warmup": 3},
    64: {"batch": 64, "widths": 32, "steps": 12, "warmup": 2},
}
NOISE_DIM = 100


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def spread(values: list[float]) -> dict:
    """Median, quartiles and range of per-round figures."""
    ordered = sorted(values)
    if len(ordered) > 1:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": round(statistics.median(ordered), 3),
        "q1": round(q1, 3),
        "q3": round(q3, 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }


def digits(side: int) -> np.ndarray:
    """The 1,797 digits at side x side in [-1, 1], as preprocessing makes them."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from imagegen.images import to_model_input, to_model_range

    pixels = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    return to_model_range(
        np.stack([to_model_input(Image.fromarray(p), side, 1) for p in pixels])
    )


# --- the tutorial, reimplemented with nothing from the project --------------------


def tutorial_models(side: int, widths: int):
    import tensorflow as tf
    from tensorflow.keras import layers

    stages = {28: 2, 64: 4}[side]
    start = side // 2**stages
    top = widths * 2**stages
    generator = tf.keras.Sequential()
    generator.add(layers.Input((NOISE_DIM,)))
    generator.add(layers.Dense(start * start * top, use_bias=False))
    generator.add(layers.BatchNormalization())
    generator.add(layers.LeakyReLU())
    generator.add(layers.Reshape((start, start, top)))
    generator.add(
        layers.Conv2DTranspose(top // 2, 5, 1, padding="same", use_bias=False)
    )
    generator.add(layers.BatchNormalization())
    generator.add(layers.LeakyReLU())
    for stage in range(stages - 1):
        generator.add(
            layers.Conv2DTranspose(
                top // 2 ** (stage + 2), 5, 2, padding="same", use_bias=False
            )
        )
        generator.add(layers.BatchNormalization())
        generator.add(layers.LeakyReLU())
    generator.add(
        layers.Conv2DTranspose(
            1, 5, 2, padding="same", use_bias=False, activation="tanh"
        )
    )
    discriminator = tf.keras.Sequential()
    discriminator.add(layers.Input((side, side, 1)))
    for stage in range(stages):
        discriminator.add(layers.Conv2D(widths * 2**stage, 5, 2, padding="same"))
        discriminator.add(layers.LeakyReLU())
        discriminator.add(layers.Dropout(0.3))
    discriminator.add(layers.Flatten())
    discriminator.add(layers.Dense(1))
    return generator, discriminator


def run_tutorial(images: np.ndarray, side: int, cfg: dict) -> dict:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    generator, discriminator = tutorial_models(side, cfg["widths"])
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)
    batch = cfg["batch"]

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch, NOISE_DIM])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = cross_entropy(
                tf.ones_like(real_output), real_output
            ) + cross_entropy(tf.zeros_like(fake_output), fake_output)
        gradients_of_generator = gen_tape.gradient(
            gen_loss, generator.trainable_variables
        )
        gradients_of_discriminator = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables
        )
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables, strict=True)
        )
        discriminator_optimizer.apply_gradients(
            zip(
                gradients_of_discriminator,
                discriminator.trainable_variables,
                strict=True,
            )
        )
        return gen_loss, disc_loss

    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images))
        .batch(batch, drop_remainder=True)
        .repeat()
    )
    marks = []
    for step, image_batch in enumerate(dataset):
        losses = train_step(image_batch)
        float(losses[0])  # the step is done
        marks.append((time.perf_counter(), cpu_seconds()))
        if step + 1 == cfg["warmup"] + cfg["steps"]:
            break
    return _rate(marks, cfg)


# --- the project -------------------------------------------------------------------


def run_project(
    images: np.ndarray,
    side: int,
    cfg: dict,
    workdir: Path,
    jit: bool = False,
    keras_kernels: bool = False,
) -> dict:
    import contextlib

    import keras
    import mlflow
    import yaml
    from kedro_datasets.partitions import PartitionedDataset
    from PIL import Image

    from imagegen.datasets.mlflow_metrics import MlflowMetricsDataset
    from imagegen.framework.parameters import TrainingParams
    from imagegen.models import convolutions
    from imagegen.training.loop import train

    total = cfg["warmup"] + cfg["steps"]
    marks: list[tuple[float, float]] = []

    class Marks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((time.perf_counter(), cpu_seconds()))
            if len(marks) == total:
                self.model.stop_training = True

    steps_per_epoch = len(images) // cfg["batch"]
    base = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    base = base["training"]
    base.update(
        model="dcgan",
        epochs=-(-total // steps_per_epoch),
        batch_size=cfg["batch"],
        latent_dim=NOISE_DIM,
        seed=0,
        checkpoint_dir=str(workdir / "checkpoints"),
        progress_bar=False,
        jit_compile=jit,
        dcgan={
            "generator_filters": cfg["widths"],
            "discriminator_filters": cfg["widths"],
            "learning_rate": 1e-4,
            "beta_1": 0.9,  # Keras' default, as the tutorial's Adam(1e-4)
        },
    )
    params = TrainingParams.model_validate(base)

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    kernels = (
        convolutions.keras_kernels() if keras_kernels else contextlib.nullcontext()
    )
    with mlflow.start_run(), kernels:
        result = train({"images": images}, params, extra_callbacks=(Marks(),))
        started = time.perf_counter(), cpu_seconds()
        metrics = {
            name: [
                {"value": h[name], "step": h["epoch"]}
                for h in result.history
                if name in h
            ]
            for name in (result.history[0] if result.history else {})
            if name != "epoch"
        }
        # As the catalog does: metrics through the project's dataset, the grids
        # saved as PNGs and logged as one artifact folder (hooks.artifacts.ArtifactHooks).
        MlflowMetricsDataset(prefix="training").save(metrics)
        grids = workdir / "training_samples"
        PartitionedDataset(
            path=str(grids),
            dataset="pillow.ImageDataset",
            filename_suffix=".png",
            overwrite=True,
        ).save({f"epoch_{e:04d}": Image.fromarray(g) for e, g in result.grids.items()})
        mlflow.log_artifacts(str(grids), "training/training_samples")
        logging_wall = time.perf_counter() - started[0]
        logging_cpu = cpu_seconds() - started[1]
    rate = _rate(marks, cfg, extra_wall=logging_wall, extra_cpu=logging_cpu)
    window = marks[-1][0] - marks[cfg["warmup"] - 1][0] + logging_wall
    rate.update(
        mlflow_logging_seconds=round(logging_wall, 3),
        epoch_callback_seconds=result.summary["tracking_seconds"],
        checkpoint_seconds=result.summary["checkpoint_seconds"],
        tracking_fraction=round(
            (logging_wall + result.summary["tracking_seconds"]) / window, 4
        ),
    )
    return rate


def run_jax_child(side: int, cfg: dict) -> dict:
    """The project arm in a child process on the JAX backend; its JSON result."""
    import subprocess

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"side": side, **cfg})],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"JAX arm failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(spec: str) -> int:
    """`--child`: run the project arm in this process (its backend) and print JSON."""
    import keras

    cfg = json.loads(spec)
    side = cfg.pop("side")
    with tempfile.TemporaryDirectory() as tmp:
        rate = run_project(digits(side), side, cfg, Path(tmp))
    print(json.dumps({**rate, "backend": keras.backend.backend()}))
    return 0


def run_arm(arm: str, images: np.ndarray, side: int, cfg: dict, tmp: Path) -> dict:
    if arm == "tutorial":
        return run_tutorial(images, side, cfg)
    if arm == "project_jax":
        return run_jax_child(side, cfg)
    return run_project(
        images,
        side,
        cfg,
        tmp,
        jit=arm == "project_xla",
        keras_kernels=arm == "project_keras_kernels",
    )


def _rate(marks, cfg, extra_wall: float = 0.0, extra_cpu: float = 0.0) -> dict:
    marks = marks[: cfg["warmup"] + cfg["steps"]]
    (t0, c0), (t1, c1) = marks[cfg["warmup"] - 1], marks[-1]
    n_images = (len(marks) - cfg["warmup"]) * cfg["batch"]
    wall, cpu = t1 - t0 + extra_wall, c1 - c0 + extra_cpu
    return {
        "images_per_second": round(n_images / wall, 2),
        "cpu_seconds_per_image": round(cpu / n_images, 5),
        "measured_images": n_images,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, help="measured steps (default per size)")
    parser.add_argument("--batch", type=int, help="batch size (default per size)")
    parser.add_argument("--widths", type=int, help="network widths (default per size)")
    parser.add_argument(
        "--xla",
        type=int,
        nargs="*",
        default=[],
        help="sizes at which to also run the project with jit_compile=true",
    )
    parser.add_argument(
        "--jax",
        action="store_true",
        help="also run the project on the JAX backend (a child process)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/train_throughput.json")
    )
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    import tensorflow as tf

    report = {
        "machine": {
            "platform": platform.platform(),
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "tensorflow": tf.__version__,
            "jax": _version("jax"),
            "load_average_at_start": os.getloadavg(),
        },
        "sizes": {},
    }
    for side in args.sizes:
        cfg = dict(CONFIGS[side])
        for key in ("steps", "batch", "widths"):
            if getattr(args, key):
                cfg[key] = getattr(args, key)
        images = digits(side)
        rounds = []
        arms = ["tutorial", "project", "project_keras_kernels"]
        arms += ["project_xla"] if side in args.xla else []
        arms += ["project_jax"] if args.jax else []
        for index in range(args.rounds):
            order = list(arms)
            random.Random(index).shuffle(order)
            result = {}
            for arm in order:
                with tempfile.TemporaryDirectory() as tmp:
                    result[arm] = run_arm(arm, images, side, cfg, Path(tmp))
            tutorial, project = result["tutorial"], result["project"]
            stock = result["project_keras_kernels"]
            ratio = project["images_per_second"] / tutorial["images_per_second"]
            stock_ratio = stock["images_per_second"] / tutorial["images_per_second"]
            cpu_ratio = (
                tutorial["cpu_seconds_per_image"] / project["cpu_seconds_per_image"]
            )
            jax_ratio = (
                result["project_jax"]["images_per_second"]
                / project["images_per_second"]
                if args.jax
                else None
            )
            rounds.append(
                {
                    "order": order,
                    **result,
                    "jax_over_tensorflow": jax_ratio,
                    "ratio": ratio,
                    "cpu_ratio": cpu_ratio,
                    "keras_kernels_ratio": stock_ratio,
                    "load_average": os.getloadavg()[0],
                }
            )
            print(  # noqa: T201
                f"{side}x{side} round {index + 1} ({', '.join(order)}): tutorial "
                f"{tutorial['images_per_second']:.1f} img/s, project (MLflow on) "
                f"{project['images_per_second']:.1f} img/s, ratio {ratio:.2f} "
                f"(CPU time {cpu_ratio:.2f}), tracking "
                f"{100 * project['tracking_fraction']:.2f}% of wall time; "
                f"with Keras' kernels {stock['images_per_second']:.1f} img/s, "
                f"ratio {stock_ratio:.2f}"
                + (
                    f"; project on JAX {result['project_jax']['images_per_second']:.1f}"
                    f" img/s, JAX/TensorFlow {jax_ratio:.2f}"
                    if args.jax
                    else ""
                ),
                flush=True,
            )

        def median(side_name, key, rounds=rounds):
            return statistics.median(r[side_name][key] for r in rounds)

        summary = {
            "config": {**cfg, "noise": NOISE_DIM, "n_images": len(images)},
            "tutorial_images_per_second": median("tutorial", "images_per_second"),
            "project_images_per_second": median("project", "images_per_second"),
            "ratio_median": round(statistics.median(r["ratio"] for r in rounds), 3),
            "ratio_spread": spread([r["ratio"] for r in rounds]),
            "rounds_project_ahead": sum(r["ratio"] >= 1.0 for r in rounds),
            "project_keras_kernels_images_per_second": median(
                "project_keras_kernels", "images_per_second"
            ),
            "keras_kernels_ratio_median": round(
                statistics.median(r["keras_kernels_ratio"] for r in rounds), 3
            ),
            "cpu_ratio_median": round(
                statistics.median(r["cpu_ratio"] for r in rounds), 3
            ),
            "cpu_ratio_spread": spread([r["cpu_ratio"] for r in rounds]),
            "tracking_fraction_median": median("project", "tracking_fraction"),
            **(
                {
                    "project_jax_images_per_second": median(
                        "project_jax", "images_per_second"
                    ),
                    "jax_over_tensorflow_median": round(
                        statistics.median(r["jax_over_tensorflow"] for r in rounds), 3
                    ),
                }
                if args.jax
                else {}
            ),
            **(
                {
                    "project_xla_images_per_second": median(
                        "project_xla", "images_per_second"
                    )
                }
                if side in args.xla
                else {}
            ),
            "rounds": rounds,
        }
        report["sizes"][str(side)] = summary
        print(  # noqa: T201
            f"{side}x{side}: tutorial {summary['tutorial_images_per_second']:.1f} "
            f"img/s, project {summary['project_images_per_second']:.1f} img/s, "
            f"ratio {summary['ratio_median']:.2f} (quartiles "
            f"{summary['ratio_spread']['q1']:.2f}-{summary['ratio_spread']['q3']:.2f}, "
            f"project ahead in {summary['rounds_project_ahead']}/{len(rounds)} "
            f"rounds; CPU-time ratio "
            f"{summary['cpu_ratio_median']:.2f}), tracking "
            f"{100 * summary['tracking_fraction_median']:.2f}% of wall time; with "
            f"Keras' kernels {summary['project_keras_kernels_images_per_second']:.1f} "
            f"img/s, ratio {summary['keras_kernels_ratio_median']:.2f}"
        )
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(  # noqa: T201
        f"wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
