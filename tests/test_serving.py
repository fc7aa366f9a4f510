import base64
import io

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.models.cgan import build_conditional_generator
from imagegen.models.dcgan import build_generator
from imagegen.models.sampling import latent_noise
from imagegen.provenance.xmp import read_png_provenance
from imagegen.serving import DIGITAL_SOURCE_TYPE, GeneratorModel, InvalidRequest


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    wrapper = GeneratorModel()
    wrapper.generator = build_generator(28, 1, 16, 4)
    wrapper.configure(
        {
            "model_name": "imagegen-digits-dcgan",
            "run_id": "abc",
            "dataset_digest": "d",
            "max_n": 8,
        }
    )
    return wrapper


def test_predict_returns_pngs_with_provenance(model, tmp_path):
    out = model.predict(None, pd.DataFrame({"seed": [1, 2], "n": [3, 1]}))
    assert len(out) == 4
    assert list(out["request"]) == [0, 0, 0, 1]
    png = base64.b64decode(out["png_base64"][0])
    image = Image.open(io.BytesIO(png))
    assert image.size == (28, 28) and image.mode == "L"
    assert set(out["digital_source_type"]) == {DIGITAL_SOURCE_TYPE}
    assert set(out["model_name"]) == {"imagegen-digits-dcgan"}
    (tmp_path / "served.png").write_bytes(png)
    embedded = read_png_provenance(tmp_path / "served.png")
    assert embedded["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert embedded["run_id"] == "abc" and embedded["seed"] == "1"


def test_same_seed_same_images(model):
    a = model.predict(None, pd.DataFrame({"seed": [5], "n": [2]}))
    b = model.predict(None, pd.DataFrame({"seed": [5], "n": [2]}))
    c = model.predict(None, pd.DataFrame({"seed": [6], "n": [2]}))
    assert _pixels(a) == _pixels(b)
    assert _pixels(a) != _pixels(c)


def _pixels(frame: pd.DataFrame) -> list[bytes]:
    return [
        Image.open(io.BytesIO(base64.b64decode(p))).tobytes()
        for p in frame["png_base64"]
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"seed": 1, "n": 0}, "n must be between 1 and 8"),
        ({"seed": 1, "n": 9}, "n must be between 1 and 8"),
        ({"seed": -1, "n": 1}, "seed must be >= 0"),
        ({"seed": 1}, "integer 'seed' and 'n'"),
        ({"seed": 1, "n": 1, "label": 3}, "not class-conditional"),
        ({"seed": 1, "n": 1, "truncation": 0.0}, "truncation must be > 0"),
        ({"seed": 1, "n": 1, "temperature": -1.0}, "temperature must be in"),
    ],
)
def test_out_of_bounds_requests_are_refused(model, row, message):
    with pytest.raises(InvalidRequest, match=message):
        model.predict(None, pd.DataFrame([row]))


def test_noise_is_reproducible():
    np.testing.assert_array_equal(latent_noise(3, 2, 5), latent_noise(3, 2, 5))
    assert latent_noise(3, 2, 5).shape == (2, 5)


def test_truncation_and_temperature_shape_the_noise():
    wide = latent_noise(3, 200, 16)
    assert np.abs(wide).max() > 1.5
    truncated = latent_noise(3, 200, 16, truncation=0.5)
    assert np.abs(truncated).max() <= 0.5
    np.testing.assert_allclose(
        latent_noise(3, 2, 5, temperature=0.5), latent_noise(3, 2, 5) * 0.5
    )


def test_invalid_requests_are_http_400():
    assert InvalidRequest("x").get_http_status_code() == 400


def test_conditional_model_needs_a_label_in_range():
    keras.utils.set_random_seed(0)
    wrapper = GeneratorModel()
    wrapper.generator = build_conditional_generator(28, 1, 8, 10, 16, 4)
    wrapper.configure({"max_n": 4})
    assert wrapper.conditional and wrapper.n_classes == 10
    with pytest.raises(InvalidRequest, match="give 'label'"):
        wrapper.predict(None, pd.DataFrame([{"seed": 1, "n": 1}]))
    with pytest.raises(InvalidRequest, match="between 0 and 9, got 10"):
        wrapper.predict(None, pd.DataFrame([{"seed": 1, "n": 1, "label": 10}]))
    three = wrapper.predict(None, pd.DataFrame([{"seed": 1, "n": 2, "label": 3}]))
    seven = wrapper.predict(None, pd.DataFrame([{"seed": 1, "n": 2, "label": 7}]))
    assert list(three["label"]) == [3, 3]
    # Same noise, another class: the label reaches the generator.
    assert _pixels(three) != _pixels(seven)
