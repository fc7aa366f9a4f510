"""Do cgan samples show the class asked for? Agreement with a digit classifier.

Trains the project's `cgan` with the default parameters (conf/base) on the
digits training set, trains a small classifier on the same training images
(its accuracy is checked on the held-back works), generates `--per-class`
samples per class, and reports the fraction the classifier assigns to the
requested class (target: at least 0.8). Prints and writes JSON.

    python benchmarks/cgan_class_agreement.py [--epochs 100]
        [--out benchmarks/results/cgan_class_agreement.json]

Uses data/05_model_input/{training,holdout}_set.npz when the pipeline has made
them (`kedro run --pipelines preprocessing`), else the digits from scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_sets() -> tuple[dict, dict, str]:
    made = ROOT / "data/05_model_input"
    if (made / "training_set.npz").exists() and (made / "holdout_set.npz").exists():
        sets = [dict(np.load(made / f"{n}_set.npz")) for n in ("training", "holdout")]
        return sets[0], sets[1], str(made)
    from tests.training.digits import digits_training_set

    everything = digits_training_set(n=1797)
    cut = int(0.9 * 1797)
    training = {k: v[:cut] if k != "class_names" else v for k, v in everything.items()}
    holdout = {k: v[cut:] if k != "class_names" else v for k, v in everything.items()}
    return training, holdout, "scikit-learn digits"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="default: conf/base training.epochs")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/cgan_class_agreement.json")
    )
    args = parser.parse_args()
    from imagegen.framework.parameters import TrainingParams
    from imagegen.training.loop import train
    from tests.training.classifier import class_agreement, train_classifier

    training, holdout, source = load_sets()
    params = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    params = params["training"]
    params.update(model="cgan", progress_bar=False)
    if args.epochs:
        params["epochs"] = args.epochs
    n_classes = len(training["class_names"])
    with tempfile.TemporaryDirectory() as tmp:
        params["checkpoint_dir"] = tmp
        started = time.perf_counter()
        result = train(training, TrainingParams.model_validate(params))
        seconds = time.perf_counter() - started
    classifier = train_classifier(training["images"], training["labels"], n_classes)
    held_predictions = classifier.predict(holdout["images"], verbose=0)
    accuracy = float(np.mean(np.argmax(held_predictions, 1) == holdout["labels"]))
    agreement, per_class = class_agreement(
        result.model.generator, classifier, n_classes, args.per_class
    )
    report = {
        "data": source,
        "n_training": int(len(training["images"])),
        "epochs": params["epochs"],
        "cgan": params["cgan"],
        "training_seconds": round(seconds, 1),
        "classifier_holdout_accuracy": round(accuracy, 4),
        "samples_per_class": args.per_class,
        "agreement": round(agreement, 4),
        "agreement_per_class": [round(a, 3) for a in per_class],
        "final_losses": result.summary["final"],
    }
    print(json.dumps(report, indent=2))  # noqa: T201
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if agreement >= 0.8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
