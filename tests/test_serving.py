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
        ({"seed": 1, "n": 0}, "n must be an integer between 1 and 8, got 0"),
        ({"seed": 1, "n": 9}, "n must be an integer between 1 and 8, got 9"),
        ({"seed": -1, "n": 1}, "seed must be an integer between 0 and"),
        ({"seed": 1.5, "n": 1}, "seed must be an integer, got 1.5"),
        ({"seed": "3", "n": 1}, "seed must be an integer, got '3'"),
        ({"seed": True, "n": 1}, "seed must be an integer, got True"),
        (
            {"seed": 1e30, "n": 1},
            r"seed must be an integer between 0 and \d+, got 1e\+30",
        ),
        ({"seed": 2**64, "n": 1}, "seed must be an integer between 0 and"),
        ({"seed": 1, "n": 2.5}, "n must be an integer, got 2.5"),
        ({"seed": 1, "n": [1, 2]}, r"n must be an integer, got \[1, 2\]"),
        ({"seed": 1, "n": 1, "truncation": "0.5"}, "truncation must be a number"),
        ({"seed": 1, "n": 1, "colour": "red"}, "unknown column.*'colour'; allowed"),
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


def test_cap_on_images_per_request_is_checked_before_any_work(model, monkeypatch):
    drawn = []
    model.max_images = 10
    monkeypatch.setattr(model, "images_for", lambda r: drawn.append(r) or [])
    with pytest.raises(InvalidRequest, match=r"at most 10 images \(rows x n\), got 16"):
        model.predict(None, pd.DataFrame({"seed": [1, 2], "n": [8, 8]}))
    with pytest.raises(InvalidRequest, match="at most 10 images .* got 1000 rows"):
        model.predict(None, pd.DataFrame({"seed": range(1000), "n": [1] * 1000}))
    assert drawn == []
    model.predict(None, pd.DataFrame({"seed": [1, 2], "n": [8, 2]}))  # 10: allowed
    assert [r["n"] for r in drawn] == [8, 2]


def test_cap_comes_from_the_registration_config():
    keras.utils.set_random_seed(0)
    wrapper = GeneratorModel()
    wrapper.generator = build_generator(28, 1, 16, 4)
    wrapper.configure({"max_n": 8, "max_images_per_request": 3})
    with pytest.raises(InvalidRequest, match="at most 3 images"):
        wrapper.predict(None, pd.DataFrame({"seed": [1], "n": [4]}))


def test_inputs_arrive_as_a_dict_and_are_checked_alike(model):
    out = model.predict(None, {"seed": np.array([2, 3]), "n": np.array([1, 2])})
    assert list(out["request"]) == [0, 1, 1]
    with pytest.raises(InvalidRequest, match="seed must be an integer, got 1.5"):
        model.predict(None, {"seed": np.array([1.5]), "n": np.array([1])})
    with pytest.raises(InvalidRequest, match="unknown column"):
        model.predict(None, {"seed": [1], "n": [1], "steps": [9]})


def test_no_generation_outlives_its_time_budget(model, monkeypatch, tmp_path):
    """A served request stops between chunks once its budget is spent; nothing recorded."""
    import time

    from imagegen.provenance.generation_ledger import flush_background

    slow = model.images_for

    def images_for(request):
        time.sleep(0.3)
        return slow(request)

    monkeypatch.setattr(model, "images_for", images_for)
    monkeypatch.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "1")  # budget 0.8 s
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="time budget ran out") as refused:
        model.predict(None, pd.DataFrame({"seed": range(8), "n": [1] * 8}))
    assert time.monotonic() - started < 1.5  # not the 8 x 0.3 s the rows asked for
    assert refused.value.get_http_status_code() == 504
    flush_background()
    assert not (tmp_path / "generation.jsonl").exists()
    assert len(model.predict(None, pd.DataFrame({"seed": [1], "n": [2]}))) == 2
    flush_background()
    assert len((tmp_path / "generation.jsonl").read_text().splitlines()) == 2


def test_the_message_stays_one_line_when_the_server_rewrites_it():
    error = InvalidRequest("seed must be an integer, got 1.5")
    # What MLflow's scoring server does before answering.
    error.message = f"Failed to predict data '{'x' * 500}'. \nError: {error.message}"
    assert error.message == "seed must be an integer, got 1.5"
    assert '"seed must be an integer, got 1.5"' in error.serialize_as_json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"dataframe_records": [{"seed": 1,', "not valid JSON: Expecting"),
        (b"[" * 100_000, "nested deeper than 8 levels"),
        (b'{"inputs": ' + b"[" * 20 + b"]" * 20 + b"}", "nested deeper than 8"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b" " * 1_000_001, "over 1000000 bytes"),
    ],
)
def test_malformed_bodies_are_refused_in_one_line(body, message):
    from imagegen.serving import checked_json

    with pytest.raises(InvalidRequest, match=message) as refused:
        checked_json(body)
    assert "\n" not in refused.value.message and len(refused.value.message) < 120


def test_the_scoring_server_parses_through_the_guard():
    from mlflow.pyfunc import scoring_server

    from imagegen.serving import guard_scoring_server

    before = scoring_server._decode_json_input
    # A model loaded earlier in this process may have guarded it already.
    original = getattr(before, "__wrapped_decoder__", before)
    scoring_server._decode_json_input = original
    try:
        guard_scoring_server()
        guard_scoring_server()  # once only
        with pytest.raises(InvalidRequest, match="nested deeper"):
            scoring_server._parse_json_data(b"[" * 100_000, None, None)
        parsed = scoring_server._decode_json_input(b'{"dataframe_records": []}')
        assert parsed == {"dataframe_records": []}
        assert scoring_server._decode_json_input.__wrapped_decoder__ is original
    finally:
        scoring_server._decode_json_input = before
