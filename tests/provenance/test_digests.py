import numpy as np
import pandas as pd

from imagegen.provenance.digests import (
    data_digest,
    file_digest,
    folder_digest,
    path_digest,
)


def test_frames_hash_by_content():
    a = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    assert data_digest(a) == data_digest(a.copy())
    assert data_digest(a) != data_digest(a.iloc[::-1])
    assert data_digest(a) != data_digest(a.assign(y=["a", "c"]))


def test_arrays_hash_dtype_shape_and_bytes():
    x = np.arange(6, dtype=np.float32)
    assert data_digest(x) == data_digest(x.copy())
    assert data_digest(x) != data_digest(x.reshape(2, 3))
    assert data_digest(x) != data_digest(x.astype(np.float64))
    assert data_digest({"a": x}) != data_digest({"b": x})


def test_json_like_data_ignores_key_order():
    assert data_digest({"a": 1, "b": [1, 2]}) == data_digest({"b": [1, 2], "a": 1})


def test_files_and_folders(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "b.txt").write_text("b")
    before = folder_digest(tmp_path / "d")
    assert path_digest(tmp_path / "d") == before
    assert path_digest(tmp_path / "d" / "a.txt") == file_digest(
        tmp_path / "d" / "a.txt"
    )
    (tmp_path / "d" / "b.txt").write_text("B")
    assert folder_digest(tmp_path / "d") != before
    assert path_digest(tmp_path / "missing") is None
