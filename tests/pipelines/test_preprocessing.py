import numpy as np
import pandas as pd
import pytest

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.preprocessing import nodes
from tests.pipelines.corpus import png

PARAMS = {"image_size": 16, "channels": 3, "holdout_percent": 25, "max_works": None}


@pytest.fixture
def works(tmp_path):
    rows = []
    for i in range(12):
        rel = f"w{i}.png"
        data = png(
            tmp_path / rel, size=(20 + i, 30), seed=i, mode="RGBA" if i % 2 else "L"
        )
        import hashlib

        rows.append(
            {
                "path": rel,
                "work_id": hashlib.sha256(data).hexdigest(),
                "title": rel,
                "creator": f"c{i % 3}",
                "licence": "CC0-1.0",
                "source_url": "",
                "label": str(i % 2),
            }
        )
    return RawFolder(tmp_path), pd.DataFrame(rows)


def test_split_is_stable_and_disjoint(works):
    _, table = works
    train, held = nodes.split_holdout(table, PARAMS)
    again_train, again_held = nodes.split_holdout(
        table.sample(frac=1, random_state=3), PARAMS
    )
    assert set(train.work_id).isdisjoint(held.work_id)
    assert len(train) + len(held) == len(table)
    assert list(train.work_id) == list(again_train.work_id)
    assert list(held.work_id) == list(again_held.work_id)


def test_image_set_is_scaled_and_sized(works, base_policy):
    folder, table = works
    result = nodes.build_image_set(table, folder, PARAMS, base_policy)
    images = result["images"]
    assert images.shape == (12, 16, 16, 3)
    assert images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() < -0.5 and images.max() > 0.5
    assert list(result["labels"]) == [i % 2 for i in range(12)]
    assert list(result["class_names"]) == ["0", "1"]


def test_alpha_is_composited_on_white(tmp_path, base_policy):
    from PIL import Image

    Image.new("RGBA", (10, 10), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    table = pd.DataFrame([{"path": "clear.png", "work_id": "0" * 64}])
    result = nodes.build_image_set(
        table, RawFolder(tmp_path), {**PARAMS, "image_size": 8}, base_policy
    )
    np.testing.assert_allclose(result["images"], 1.0)


def test_manifest_and_digest(works, base_policy):
    folder, table = works
    train, _ = nodes.split_holdout(table, PARAMS)
    image_set = nodes.build_image_set(train, folder, PARAMS, base_policy)
    manifest = nodes.build_training_manifest(train, image_set)
    assert list(manifest.columns) == nodes.MANIFEST_COLUMNS
    assert manifest["derived_sha256"].str.len().eq(64).all()
    digest = nodes.compute_dataset_digest(manifest)
    assert digest["n_works"] == len(train)
    assert digest["licence_summary"] == {"CC0-1.0": len(train)}
    # Same works in another order: same digest; one work fewer: another digest.
    assert nodes.compute_dataset_digest(manifest.iloc[::-1]) == digest
    assert (
        nodes.compute_dataset_digest(manifest.iloc[1:])["dataset_digest"]
        != digest["dataset_digest"]
    )


def test_classes_come_from_the_manifest_or_the_top_level_folder():
    import pandas as pd

    from imagegen.pipelines.preprocessing.nodes import work_labels

    works = pd.DataFrame(
        {
            "path": ["animals/cat.png", "food/deep/pie.png", "top.png", "food/x.png"],
            "label": ["", None, "", "dessert"],
        }
    )
    assert work_labels(works, "manifest") == ["", "", "", "dessert"]
    assert work_labels(works, "folder") == ["animals", "food", "", "dessert"]
    assert work_labels(works.drop(columns="label"), "folder")[:2] == ["animals", "food"]
