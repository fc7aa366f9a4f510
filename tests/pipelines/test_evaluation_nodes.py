"""Evaluation nodes on small real data (no Kedro run)."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.datasets.raw_folder import RawFolder
from imagegen.images import to_model_input, to_model_range
from imagegen.pipelines.evaluation import nodes
from tests.pipelines.corpus import png

PARAMS = {
    "n_samples": 12,
    "seed": 0,
    "nearest_k": 3,
    "memorisation_quantile": 0.05,
    "memorisation_space": "pixel",
    "sheet_rows": 4,
    "grid_size": 3,
    "ct_cells": 2,
    "ct_min_cell_samples": 2,
    "kid_subsets": 5,
    "kid_subset_size": 100,
}
PREPROCESSING = {"image_size": 16, "channels": 1}
GATES = {"fid_max": 1e9, "kid_max": 1e9, "ct_min": -3.0, "memorised_fraction_max": 0.5}


@pytest.fixture
def folder(tmp_path):
    for i in range(5):
        png(tmp_path / f"s{i}.png", size=(20, 12), seed=i, mode="RGBA" if i else "L")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(tmp_path / "sub" / "green.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "readme.txt").write_text("hello")
    return RawFolder(tmp_path)


def test_folder_images_are_read_like_training_images_and_bad_files_listed(folder):
    samples = nodes.read_sample_folder(folder, 16, 1, 10_000_000)
    assert samples["names"].tolist() == [f"s{i}.png" for i in range(5)] + [
        "sub/green.jpg"
    ]
    assert samples["images"].shape == (6, 16, 16, 1)
    with Image.open(folder.root / "s3.png") as image:
        expected = to_model_range(to_model_input(image, 16, 1))
    np.testing.assert_array_equal(samples["images"][3], expected)
    assert samples["images"].min() >= -1 and samples["images"].max() <= 1
    skipped = samples["skipped"].tolist()
    assert [s.split(":")[0] for s in skipped] == ["broken.png", "readme.txt"]
    assert str(samples["source"]) == f"folder:{folder.root}"


def test_collect_samples_reads_the_folder_without_a_generator(folder):
    samples = nodes.collect_samples(
        None, folder, str(folder.root), PREPROCESSING, 10_000_000, PARAMS
    )
    assert len(samples["images"]) == 6
    with pytest.raises(ValueError, match=r"samples_dir = .*: 6 readable images, need"):
        nodes.collect_samples(
            None,
            folder,
            str(folder.root),
            PREPROCESSING,
            10_000_000,
            {**PARAMS, "nearest_k": 6},
        )


def test_collect_samples_samples_the_generator_without_samples_dir():
    import keras

    generator = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(16, activation="tanh")]
    )
    generator = keras.Sequential([generator, keras.layers.Reshape((4, 4, 1))])
    samples = nodes.collect_samples(generator, None, None, PREPROCESSING, 1, PARAMS)
    assert samples["images"].shape == (12, 4, 4, 1)
    assert samples["names"][0] == "sample_00000"
    assert str(samples["source"]) == "generator"
    again = nodes.collect_samples(generator, None, None, PREPROCESSING, 1, PARAMS)
    np.testing.assert_array_equal(samples["images"], again["images"])


@pytest.fixture
def evaluated():
    from sklearn.datasets import load_digits

    images = (load_digits().images[:300] / 8.0 - 1.0).astype(np.float32)[..., None]
    train, holdout = images[:200], images[200:260]
    work_ids = np.array([f"{i:064x}" for i in range(200)])
    # Four copies of training works, then unseen digits.
    samples = {
        "images": np.concatenate([train[[5, 50, 150, 7]], images[260:300]]),
        "names": np.array([f"img{i}" for i in range(44)]),
        "source": np.array("folder:/x"),
        "skipped": np.array(["bad.png: corrupt"]),
    }
    flat = {k: v.reshape(len(v), -1) for k, v in (("samples", samples["images"]),)}
    features = {
        **flat,
        "training": train.reshape(200, -1),
        "holdout": holdout.reshape(60, -1),
        "extractor": np.array("pixels-test"),
    }
    manifest = pd.DataFrame(
        {
            "work_id": work_ids,
            "creator": [f"creator {i % 3}" for i in range(200)],
            "licence": "CC0-1.0",
            "title": "t",
            "path": [f"w{i}.png" for i in range(200)],
        }
    )
    training_set = {"images": train, "work_ids": work_ids}
    return samples, features, training_set, {"images": holdout}, manifest


def test_audit_names_the_copied_works_with_credits(evaluated):
    samples, features, training_set, holdout_set, manifest = evaluated
    table, summary = nodes.audit_memorisation(
        samples, features, training_set, holdout_set, manifest, PARAMS
    )
    top = table.head(4)
    assert top["sample_name"].tolist() == ["img0", "img1", "img2", "img3"]
    assert top["work_id"].tolist() == [f"{i:064x}" for i in (5, 50, 150, 7)]
    assert top["creator"].tolist() == [
        "creator 2",
        "creator 2",
        "creator 0",
        "creator 1",
    ]
    assert top["memorised"].all()
    assert list(table["rank"]) == list(range(1, 45))
    assert summary["memorised_fraction"] >= 4 / 44
    figure = nodes.plot_memorisation_sheet(samples, training_set, table, PARAMS)
    assert len(figure.axes) == 3 * PARAMS["sheet_rows"]


def test_summary_holds_every_number_its_extractor_and_the_gates(evaluated):
    samples, features, training_set, holdout_set, manifest = evaluated
    quality = nodes.measure_quality(features, PARAMS)
    copying = nodes.measure_data_copying(features, PARAMS)
    table, memorisation = nodes.audit_memorisation(
        samples, features, training_set, holdout_set, manifest, PARAMS
    )
    report, metrics = nodes.summarise_evaluation(
        quality,
        copying,
        memorisation,
        samples,
        features,
        {"dataset_digest": "d"},
        GATES,
    )
    for key in (
        "fid",
        "kid",
        "precision",
        "recall",
        "density",
        "coverage",
        "ct_score",
        "memorised_fraction",
    ):
        assert report[key] is not None, key
        assert metrics[key]["value"] == pytest.approx(report[key]), key
    assert report["extractor"] == "pixels-test"
    assert report["skipped_files"] == ["bad.png: corrupt"]
    assert report["gate_passed"] is (
        report["ct_score"] >= -3 and report["memorised_fraction"] <= 0.5
    )
    assert metrics["gate_passed"]["value"] == float(report["gate_passed"])
    html = nodes.render_evaluation_report(report, table, PARAMS)
    assert "pixels-test" in html and "memorisation_sheet.png" in html


def test_an_unmeasured_ct_is_left_out_of_mlflow_and_fails_its_gate(evaluated):
    samples, features, training_set, holdout_set, manifest = evaluated
    quality = nodes.measure_quality(features, PARAMS)
    copying = nodes.measure_data_copying(
        features, {**PARAMS, "ct_min_cell_samples": 99}
    )
    _, memorisation = nodes.audit_memorisation(
        samples, features, training_set, holdout_set, manifest, PARAMS
    )
    report, metrics = nodes.summarise_evaluation(
        quality,
        copying,
        memorisation,
        samples,
        features,
        {"dataset_digest": "d"},
        GATES,
    )
    assert report["ct_score"] is None
    assert "ct_score" not in metrics
    assert report["gates"]["ct_min"]["verdict"] == "not_measured"
    assert report["gate_passed"] is False
