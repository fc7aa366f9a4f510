"""The embedded default dataset: scikit-learn's copy of the UCI handwritten digits."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

DIGITS_LICENCE = "CC-BY-4.0"
DIGITS_CREATOR = "E. Alpaydin; C. Kaynak"
DIGITS_SOURCE = (
    "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"
)
MANIFEST_COLUMNS = ("path", "licence", "creator", "title", "source_url", "label")


def write_digits(dest: Path) -> int:
    """Write the 1,797 digits as 8x8 greyscale PNGs plus `manifest.csv` into `dest`.

    The folder is built next to `dest` and renamed into place, so an interrupted
    run leaves either nothing or the complete dataset.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        rows = []
        for index, (pixels, label) in enumerate(
            zip(digits.images, digits.target, strict=True)
        ):
            rel = f"{label}/digit_{index:04d}.png"
            (staging / str(label)).mkdir(exist_ok=True)
            grey = np.round(pixels * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(grey, mode="L").save(staging / rel, optimize=False)
            rows.append(
                {
                    "path": rel,
                    "licence": DIGITS_LICENCE,
                    "creator": DIGITS_CREATOR,
                    "title": f"Handwritten digit {label} (sample {index})",
                    "source_url": DIGITS_SOURCE,
                    "label": int(label),
                }
            )
        with open(staging / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        if dest.exists():
            dest.rmdir()  # only an empty folder is replaced
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(rows)
