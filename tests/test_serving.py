import base64
import io

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.models.dcgan import build_generator
from imagegen.serving import (
    DIGITAL_SOURCE_TYPE,
    GeneratorModel,
    InvalidRequest,
    latent_noise,
)


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    wrapper = GeneratorModel()
    wrapper.generator = build_generator(28, 1, 16, 4)
    wrapper.latent_dim, wrapper.max_n = 16, 8
    wrapper.config = {
        "model_name": "imagegen-dcgan",
        "run_id": "abc",
        "dataset_digest": "d",
    }
    return wrapper


def test_predict_returns_pngs_with_provenance(model):
    out = model.predict(None, pd.DataFrame({"seed": [1, 2], "n": [3, 1]}))
    assert len(out) == 4
    assert list(out["request"]) == [0, 0, 0, 1]
    image = Image.open(io.BytesIO(base64.b64decode(out["png_base64"][0])))
    assert image.size == (28, 28) and image.mode == "L"
    assert set(out["digital_source_type"]) == {DIGITAL_SOURCE_TYPE}
    assert set(out["model_name"]) == {"imagegen-dcgan"}


def test_same_seed_same_images(model):
    a = model.predict(None, pd.DataFrame({"seed": [5], "n": [2]}))
    b = model.predict(None, pd.DataFrame({"seed": [5], "n": [2]}))
    c = model.predict(None, pd.DataFrame({"seed": [6], "n": [2]}))
    assert list(a["png_base64"]) == list(b["png_base64"])
    assert list(a["png_base64"]) != list(c["png_base64"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"seed": 1, "n": 0}, "n must be between 1 and 8"),
        ({"seed": 1, "n": 9}, "n must be between 1 and 8"),
        ({"seed": -1, "n": 1}, "seed must be >= 0"),
        ({"seed": 1}, "integer 'seed' and 'n'"),
    ],
)
def test_out_of_bounds_requests_are_refused(model, row, message):
    with pytest.raises(InvalidRequest, match=message):
        model.predict(None, pd.DataFrame([row]))


def test_noise_is_reproducible():
    np.testing.assert_array_equal(latent_noise(3, 2, 5), latent_noise(3, 2, 5))
    assert latent_noise(3, 2, 5).shape == (2, 5)
