"""The watermark: exact payload back, survives common edits, silent on unmarked images."""

import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from imagegen.provenance import marking, watermark
from imagegen.provenance.generation_ledger import flush_background
from imagegen.provenance.image_audit import audit_image, format_image_audit
from imagegen.serving import GeneratorModel
from tests.provenance.test_content_credentials import _make_test_ca


def _drawings(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Clip art in small: shapes in flat colours with outlines on white."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        image = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 5))):
            x0, y0 = rng.uniform(0, 0.6, 2) * size
            x1, y1 = (
                x0 + rng.uniform(0.2, 0.4) * size,
                y0 + rng.uniform(0.2, 0.4) * size,
            )
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape(
                (x0, y0, x1, y1), fill=colour, outline="black", width=max(1, size // 64)
            )
        out.append(np.asarray(image))
    return out


def _blobs(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Smooth high-contrast greyscale images, the kind a small generator draws."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = Image.fromarray(rng.normal(0, 2, (8, 8)).astype(np.float32), "F")
        up = np.asarray(small.resize((size, size), Image.Resampling.BILINEAR))
        out.append(np.round((np.tanh(up) + 1) * 127.5).astype(np.uint8))
    return out


def _through(pixels: np.ndarray, fmt: str, **kw) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **kw)
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def _half(pixels: np.ndarray) -> np.ndarray:
    image = Image.fromarray(pixels)
    return np.asarray(
        image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC)
    )


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize("size", [64, 256])
def test_the_exact_payload_comes_back_and_psnr_stays_above_38_db(size):
    images = _drawings(6, size, seed=size) + _blobs(6, size, seed=size)
    for index, pixels in enumerate(images):
        payload = 0x9E3779B9 ^ index
        marked = watermark.embed(pixels, payload)
        assert marked.shape == pixels.shape and marked.dtype == np.uint8
        assert _psnr(marked, pixels) >= 38.0
        found = watermark.detect(marked)
        assert found is not None and found.payload == payload


def _survival(images, edit) -> float:
    hits = 0
    for index, pixels in enumerate(images):
        marked = watermark.embed(pixels, 0xC0FFEE00 + index)
        found = watermark.detect(edit(marked))
        assert found is None or found.payload == 0xC0FFEE00 + index  # never wrong
        hits += found is not None
    return hits / len(images)


@pytest.mark.parametrize(
    "edit", [lambda p: _through(p, "JPEG", quality=70), _half], ids=["jpeg70", "half"]
)
def test_the_mark_survives_jpeg_q70_and_a_half_size_copy(edit):
    assert _survival(_drawings(10, 256, seed=1) + _blobs(10, 256, seed=1), edit) == 1.0
    # 64x64 halved keeps 32x32 pixels: most marks, not all (docs/provenance.md).
    assert _survival(_drawings(10, 64, seed=2) + _blobs(10, 64, seed=2), edit) >= 0.6


def test_unmarked_images_are_not_detected():
    rng = np.random.default_rng(3)
    images = (
        _drawings(100, 64, seed=4)
        + _blobs(100, 64, seed=5)
        + _drawings(30, 256, seed=6)
        + [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(100)]
    )
    assert sum(watermark.detect(p) is not None for p in images) == 0


def test_small_images_are_left_alone():
    pixels = _blobs(1, 32, seed=7)[0]
    assert watermark.embed(pixels, 1) is pixels


def _blob_generator_64():
    import keras

    noise = keras.Input((16,))
    x = keras.layers.Dense(
        64, kernel_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=0)
    )(noise)
    x = keras.layers.Reshape((8, 8, 1))(x)
    x = keras.layers.UpSampling2D(8, interpolation="bilinear")(
        x
    )  # few pure 0 or 255 pixels
    return keras.Model(noise, keras.layers.Activation("tanh")(x))


def _registered_version(tmp_path) -> tuple[str, str]:
    """A registry version whose run carries (empty) lineage artifacts."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("wm")
    with mlflow.start_run() as run:
        mlflow.log_text("work_id,derived_sha256\n", "lineage/training_manifest.csv")
        mlflow.log_text(
            json.dumps({"dataset_digest": "d" * 64}), "lineage/dataset_digest.json"
        )
    client = mlflow.MlflowClient()
    client.create_registered_model("imagegen-digits-dcgan")
    version = client.create_model_version(
        "imagegen-digits-dcgan", f"runs:/{run.info.run_id}/model", run.info.run_id
    )
    return run.info.run_id, str(version.version)


@pytest.mark.slow
def test_a_stripped_halved_jpeg_of_a_served_image_is_traced_by_its_watermark(
    tmp_path, monkeypatch
):
    run_id, version = _registered_version(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("IMAGEGEN_GENERATION_LEDGER", str(tmp_path / "ledger.jsonl"))
    ids = iter(f"{0x5EED0000 + i:08x}{0xC0DE + i:08x}" for i in range(8))
    monkeypatch.setattr(marking, "new_entry_id", lambda: next(ids))  # deterministic
    model = GeneratorModel()
    model.generator = _blob_generator_64()
    model.configure(
        {"model_name": "imagegen-digits-dcgan", "run_id": run_id, "max_n": 8}
    )
    served = model.predict(None, pd.DataFrame({"seed": [11], "n": [4]}))
    flush_background()
    import base64

    rows = served.to_dict("records")
    for row in rows:
        png = base64.b64decode(row["png_base64"])
        with Image.open(io.BytesIO(png)) as image:
            assert image.size == (64, 64)
            pixels = np.asarray(image)
        assert watermark.detect(pixels).entry_prefix == row["entry_id"][:8]
    # Metadata gone, half size, JPEG q90: only the pixels are left.
    traced = 0
    for index, row in enumerate(rows):
        copy = tmp_path / f"copy_{index}.jpg"
        with Image.open(io.BytesIO(base64.b64decode(row["png_base64"]))) as image:
            half = image.convert("RGB").resize((32, 32), Image.Resampling.BICUBIC)
            half.save(copy, format="JPEG", quality=90)
        report = audit_image(copy, tmp_path)
        assert report["model"]["version"] == version  # watermark or fingerprint
        if report["ledger_match"]["match"] == "watermark":
            assert report["ledger_match"]["entry_id"] == row["entry_id"]
            text = format_image_audit(report)
            assert f"imagegen-digits-dcgan version {version}" in text
            assert f"watermark: entry prefix {row['entry_id'][:8]}" in text
            traced += 1
    # About 97 % of 64x64 marks survive halving (docs/provenance.md); these ids
    # are fixed, so the count is too.
    assert traced >= 3


def test_the_signature_binds_the_watermarked_pixels(tmp_path, monkeypatch):
    from imagegen.provenance import content_credentials
    from imagegen.provenance.marking import mark_images

    paths = _make_test_ca()(tmp_path / "ca")
    monkeypatch.setenv(content_credentials.KEY_ENV, str(paths["key"]))
    monkeypatch.setenv(content_credentials.CERTS_ENV, str(paths["chain"]))
    monkeypatch.setenv(content_credentials.TRUST_ENV, str(paths["ca"]))

    buffer = io.BytesIO()
    Image.fromarray(_drawings(1, 64, seed=8)[0]).save(buffer, format="PNG")
    [image] = mark_images([{"png": buffer.getvalue(), "model_name": "m"}])
    credentials = content_credentials.read_credentials(image["png"])
    assert credentials["intact"] and credentials["trusted"]
    with Image.open(io.BytesIO(image["png"])) as marked:
        found = watermark.detect(np.asarray(marked.convert("RGB")))
    assert found.entry_prefix == image["entry_id"][:8]


def _enhance(kind: str, factor: float):
    from PIL import ImageEnhance

    def edit(pixels: np.ndarray) -> np.ndarray:
        image = Image.fromarray(pixels)
        return np.asarray(getattr(ImageEnhance, kind)(image).enhance(factor))

    return edit


@pytest.mark.parametrize(
    "kind, factor",
    [("Brightness", 0.8), ("Contrast", 0.8), ("Brightness", 0.9), ("Contrast", 0.9)],
)
def test_the_mark_survives_a_brightness_or_contrast_change(kind, factor):
    # The reader tries gains of 1.025**-12 to 1.025**12; without that search
    # a 20 % darkening decoded about half of these (docs/provenance.md).
    images = _drawings(10, 64, seed=9) + _blobs(10, 256, seed=9)
    assert _survival(images, _enhance(kind, factor)) >= 0.9


def test_the_gain_search_needs_it():
    # Decoding at the unchanged gain only loses 6 of these 30 darkened copies
    # (the Open Clip Art renders in the benchmark: 43 %); the search finds all.
    darker = _enhance("Brightness", 0.8)
    images = _drawings(10, 64, seed=9) + _blobs(10, 256, seed=9)
    images += _drawings(10, 256, seed=9)
    misses, found = 0, 0
    for index, pixels in enumerate(images):
        marked = darker(watermark.embed(pixels, 0xC0FFEE00 + index))
        votes, _ = watermark._decode(
            *watermark._projections(watermark._canonical(marked))
        )
        misses += watermark._check((votes < 0).astype(np.uint8)) is None
        detection = watermark.detect(marked)
        found += detection is not None and detection.payload == 0xC0FFEE00 + index
    assert misses >= 4 and found == len(images)
