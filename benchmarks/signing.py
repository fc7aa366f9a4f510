"""Cost of C2PA signing per image handed out, and of reading a manifest back.

    python benchmarks/signing.py [--repeats 50]

Signs 28x28 grey and 64x64 RGB PNGs (the default and Open Clip Art sizes)
with a throw-away test CA (scripts/make_test_ca.py), then reads them back with
the CA trusted. Prints medians and the bytes a manifest adds; writes
benchmarks/results/signing.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _png(shape: tuple[int, ...]) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/signing.json"))
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location(
        "make_test_ca", ROOT / "scripts/make_test_ca.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from imagegen.provenance import content_credentials as cc

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = module.make_test_ca(Path(tmp))
        os.environ[cc.KEY_ENV] = str(paths["key"])
        os.environ[cc.CERTS_ENV] = str(paths["chain"])
        provenance = {"model_name": "imagegen-dcgan", "seed": 0, "entry_id": "0" * 16}
        for name, shape in (("28x28_grey", (28, 28)), ("64x64_rgb", (64, 64, 3))):
            png = _png(shape)
            sign, read = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                signed = cc.sign_image(png, provenance)
                sign.append(time.perf_counter() - started)
                started = time.perf_counter()
                report = cc.read_credentials(signed, str(paths["ca"]))
                read.append(time.perf_counter() - started)
            assert report["trusted"]
            results[name] = {
                "sign_ms_median": round(float(np.median(sign)) * 1000, 2),
                "read_ms_median": round(float(np.median(read)) * 1000, 2),
                "png_bytes": len(png),
                "signed_bytes": len(signed),
            }
            print(f"{name}: {results[name]}")
    report = {"benchmark": "signing", "host": platform.node(), "results": results}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
