"""Build what the GPU machine lacks for `run.py`: a wheel folder and the carried data.

The device image (Python 3.12, JAX with CUDA, PyTorch, NumPy, SciPy, Pillow,
PyYAML, rich, h5py, ml-dtypes, absl-py; no TensorFlow, no Keras, no network)
lacks Keras and the project's configuration checks. This downloads exactly
those as Python 3.12 manylinux wheels into `benchmarks/gpu/wheels/`
(git-ignored), at the versions installed here, and writes
`benchmarks/gpu/data/openclipart_64.npz` (git-ignored): `--n` images of the
project's Open Clip Art training set as uint8, compressed.

    python benchmarks/gpu/prepare.py [--training-set data/05_model_input/training_set.npz]
        [--n 6000]

Everything together must stay under the 64 MiB a device call carries; the
script prints the sizes and refuses to leave more.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WHEELS = HERE / "wheels"
DATA = HERE / "data" / "openclipart_64.npz"
LIMIT = 60 * 2**20  # leave room for the working tree within the 64 MiB
# What `imagegen.training.loop` imports that the device image has not.
PACKAGES = (
    "keras",
    "namex",
    "optree",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def download_wheels() -> None:
    WHEELS.mkdir(parents=True, exist_ok=True)
    for old in WHEELS.glob("*.whl"):
        old.unlink()
    pins = [f"{name}=={version(name)}" for name in PACKAGES]
    command = [sys.executable, "-m", "pip", "download", "--no-deps"]
    command += ["--only-binary=:all:", "--python-version", "3.12"]
    command += ["--implementation", "cp", "-d", str(WHEELS)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run([*command, *pins], check=True)


def write_data(training_set: Path, n: int) -> None:
    with np.load(training_set) as archive:
        images = archive["images"]
    rng = np.random.default_rng(0)
    picked = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    pixels = np.round((images[picked] + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DATA, images=pixels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--training-set",
        type=Path,
        default=HERE.parents[1] / "data/05_model_input/training_set.npz",
        help="the preprocessing pipeline's training_set.npz of --env openclipart",
    )
    parser.add_argument("--n", type=int, default=6000, help="images kept (all: 5,749)")
    args = parser.parse_args()
    download_wheels()
    if args.training_set.exists():
        write_data(args.training_set, args.n)
    else:
        print(f"no {args.training_set}: the Open Clip Art part runs on synthetic data")
    sizes = {
        p.name: p.stat().st_size for p in [*WHEELS.glob("*.whl"), DATA] if p.exists()
    }
    for name, size in sizes.items():
        print(f"{size / 2**20:7.2f} MiB  {name}")
    total = sum(sizes.values())
    print(f"{total / 2**20:7.2f} MiB in all")
    if total > LIMIT:
        print(f"over {LIMIT / 2**20:.0f} MiB: lower --n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
