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
    composite_view,
    near_duplicates,
    perceptual_signature,
)
from imagegen.pipelines.curation.similarity import SHAPE_SIDE, coarse_shapes
from tests.conftest import PROJECT_ROOT

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]
LABELS = PROJECT_ROOT / "tests/fixtures/openclipart_near_duplicate_labels.csv"
SHAPE_LABELS = LABELS.with_name("openclipart_near_duplicate_labels_shape.csv")
BLUR_LABELS = LABELS.with_name("openclipart_near_duplicate_labels_blur.csv")
# Every pair the pHash-and-shape pair rule adds on the whole set (a census).
PAIR_LABELS = LABELS.with_name("openclipart_near_duplicate_labels_pair_rule.csv")
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


def _signature(rel: str) -> tuple[str, str, str]:
    with Image.open(OCAL / rel) as image:
        image.load()
        size = POLICY["faces"]["detect_size"]
        view = composite_view(image, size)
        grey = view.convert("L")
        grey.thumbnail((size, size), Image.Resampling.BILINEAR)
        return perceptual_signature(grey, view, POLICY["duplicates"]["hash_size"])


def _flagged(labels: pd.DataFrame) -> pd.Series:
    """Whether the matcher (the policy's thresholds) joins each labelled pair."""
    rules = POLICY["duplicates"]
    flagged = []
    for r in labels.itertuples():
        a, b = _signature(r.kept), _signature(r.path)
        joined = near_duplicates(
            ["a", "b"],
            ["a", "b"],
            [a[0], b[0]],
            rules["max_distance"],
            [a[1], b[1]],
            rules["max_colour_distance"],
            [a[2], b[2]],
            rules["max_shape_difference"],
            rules["pair_distance"],
            rules["pair_shape_difference"],
        )
        flagged.append("b" in joined)
    return pd.Series(flagged, index=labels.index)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fixture",
    [LABELS, SHAPE_LABELS, BLUR_LABELS],
    ids=["phash", "shape_matcher", "matcher"],
)
def test_labelled_open_clip_art_pairs_precision_and_recall(fixture):
    """Pairs of Open Clip Art drawn at random and labelled by looking at them:
    from the grey pHash's flags (200), an earlier matcher's (200) and this
    matcher's (125)."""
    if not (OCAL / "_sources").is_dir():
        pytest.skip("run scripts/fetch_openclipart.sh to test on Open Clip Art")
    labels = pd.read_csv(fixture)
    assert len(labels) >= 125
    labels["flagged"] = _flagged(labels)
    true = labels["flagged"] & labels["same_work"]
    precision = true.sum() / labels["flagged"].sum()
    recall = true.sum() / labels["same_work"].sum()
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


@pytest.mark.slow
def test_every_pair_rule_flag_labelled_and_all_fixtures_together():
    """The 13 pairs the pair rule adds, all looked at: its same-work pairs are
    caught, and over the four fixtures together precision stays >= 95%."""
    if not (OCAL / "_sources").is_dir():
        pytest.skip("run scripts/fetch_openclipart.sh to test on Open Clip Art")
    census = pd.read_csv(PAIR_LABELS)
    census["flagged"] = _flagged(census)
    assert census["flagged"][census["same_work"]].all()
    labels = pd.concat(
        [pd.read_csv(f) for f in (LABELS, SHAPE_LABELS, BLUR_LABELS)] + [census]
    ).drop_duplicates(["path", "kept"])
    labels["flagged"] = _flagged(labels)
    true = labels["flagged"] & labels["same_work"]
    assert true.sum() / labels["flagged"].sum() >= 0.95


def _house() -> Image.Image:
    """A drawing on a white margin: walls, roof, door and two windows."""
    image = Image.new("RGB", (240, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (50, 80, 190, 180), fill=(230, 200, 120), outline=(30, 30, 30), width=3
    )
    draw.polygon(
        [(40, 82), (120, 20), (200, 82)],
        fill=(180, 40, 30),
        outline=(30, 30, 30),
        width=3,
    )
    draw.rectangle((105, 120, 135, 180), fill=(90, 60, 30))
    for x in (65, 150):
        draw.rectangle((x, 100, x + 25, 125), outline=(30, 30, 30), width=2)
    return image


def test_resized_and_re_encoded_copies_of_a_drawing_are_caught(tmp_path):
    house = _house()
    _save(house, tmp_path / "a_house.png")
    _save(house.resize((120, 100), Image.Resampling.LANCZOS), tmp_path / "b_half.png")
    _save(house, tmp_path / "c_q70.jpg", "JPEG", quality=70)
    _save(house, tmp_path / "d_q85.jpg", "JPEG", quality=85)
    recoloured = Image.fromarray(np.asarray(house)[:, :, ::-1])  # a blue roof
    _save(recoloured, tmp_path / "e_blue_roof.png")
    assert _reasons(tmp_path) == {
        "a_house.png": "",
        "b_half.png": "a_house.png",
        "c_q70.jpg": "a_house.png",
        "d_q85.jpg": "a_house.png",
        "e_blue_roof.png": "",
    }


def test_doubled_and_halved_re_encoded_copies_are_caught(tmp_path):
    house = _house()
    _save(house, tmp_path / "a_house.png")
    _save(house.resize((480, 400), Image.Resampling.BICUBIC), tmp_path / "b_twice.png")
    half = house.resize((120, 100), Image.Resampling.BILINEAR)
    _save(half, tmp_path / "c_half_q70.jpg", "JPEG", quality=70)
    assert _reasons(tmp_path) == {
        "a_house.png": "",
        "b_twice.png": "a_house.png",
        "c_half_q70.jpg": "a_house.png",
    }


def _card(pips: int) -> Image.Image:
    """A playing card: the same frame and corner marks, `pips` diamonds."""
    image = Image.new("RGB", (140, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, 135, 195), radius=10, outline="black", width=2)
    draw.rectangle((10, 10, 22, 24), fill=(200, 20, 20))
    draw.rectangle((117, 175, 129, 189), fill=(200, 20, 20))
    spots = [(45, 50), (95, 50), (45, 150), (95, 150), (70, 100), (70, 75)]
    for x, y in spots[:pips]:
        draw.polygon(
            [(x, y - 12), (x + 9, y), (x, y + 12), (x - 9, y)], fill=(200, 20, 20)
        )
    return image


def test_a_blank_icon_and_cards_with_other_pips_are_other_works(tmp_path):
    _save(_card(4), tmp_path / "card_4.png")
    _save(_card(5), tmp_path / "card_5.png")
    _save(_card(6), tmp_path / "card_6.png")
    flag = np.full((80, 120, 3), 255, dtype=np.uint8)
    flag[:, :40], flag[:, 80:] = (0, 85, 164), (239, 65, 53)
    _save(Image.fromarray(flag), tmp_path / "flag.png")
    # Nothing drawn: a blank icon matches no work.
    _save(Image.new("RGBA", (120, 80), (255, 255, 255, 0)), tmp_path / "icon_blank.png")
    assert set(_reasons(tmp_path).values()) == {""}


@pytest.mark.xfail(
    strict=True,
    reason="not yet caught: the canvas is reduced 3x by the analysis view, so the "
    "drawing is a third-size copy, 0.0098 of the ink apart (limit 0.004)",
)
def test_the_same_drawing_on_a_wider_white_canvas_is_caught(tmp_path):
    house = _house()
    canvas = Image.new("RGB", (480, 260), "white")
    canvas.paste(house, (200, 30))  # the pHash sees the margin, the shape does not
    _save(house, tmp_path / "a_house.png")
    _save(canvas, tmp_path / "b_wide.png")
    assert _reasons(tmp_path) == {"a_house.png": "", "b_wide.png": "a_house.png"}


def test_coarse_looks_never_drop_a_pair_the_finer_one_keeps():
    rng = np.random.default_rng(0)
    shapes = rng.integers(0, 256, (50, SHAPE_SIDE, SHAPE_SIDE), dtype=np.uint8)
    grids = [coarse_shapes(shapes, grid) for grid in (2, 4, 8)]
    apart = [np.abs(g[1:] - g[0]).mean(axis=1) for g in grids]
    assert np.all(apart[0] <= apart[1] + 1e-4) and np.all(apart[1] <= apart[2] + 1e-4)


def _star(points: int, step: int, side: int = 100) -> Image.Image:
    """A star polygon {points/step} of 1-px faint lines (as Open Clip Art's)."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    angles = 2 * np.pi * np.arange(points) / points
    xy = [
        (side / 2 + 0.45 * side * np.sin(a), side / 2 - 0.45 * side * np.cos(a))
        for a in angles
    ]
    for k in range(points):
        draw.line([xy[k], xy[(k + step) % points]], fill=(0, 0, 0, 90), width=1)
    return image


def _star_copies(tmp_path) -> None:
    star = _star(17, 8)
    flat = Image.alpha_composite(Image.new("RGBA", star.size, "white"), star)
    _save(star, tmp_path / "a_star.png")
    _save(star.resize((50, 50), Image.Resampling.LANCZOS), tmp_path / "b_half.png")
    _save(star.resize((200, 200), Image.Resampling.LANCZOS), tmp_path / "c_twice.png")
    _save(flat.convert("RGB"), tmp_path / "d_q70.jpg", "JPEG", quality=70)


def test_a_recoloured_thin_line_star_is_another_work(tmp_path):
    star = _star(17, 8)
    _save(star, tmp_path / "a_star.png")
    red = Image.new("RGBA", star.size, (0, 0, 0, 0))
    red.paste((220, 30, 30, 255), mask=star.getchannel("A").point(lambda a: a and 255))
    _save(red, tmp_path / "b_red.png")
    assert _reasons(tmp_path) == {"a_star.png": "", "b_red.png": ""}


@pytest.mark.xfail(
    strict=True,
    reason="not yet caught: 0.009-0.023 of the ink and 12-30 pHash bits apart, "
    "while distinct Open Clip Art works start at 0.004; docs/rights-policy.md",
)
def test_thin_line_star_resized_and_re_encoded_is_caught(tmp_path):
    _star_copies(tmp_path)
    assert _reasons(tmp_path) == {
        "a_star.png": "",
        "b_half.png": "a_star.png",
        "c_twice.png": "a_star.png",
        "d_q70.jpg": "a_star.png",
    }


def test_a_blank_icon_matches_no_flag_and_other_pips_no_card(tmp_path):
    blank = Image.new("RGB", (120, 80), (250, 250, 250))
    _save(blank, tmp_path / "a_blank.png")
    flag = np.full((80, 120, 3), 250, dtype=np.uint8)
    flag[30:50] = (200, 16, 46)
    _save(Image.fromarray(flag), tmp_path / "b_flag.png")
    _save(_card(2), tmp_path / "c_card_2.png")
    _save(_card(3), tmp_path / "d_card_3.png")
    assert _reasons(tmp_path) == {
        "a_blank.png": "",
        "b_flag.png": "",
        "c_card_2.png": "",
        "d_card_3.png": "",
    }


def test_coarse_candidates_are_every_earlier_work_within_the_limit():
    from imagegen.pipelines.curation.similarity import COARSE_LIMIT, ShapeIndex

    rng = np.random.default_rng(1)
    base = rng.integers(150, 256, (6, SHAPE_SIDE, SHAPE_SIDE))
    noise = rng.integers(-12, 13, (60, SHAPE_SIDE, SHAPE_SIDE))
    shapes = np.clip(base[rng.integers(0, 6, 60)] + noise, 0, 255).astype(np.uint8)
    index = ShapeIndex([s.tobytes().hex() for s in shapes], 0.004)
    eight = coarse_shapes(shapes, 8)
    for i in range(len(shapes)):
        near = np.abs(eight[:i] - eight[i]).mean(axis=1) <= COARSE_LIMIT
        found = index.earlier[index.starts[i] : index.starts[i + 1]]
        assert found.tolist() == np.flatnonzero(near).tolist()
