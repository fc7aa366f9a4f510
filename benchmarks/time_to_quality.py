"""Time to quality: three GAN recipes at the same budget on the same training set.

Arms, each trained from scratch for every seed:

- `plain`: a plain DCGAN recipe, the TF DCGAN tutorial's losses and
  optimisers (non-saturating BCE, Adam 1e-4 with Keras' default betas) on the
  project's DCGAN trunk at the training set's size, no augmentation, no EMA.
- `ada_recipe`: an independent reimplementation of the recipe of keras.io's
  "Data-efficient GANs with Adaptive Discriminator Augmentation" example
  (width 128, depth 4, 4x4 kernels, BatchNorm in both networks, dropout 0.4,
  noise 64, batch 128, Adam 2e-4 beta_1 0.5, EMA 0.99, Keras' random
  flip/translation/rotation/zoom applied per sample with probability p, p
  driven towards a discriminator accuracy of 0.85 on reals over 1,000 steps).
- `project`: `imagegen.training.loop.train` with the parameters of `--env`
  (conf/base merged with conf/<env>), `--set key=value` overrides on top.
- `project_resize` (optional): the same with the `resize` generator
  (nearest upsampling + 3x3 convolutions) instead of the DCGAN trunk.

Every arm stops at the same wall-clock budget (`--minutes`, default 20) or,
with `--budget-images N`, after N real images seen (comparable across
machines). Then 500 samples of each (the EMA generator where the recipe has
one) are compared with the held-back works through one feature extractor,
the project's own encoder trained once on the training set: FID, KID,
precision/recall, density/coverage, and the sample diversity of the training
loop (mean pairwise distance of 64 samples over that of 64 training works).
A sample sheet per arm and seed is written next to the JSON.

    python benchmarks/time_to_quality.py [--minutes 20 | --budget-images N]
        [--seeds 0 1 2] [--arms plain ada_recipe project] [--env openclipart]
        [--set training.epochs=40 ...] [--curve-every MINUTES] [--encoder PATH]
        [--out benchmarks/results/time_to_quality.json]

With `--curve-every M` every arm is also measured each M minutes of its
training (the same 500 samples and extractor; the time spent measuring is not
counted against the budget): the time-to-quality curve, written under each
run's `curve`. With `--encoder PATH` the extractor is saved there and loaded
by later runs, so runs made apart (other arms, other seeds) share it.

Needs the training and held-back sets of that env:
`kedro run --pipelines preprocessing --env openclipart` writes them to
data/05_model_input/ (or give --training-set/--holdout-set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "diversity")


def merged_params(env: str, overrides: list[str]) -> dict:
    """The parameters `kedro run --env ENV --params a.b=value ...` would see.

    Kedro's own config loader with the project's settings, so environments
    merge exactly as in a run.
    """
    from kedro.config import OmegaConfigLoader

    from imagegen.settings import CONFIG_LOADER_ARGS

    runtime: dict = {}
    for item in overrides:
        key, _, text = item.partition("=")
        *path, last = key.split(".")
        node = runtime
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(text)
    loader = OmegaConfigLoader(
        conf_source=str(ROOT / "conf"),
        env=env,
        runtime_params=runtime,
        **CONFIG_LOADER_ARGS,
    )
    return dict(loader["parameters"])


def budget_callback(
    seconds: float | None, images: int | None, per_step: int, probe=None, every=None
):
    """A callback that stops at the budget and, optionally, measures on the way.

    With `probe` (a function of the model) and `every` (training seconds),
    `probe` runs each time that much training time has passed; its time is
    not counted against the budget, so a curve costs no training.
    """
    import keras

    class Budget(keras.callbacks.Callback):
        """Stop at the wall-clock or images-seen budget, whichever is set."""

        def __init__(self):
            super().__init__()
            self.started = None
            self.paused = 0.0  # seconds spent in probes
            self.seen = 0
            self.curve: list[dict] = []

        def on_train_begin(self, logs=None):
            if self.started is None:
                self.started = time.perf_counter()

        def training_seconds(self) -> float:
            return time.perf_counter() - self.started - self.paused

        def on_train_batch_end(self, batch, logs=None):
            self.seen += per_step
            elapsed = self.training_seconds()
            if probe and every and elapsed >= every * (len(self.curve) + 1):
                before = time.perf_counter()
                point = probe(self.model)
                spent = time.perf_counter() - before
                self.curve.append(
                    {
                        "train_seconds": round(elapsed, 1),
                        "images_seen": self.seen,
                        **point,
                        "probe_seconds": round(spent, 1),
                    }
                )
                print(json.dumps({"curve": self.curve[-1]}), flush=True)
                self.paused += spent
            if (images and self.seen >= images) or (
                seconds and not images and elapsed >= seconds
            ):
                self.model.stop_training = True

    return Budget()


# --- arm (b): the keras.io ADA example's recipe, reimplemented ---------------------


def ada_recipe_model(image_size: int, channels: int, seed: int):
    import keras
    import tensorflow as tf
    from keras import layers

    width, depth, noise_size = 128, 4, 64
    target_accuracy, integration_steps = 0.85, 1000

    def generator():
        side = image_size // 2**depth
        noise = keras.Input((noise_size,))
        x = layers.Dense(side * side * width, use_bias=False)(noise)
        x = layers.ReLU()(layers.BatchNormalization(scale=False)(x))
        x = layers.Reshape((side, side, width))(x)
        for _ in range(depth - 1):
            x = layers.Conv2DTranspose(width, 4, 2, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization(scale=False)(x))
        out = layers.Conv2DTranspose(channels, 4, 2, padding="same", activation="tanh")(
            x
        )
        return keras.Model(noise, out, name="generator")

    def discriminator():
        image = keras.Input((image_size, image_size, channels))
        x = image
        for _ in range(depth):
            x = layers.Conv2D(width, 4, 2, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(scale=False)(x)
            x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(0.4)(layers.Flatten()(x))
        return keras.Model(image, layers.Dense(1)(x), name="discriminator")

    class Recipe(keras.Model):
        def __init__(self):
            super().__init__()
            self.latent_dim = noise_size
            self.generator = generator()
            self.ema_generator = keras.models.clone_model(self.generator)
            self.ema_generator.set_weights(self.generator.get_weights())
            self.discriminator = discriminator()
            self.augment = keras.Sequential(
                [
                    layers.RandomFlip("horizontal", seed=seed),
                    layers.RandomTranslation(0.125, 0.125, "nearest", seed=seed),
                    layers.RandomRotation(0.125, "nearest", seed=seed),
                    layers.RandomZoom((-0.25, 0.0), (-0.25, 0.0), "nearest", seed=seed),
                ]
            )
            self.p = tf.Variable(0.0, trainable=False)
            self.trackers = [
                keras.metrics.Mean(name=n) for n in ("d_loss", "g_loss", "p")
            ]

        @property
        def metrics(self):
            return self.trackers

        def compile(self):
            super().compile()
            self.d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
            self.g_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

        def adaptive(self, images):
            augmented = self.augment(images, training=True)
            chosen = tf.random.uniform((tf.shape(images)[0], 1, 1, 1)) < self.p
            return tf.where(chosen, augmented, images)

        def train_step(self, real):
            batch = tf.shape(real)[0]
            noise = tf.random.normal((batch, noise_size))
            bce = keras.losses.BinaryCrossentropy(from_logits=True)
            with tf.GradientTape(persistent=True) as tape:
                fake = self.generator(noise, training=True)
                real_logits = self.discriminator(self.adaptive(real), training=True)
                fake_logits = self.discriminator(self.adaptive(fake), training=True)
                g_loss = bce(tf.ones_like(fake_logits), fake_logits)
                d_loss = (
                    bce(tf.ones_like(real_logits), real_logits)
                    + bce(tf.zeros_like(fake_logits), fake_logits)
                ) / 2
            g_vars = self.generator.trainable_weights
            d_vars = self.discriminator.trainable_weights
            self.g_optimizer.apply_gradients(
                zip(tape.gradient(g_loss, g_vars), g_vars, strict=True)
            )
            self.d_optimizer.apply_gradients(
                zip(tape.gradient(d_loss, d_vars), d_vars, strict=True)
            )
            accuracy = tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
            self.p.assign(
                tf.clip_by_value(
                    self.p + (accuracy - target_accuracy) / integration_steps, 0.0, 1.0
                )
            )
            for weight, average in zip(
                self.generator.weights, self.ema_generator.weights, strict=True
            ):
                average.assign(0.99 * average + 0.01 * weight)
            for tracker, value in zip(
                self.trackers, (d_loss, g_loss, self.p), strict=True
            ):
                tracker.update_state(value)
            return {t.name: t.result() for t in self.trackers}

    keras.utils.set_random_seed(seed)
    model = Recipe()
    model.compile()
    return model


def train_ada_recipe(images, seed, seconds, budget_images, probe=None, every=None):
    import tensorflow as tf

    model = ada_recipe_model(images.shape[1], images.shape[-1], seed)
    batch = 128
    data = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=seed)
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(2)
    )
    budget = budget_callback(
        seconds,
        budget_images,
        batch,
        probe and (lambda model: probe(model.ema_generator)),
        every,
    )
    model.fit(
        data,
        epochs=10_000,
        steps_per_epoch=max(1, len(images) // batch),
        callbacks=[budget],
        verbose=0,
    )
    extra = {"ada_p": float(model.p.numpy())}
    if budget.curve:
        extra["curve"] = budget.curve
    return model.ema_generator, budget.seen, extra


# --- arms (a) and (c): the project's training loop ----------------------------------


PLAIN = [
    "training.augment=none",
    "training.ema_decay=0.0",
    "training.model=dcgan",
    "training.dcgan.generator_filters=32",
    "training.dcgan.discriminator_filters=32",
    "training.dcgan.architecture=dcgan",
    "training.dcgan.loss=bce",
    "training.dcgan.spectral_norm=false",
    "training.dcgan.dropout=0.3",
    "training.dcgan.learning_rate=0.0001",
    "training.dcgan.discriminator_learning_rate=null",
    "training.dcgan.beta_1=0.9",
    "training.batch_size=64",
]
# The project's defaults with the `resize` generator instead of the DCGAN trunk.
RESIZE = ["training.dcgan.architecture=resize"]
ARMS = ("plain", "ada_recipe", "project", "project_resize")


def arm_params(arm: str, env: str, overrides: list[str]) -> dict:
    """The project loop's parameters for an arm: plain ignores --set overrides."""
    if arm == "plain":
        return merged_params(env, PLAIN)
    return merged_params(env, overrides + (RESIZE if arm == "project_resize" else []))


def train_project(
    training_set, params, seed, seconds, budget_images, probe=None, every=None
) -> tuple:
    from imagegen.framework.parameters import TrainingParams
    from imagegen.training.loop import train

    block = dict(params["training"])
    block.update(
        seed=seed,
        epochs=10_000,
        progress_bar=False,
        checkpoint_every_n_steps=0,
        checkpoint_dir=tempfile.mkdtemp(prefix="ttq-"),
        resume=False,
        on_collapse="warn",
    )
    training = TrainingParams.model_validate(block)
    per_step = training.batch_size * (
        training.wgan_gp.n_critic if training.model == "wgan_gp" else 1
    )
    budget = budget_callback(
        seconds,
        budget_images,
        per_step,
        probe and (lambda model: probe(model.sampling_generator)),
        every,
    )
    result = train(training_set, training, extra_callbacks=(budget,))
    extra = {
        "collapse_warnings": result.summary["collapse_warnings"],
        "epochs_done": len(result.history),
        "history_diversity": [round(h["sample_diversity"], 3) for h in result.history],
    }
    if "ada_p" in result.summary["final"]:
        extra["ada_p"] = result.summary["final"]["ada_p"]
    if budget.curve:
        extra["curve"] = budget.curve
    return result.model.sampling_generator, budget.seen, extra


# --- evaluation ---------------------------------------------------------------------


def evaluate(generator, extractor, real, training, eval_params, seed) -> tuple:
    """Metrics of `n_samples` samples; `real` holds the works' features, computed once."""
    from imagegen.metrics.quality import measure_quality
    from imagegen.models.sampling import generate_images, latent_noise
    from imagegen.training.callbacks import mean_pairwise_distance

    latent_dim = int(generator.inputs[0].shape[-1])
    samples = generate_images(
        generator,
        latent_noise(eval_params["seed"], eval_params["n_samples"], latent_dim),
    )
    quality = measure_quality(
        {
            "samples": extractor(samples),
            "holdout": real["holdout"],
            "training": real["training"],
        },
        eval_params,
    )
    reference = np.random.default_rng(seed).choice(
        len(training["images"]), 64, replace=False
    )
    quality["diversity"] = mean_pairwise_distance(
        samples[:64]
    ) / mean_pairwise_distance(training["images"][reference])
    return {k: float(quality[k]) for k in (*METRICS, "fid_train_vs_holdout")}, samples


def save_sheet(samples: np.ndarray, path: Path) -> None:
    from PIL import Image

    from imagegen.training.callbacks import tile

    Image.fromarray(tile(samples[:64], 8)).resize(
        (8 * 65 * 2 + 2, 8 * 65 * 2 + 2), Image.NEAREST
    ).save(path)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--budget-images", type=int, help="stop at N real images seen")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--arms", nargs="+", choices=ARMS, default=["plain", "ada_recipe", "project"]
    )
    parser.add_argument("--env", default="openclipart")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[])
    parser.add_argument(
        "--encoder",
        help="the feature encoder (.keras): loaded if the file exists, else trained "
        "and saved there, so separate runs share one extractor",
    )
    parser.add_argument(
        "--curve-every",
        type=float,
        metavar="MINUTES",
        help="also measure every arm every MINUTES of training (not counted)",
    )
    made = ROOT / "data/05_model_input"
    parser.add_argument("--training-set", default=str(made / "training_set.npz"))
    parser.add_argument("--holdout-set", default=str(made / "holdout_set.npz"))
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/time_to_quality.json")
    )
    return parser.parse_args()


def load_extractor(path: str | None, images: np.ndarray, eval_params: dict):
    """The project's encoder: loaded from `path` if it exists, else trained (and saved)."""
    from imagegen.metrics.features import EncoderExtractor, train_encoder

    started = time.perf_counter()
    if path and Path(path).exists():
        import keras

        encoder = keras.saving.load_model(path)
    else:
        encoder = train_encoder(images, eval_params)
        if path:
            encoder.save(path)
    extractor = EncoderExtractor(encoder, "time-to-quality", eval_params["batch_size"])
    print(
        f"extractor {extractor.name} in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return extractor


def main() -> int:
    args = parse_args()
    training = dict(np.load(args.training_set))
    holdout = dict(np.load(args.holdout_set))
    params = merged_params(args.env, args.overrides)
    eval_params = params["evaluation"]
    extractor = load_extractor(args.encoder, training["images"], eval_params)
    seconds = None if args.budget_images else args.minutes * 60
    real = {
        "holdout": extractor(holdout["images"]),
        "training": extractor(training["images"]),
    }

    def probe(generator) -> dict:
        metrics, _ = evaluate(generator, extractor, real, training, eval_params, 0)
        return {k: round(metrics[k], 4) for k in METRICS}

    curve = {"probe": probe, "every": args.curve_every * 60} if args.curve_every else {}
    sheets = Path(args.out).with_suffix("")
    sheets.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        for arm in args.arms:
            started = time.perf_counter()
            if arm == "ada_recipe":
                generator, seen, extra = train_ada_recipe(
                    training["images"], seed, seconds, args.budget_images, **curve
                )
            else:
                generator, seen, extra = train_project(
                    training,
                    arm_params(arm, args.env, args.overrides),
                    seed,
                    seconds,
                    args.budget_images,
                    **curve,
                )
            train_seconds = (
                time.perf_counter()
                - started
                - sum(point["probe_seconds"] for point in extra.get("curve", []))
            )
            metrics, samples = evaluate(
                generator, extractor, real, training, eval_params, seed
            )
            save_sheet(samples, sheets / f"{arm}_seed{seed}.png")
            run = {
                "arm": arm,
                "seed": seed,
                "train_seconds": round(train_seconds, 1),
                "images_seen": seen,
                **{k: round(v, 4) for k, v in metrics.items()},
                **extra,
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    medians = {
        arm: {
            k: statistics.median(r[k] for r in runs if r["arm"] == arm) for k in METRICS
        }
        for arm in args.arms
    }
    print(f"\nmedians over seeds {args.seeds}:")
    print("arm         " + "".join(f"{k:>11}" for k in METRICS))
    for arm, row in medians.items():
        print(f"{arm:<12}" + "".join(f"{row[k]:>11.4f}" for k in METRICS))
    if "plain" in medians and "project" in medians:
        ratio = medians["project"]["fid"] / medians["plain"]["fid"]
        print(f"project FID / plain FID: {ratio:.3f}")
    out = {
        "budget": {"minutes": args.minutes}
        if seconds
        else {"images": args.budget_images},
        "env": args.env,
        "overrides": args.overrides,
        "seeds": args.seeds,
        "extractor": extractor.name,
        "fid_train_vs_holdout": runs[0]["fid_train_vs_holdout"] if runs else None,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "runs": runs,
        "medians": medians,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out} and sheets in {sheets}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
