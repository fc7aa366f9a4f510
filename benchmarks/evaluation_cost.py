"""Seconds that evaluation takes for N generated samples (default 10,000).

Times each step of the evaluation pipeline on the project's data with its
default parameters: features (the project's encoder, or InceptionV3 with
--inception-weights), FID, KID, precision/recall/density/coverage, C_T and the
memorisation audit (pixel and feature nearest neighbours, SSIM). Training the
encoder and sampling the generator are timed too but kept apart.

Run from the project root after `kedro run --pipelines train` (or at least the
preprocessing pipeline: without a trained generator, noise images stand in):

    python benchmarks/evaluation_cost.py [--n 10000] [--inception-weights FILE]

Prints the figures and writes them to --out (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL_INPUT = ROOT / "data/05_model_input"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument(
        "--out", default=str(ROOT / "data/08_reporting/benchmarks/evaluation_cost.json")
    )
    args = parser.parse_args()
    import keras

    from imagegen.pipelines.evaluation import nodes

    params = yaml.safe_load((ROOT / "conf/base/parameters_evaluation.yml").read_text())[
        "evaluation"
    ]
    params["inception_weights"] = args.inception_weights
    params["n_samples"] = args.n
    train = dict(np.load(MODEL_INPUT / "training_set.npz"))
    holdout = dict(np.load(MODEL_INPUT / "holdout_set.npz"))
    digest = json.loads((MODEL_INPUT / "dataset_digest.json").read_text())
    manifest = pd.read_csv(MODEL_INPUT / "training_manifest.csv", dtype=str)
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}

    def timed(name, fn, *a):
        # Wall and CPU time: on a shared machine the CPU time is the steadier figure.
        started, cpu_started = time.perf_counter(), time.process_time()
        out = fn(*a)
        seconds[name] = round(time.perf_counter() - started, 2)
        cpu_seconds[name] = round(time.process_time() - cpu_started, 2)
        print(f"{name:<22} {seconds[name]:8.2f} s wall {cpu_seconds[name]:8.2f} s CPU")  # noqa: T201
        return out

    generator_path = ROOT / "data/06_models/generator.keras"
    if generator_path.exists():
        generator = keras.saving.load_model(generator_path, compile=False)
        samples = timed("sample_generator", nodes.sample_generator, generator, params)
        source = "generator"
    else:
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (args.n, *train["images"].shape[1:]))
        samples = {
            "images": images.astype(np.float32),
            "names": np.array([f"noise_{i}" for i in range(args.n)]),
            "source": np.array("noise"),
            "skipped": np.array([], dtype=str),
        }
        source = "noise"
    encoder = timed("train_feature_encoder", nodes.train_feature_encoder, train, params)
    features = timed(
        "embed_images",
        nodes.embed_images,
        encoder,
        samples,
        train,
        holdout,
        digest,
        params,
    )
    quality = timed("measure_quality", nodes.measure_quality, features, params)
    timed("measure_data_copying", nodes.measure_data_copying, features, params)
    timed(
        "audit_memorisation",
        nodes.audit_memorisation,
        samples,
        features,
        train,
        holdout,
        manifest,
        params,
    )
    metric_steps = ("embed_images", "measure_quality", "measure_data_copying")
    result = {
        "n_samples": args.n,
        "n_training": len(train["images"]),
        "n_holdout": len(holdout["images"]),
        "image_shape": list(train["images"].shape[1:]),
        "source": source,
        "extractor": str(features["extractor"]),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "features_and_metrics_seconds": round(
            sum(seconds[s] for s in (*metric_steps, "audit_memorisation")), 2
        ),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "fid": quality["fid"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))  # noqa: T201
    print(f"written to {out}")  # noqa: T201


if __name__ == "__main__":
    main()
