"""FID/KID of the project's default DCGAN next to the TensorFlow tutorial's DCGAN.

Both generators are trained on the same digits training set for the same
number of optimiser steps and measured with one and the same feature extractor
(the project's own encoder, trained once here), against the same held-back
works. The tutorial recipe is https://www.tensorflow.org/tutorials/generative/dcgan
as published: widths 256/128/64, batch 256, Adam(1e-4) for both networks.

Run from the project root (about 3 min for the project model, longer for the
tutorial's batch of 256 on CPU):

    python benchmarks/evaluation_baseline.py            # trains both
    python benchmarks/evaluation_baseline.py --reuse-generator   # keep data/06_models

Prints the figures and writes them to --out (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL_INPUT = ROOT / "data/05_model_input"


def kedro(*args: str) -> None:
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=ROOT, env=env, check=True
    )


def tutorial_generator(latent_dim: int = 100):
    """make_generator_model() of the TensorFlow DCGAN tutorial."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(
                1, 5, strides=2, padding="same", use_bias=False, activation="tanh"
            ),
        ]
    )


def tutorial_discriminator():
    """make_discriminator_model() of the TensorFlow DCGAN tutorial."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )


def train_tutorial_dcgan(images: np.ndarray, steps: int, batch_size: int, seed: int):
    """The tutorial's training loop (two tapes, one noise batch) for `steps` steps."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    generator, discriminator = tutorial_generator(), tutorial_discriminator()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(real):
        noise = tf.random.normal([tf.shape(real)[0], 100])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(noise, training=True)
            real_out = discriminator(real, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(
                tf.zeros_like(fake_out), fake_out
            )
        g_opt.apply_gradients(
            zip(
                g_tape.gradient(g_loss, generator.trainable_variables),
                generator.trainable_variables,
                strict=True,
            )
        )
        d_opt.apply_gradients(
            zip(
                d_tape.gradient(d_loss, discriminator.trainable_variables),
                discriminator.trainable_variables,
                strict=True,
            )
        )
        return g_loss, d_loss

    batch_size = min(batch_size, len(images))
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(60000, seed=seed)  # the tutorial's BUFFER_SIZE
        .batch(batch_size, drop_remainder=True)
        .repeat()
        .take(steps)
        .prefetch(tf.data.AUTOTUNE)
    )
    started = time.perf_counter()
    for step, batch in enumerate(dataset, start=1):
        g_loss, d_loss = train_step(batch)
        if step % 100 == 0 or step == steps:
            rate = step * batch_size / (time.perf_counter() - started)
            print(f"tutorial step {step}/{steps}, {rate:.0f} images/s", flush=True)  # noqa: T201
    seconds = time.perf_counter() - started
    return generator, {
        "steps": steps,
        "batch_size": batch_size,
        "seconds": round(seconds, 1),
        "final_g_loss": float(g_loss),
        "final_d_loss": float(d_loss),
    }


def sample(generator, n: int, seed: int) -> np.ndarray:
    import keras

    noise = keras.random.normal((n, generator.input_shape[-1]), seed=seed)
    return np.asarray(generator.predict(noise, verbose=0), dtype=np.float32)


def measure(extractor, samples, features, params) -> dict:
    """The evaluation pipeline's numbers for one set of samples."""
    from imagegen.pipelines.evaluation import nodes

    feats = {**features, "samples": extractor(samples)}
    quality = nodes.measure_quality(feats, params)
    copying = nodes.measure_data_copying(feats, params)
    return {
        **{k: quality[k] for k in ("fid", "kid", "kid_std", "precision", "recall")},
        "density": quality["density"],
        "coverage": quality["coverage"],
        "ct_score": copying["ct_score"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reuse-generator",
        action="store_true",
        help="use data/06_models/generator.keras and its training_summary.json",
    )
    parser.add_argument("--tutorial-batch-size", type=int, default=256)
    parser.add_argument(
        "--steps", type=int, help="tutorial steps (default: the project model's steps)"
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "data/08_reporting/benchmarks/evaluation_baseline.json"),
    )
    args = parser.parse_args()
    import keras

    from imagegen.metrics.features import EncoderExtractor, train_encoder
    from imagegen.metrics.frechet import frechet_distance
    from imagegen.metrics.kernel import kernel_inception_distance

    if not (MODEL_INPUT / "training_set.npz").exists():
        kedro("run", "--pipelines", "curation,preprocessing")
    summary_path = ROOT / "data/08_reporting/training_summary.json"
    if not args.reuse_generator or not summary_path.exists():
        kedro("run", "--pipelines", "training")
    summary = json.loads(summary_path.read_text())
    project_generator = keras.saving.load_model(
        ROOT / "data/06_models/generator.keras", compile=False
    )

    train = dict(np.load(MODEL_INPUT / "training_set.npz"))
    holdout = dict(np.load(MODEL_INPUT / "holdout_set.npz"))
    digest = json.loads((MODEL_INPUT / "dataset_digest.json").read_text())
    params = yaml.safe_load((ROOT / "conf/base/parameters_evaluation.yml").read_text())[
        "evaluation"
    ]

    tutorial, tutorial_run = train_tutorial_dcgan(
        train["images"],
        args.steps or summary["steps"],
        args.tutorial_batch_size,
        seed=42,
    )

    extractor = EncoderExtractor(
        train_encoder(train["images"], params), digest["dataset_digest"]
    )
    features = {
        "training": extractor(train["images"]),
        "holdout": extractor(holdout["images"]),
    }
    n = params["n_samples"]
    rng = np.random.default_rng(params["seed"])
    ref = features["training"][
        rng.choice(len(train["images"]), len(holdout["images"]), replace=False)
    ]
    result = {
        "extractor": extractor.name,
        "n_samples": n,
        "n_holdout": len(holdout["images"]),
        "real_floor": {
            "fid": frechet_distance(ref, features["holdout"]),
            "kid": kernel_inception_distance(
                ref,
                features["holdout"],
                params["kid_subsets"],
                params["kid_subset_size"],
                params["seed"],
            )[0],
        },
        "project_dcgan": {
            **measure(
                extractor,
                sample(project_generator, n, params["seed"]),
                features,
                params,
            ),
            "training": {
                k: summary[k] for k in ("epochs", "steps", "batch_size", "seconds")
            },
            "generator_params": int(project_generator.count_params()),
        },
        "tutorial_dcgan": {
            **measure(extractor, sample(tutorial, n, params["seed"]), features, params),
            "training": tutorial_run,
            "generator_params": int(tutorial.count_params()),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))  # noqa: T201
    print(f"written to {out}")  # noqa: T201


if __name__ == "__main__":
    main()
