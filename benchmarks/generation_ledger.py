"""Cost of the generation ledger: serving overhead for n=16, trace lookups at 100k entries.

    python benchmarks/generation_ledger.py [--model models:/imagegen-digits-dcgan@candidate]

Serving: the registered pyfunc's `predict` for n=16, alternating ledger on and
off (IMAGEGEN_GENERATION_LEDGER), in one process, median of each. Lookup: a
ledger of 100,000 generation entries, then `find_image` for an image recorded
last (exact SHA-256), and for a re-encoded copy (perceptual, full scan).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def serving_overhead(model_uri: str, repeats: int, ledger: Path) -> dict:
    import mlflow

    # Import the installed package first: a model loaded in-process puts its own
    # copy of imagegen (code_paths) on sys.path.
    from imagegen.provenance.generation_ledger import flush_background

    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT}/mlflow.db")
    model = mlflow.pyfunc.load_model(model_uri)
    request = pd.DataFrame({"seed": [0], "n": [16]})
    timings = {"off": [], "on": []}
    for i in range(repeats * 2 + 10):
        mode = "on" if i % 2 else "off"
        os.environ["IMAGEGEN_GENERATION_LEDGER"] = (
            str(ledger) if mode == "on" else "off"
        )
        started = time.perf_counter()
        model.predict(request)
        elapsed = time.perf_counter() - started
        if mode == "on":
            flush_background()  # entries of one request land before the next is timed
        if i >= 10:  # warm-up
            timings[mode].append(elapsed)
    off, on = np.median(timings["off"]) * 1000, np.median(timings["on"]) * 1000
    return {
        "n": 16,
        "repeats": repeats,
        "median_ms_ledger_off": round(float(off), 2),
        "median_ms_ledger_on": round(float(on), 2),
        "overhead_percent": round(float((on - off) / off * 100), 2),
    }


def lookup_times(entries: int, folder: Path) -> dict:
    from imagegen.provenance.generation_ledger import find_image, record_images
    from imagegen.provenance.ledger import Ledger

    path = folder / "generation.jsonl"
    rng = np.random.default_rng(0)
    ledger = Ledger(path)
    started = time.perf_counter()
    batch = []
    for i in range(entries - 1):
        batch.append(
            {
                "kind": "generation",
                "image_sha256": hashlib.sha256(i.to_bytes(8, "little")).hexdigest(),
                "phash": f"{int(rng.integers(0, 2**63)):016x}",
                "model_name": "imagegen-digits-dcgan",
                "model_version": str(i % 7 + 1),
                "run_id": "r" * 32,
                "seed": i,
                "index": 0,
                "source": "benchmark",
            }
        )
        if len(batch) == 5000:
            ledger.append_many(batch)
            batch = []
    ledger.append_many(batch)
    build_s = time.perf_counter() - started
    # A digit, as the default model draws them: pHash needs real structure (a
    # synthetic wrap-around gradient re-encodes 22 bits away).
    from sklearn.datasets import load_digits

    digit = (load_digits().images[0] / 16 * 255).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(digit).resize((28, 28), Image.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    png = buffer.getvalue()
    record_images(
        [png], [{"model_name": "imagegen-digits-dcgan", "model_version": "9"}], path
    )
    jpeg = io.BytesIO()
    Image.fromarray(pixels).resize((25, 25)).save(jpeg, format="JPEG", quality=85)
    results = {
        "entries": entries,
        "ledger_mb": round(path.stat().st_size / 2**20, 1),
        "build_s": round(build_s, 1),
    }
    for name, data in (("exact", png), ("perceptual", jpeg.getvalue())):
        started = time.perf_counter()
        found = find_image(data, path)
        results[f"{name}_lookup_s"] = round(time.perf_counter() - started, 3)
        results[f"{name}_found_version"] = found and found.get("model_version")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/imagegen-digits-dcgan@candidate")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/generation_ledger.json")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serving = serving_overhead(
            args.model, args.repeats, Path(tmp) / "serving.jsonl"
        )
        print(
            f"serving n=16: {serving['median_ms_ledger_off']} ms without ledger, "
            f"{serving['median_ms_ledger_on']} ms with it "
            f"({serving['overhead_percent']:+.1f}%)"
        )
        lookup = lookup_times(args.entries, Path(tmp))
        print(
            f"lookup in {lookup['entries']} entries ({lookup['ledger_mb']} MB): exact "
            f"{lookup['exact_lookup_s']} s, perceptual {lookup['perceptual_lookup_s']} s"
        )
    report = {
        "benchmark": "generation_ledger",
        "model": args.model,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "serving": serving,
        "lookup": lookup,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
