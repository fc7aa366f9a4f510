"""Near-duplicates that see colour: a recoloured drawing is another work."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageDraw

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.curation.inventory import (
    colour_distances,
    colour_signature,
    composite_view,
)
from tests.conftest import PROJECT_ROOT

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]
LABELS = PROJECT_ROOT / "tests/fixtures/openclipart_near_duplicate_labels.csv"
OCAL = PROJECT_ROOT / "data/01_raw/openclipart"


def _reasons(root, policy=POLICY):
    inventory = nodes.inventory_works(RawFolder(root), {}, policy, {"workers": 1})
    duplicates = nodes.find_duplicates(inventory, policy)
    ids = dict(zip(inventory["path"], inventory["work_id"], strict=True))
    near = dict(zip(duplicates["path"], duplicates["near_duplicate_of"], strict=True))
    return {p: next((q for q, w in ids.items() if w == near[p]), "") for p in near}


def _balloon(fill) -> Image.Image:
    image = Image.new("RGB", (120, 160), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 10, 100, 110), fill=fill, outline="black", width=3)
    draw.line((60, 110, 55, 155), fill="black", width=2)
    return image


def _save(image, path, fmt="PNG", **kw):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    path.write_bytes(buffer.getvalue())


def test_colour_variants_are_works_and_copies_are_still_caught(tmp_path):
    green, orange = (
        _balloon((40, 160, 60)),
        _balloon((196, 88, 40)),
    )  # the same grey level
    _save(green, tmp_path / "a_green.png")
    _save(orange, tmp_path / "b_orange.png")
    _save(green.resize((60, 80), Image.Resampling.LANCZOS), tmp_path / "c_half.png")
    _save(green.resize((240, 320)), tmp_path / "d_twice.jpg", "JPEG", quality=70)
    near = _reasons(tmp_path)
    assert near == {
        "a_green.png": "",
        "b_orange.png": "",
        "c_half.png": "a_green.png",
        "d_twice.jpg": "a_green.png",
    }
    # Grey levels alone merge the two balloons (what the colour check fixes).
    grey_only = {
        **POLICY,
        "duplicates": {**POLICY["duplicates"], "max_colour_distance": None},
    }
    assert _reasons(tmp_path, grey_only)["b_orange.png"] == "a_green.png"


def test_a_blank_card_never_matches_a_flag_of_the_same_grey(tmp_path):
    # Red, green and grey of one luminance: in grey levels the flag is blank.
    flag = np.zeros((80, 120, 3), dtype=np.uint8)
    flag[:, :40], flag[:, 40:80], flag[:, 80:] = (255, 0, 0), (0, 130, 0), (76,) * 3
    _save(Image.fromarray(flag), tmp_path / "flag.png")
    _save(Image.new("RGB", (120, 80), (76, 76, 76)), tmp_path / "blank.png")
    assert _reasons(tmp_path) == {"blank.png": "", "flag.png": ""}


def _signature(rel: str) -> np.ndarray:
    with Image.open(OCAL / rel) as image:
        image.load()
        view = composite_view(image, POLICY["faces"]["detect_size"])
        return np.frombuffer(bytes.fromhex(colour_signature(view)), np.uint8)


def test_labelled_open_clip_art_pairs_precision_and_recall():
    """200 pHash pairs of Open Clip Art, labelled by looking at them."""
    if not (OCAL / "_sources").is_dir():
        pytest.skip("run scripts/fetch_openclipart.sh to test on Open Clip Art")
    labels = pd.read_csv(LABELS)
    assert len(labels) == 200
    limit = POLICY["duplicates"]["max_colour_distance"]
    flagged = [
        colour_distances(_signature(r.path)[None], _signature(r.kept))[0] <= limit
        for r in labels.itertuples()
    ]
    labels["flagged"] = flagged
    true = labels["flagged"] & labels["same_work"]
    precision = true.sum() / labels["flagged"].sum()
    recall = true.sum() / labels["same_work"].sum()
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
