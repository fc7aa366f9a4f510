import io
import multiprocessing

import imagehash
import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.provenance.generation_ledger import (
    find_image,
    flush_background,
    record_images,
)
from imagegen.provenance.ledger import Ledger
from imagegen.provenance.phash import hamming, phash_batch
from imagegen.serving import GeneratorModel


def _blob_generator(seed: int) -> keras.Model:
    """Smooth high-contrast 28x28 images: an untrained DCGAN emits near-flat grey,
    whose pHash no transformation could keep; served models have structure."""
    keras.utils.set_random_seed(seed)
    noise = keras.Input((16,))
    x = keras.layers.Dense(
        49, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0)
    )(noise)
    x = keras.layers.Reshape((7, 7, 1))(x)
    x = keras.layers.UpSampling2D(4, interpolation="bilinear")(x)
    return keras.Model(noise, keras.layers.Activation("tanh")(x))


def _model(seed: int, run_id: str) -> GeneratorModel:
    model = GeneratorModel()
    model.generator = _blob_generator(seed)
    model.configure(
        {"model_name": "imagegen-digits-dcgan", "run_id": run_id, "max_n": 32}
    )
    return model


def _strip_resize_jpeg(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        pixels = image.convert("RGB")
    smaller = pixels.resize((int(pixels.width * 0.9), int(pixels.height * 0.9)))
    buffer = io.BytesIO()
    smaller.save(buffer, format="JPEG", quality=85)  # no XMP is carried over
    return buffer.getvalue()


def test_phash_matches_imagehash():
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8))
        for _ in range(20)
    ]
    images += [
        Image.fromarray(rng.integers(0, 255, (40, 64, 3), dtype=np.uint8))
        for _ in range(5)
    ]
    assert phash_batch(images) == [str(imagehash.phash(i)) for i in images]
    assert hamming("ff00", "0f00") == 4


def test_served_images_are_recorded_and_found(tmp_path, monkeypatch):
    ledger = tmp_path / "generation.jsonl"
    monkeypatch.setenv("IMAGEGEN_GENERATION_LEDGER", str(ledger))
    old, new = _model(1, "run-old"), _model(2, "run-new")
    old_out = old.predict(None, pd.DataFrame({"seed": [0], "n": [16]}))
    new_out = new.predict(None, pd.DataFrame({"seed": [0, 1], "n": [16, 16]}))
    flush_background()  # serving records off the request path
    entries = list(Ledger(ledger).entries())
    assert len(entries) == 48
    assert Ledger(ledger).verify().seq == 47
    assert {e["source"] for e in entries} == {"serving"}

    import base64

    for frame, run_id in ((old_out, "run-old"), (new_out, "run-new")):
        for encoded in frame["png_base64"][:5]:
            png = base64.b64decode(encoded)
            exact = find_image(png, ledger)
            assert exact["match"] == "exact" and exact["run_id"] == run_id
            altered = find_image(_strip_resize_jpeg(png), ledger)
            assert altered is not None, "a stripped, resized JPEG must still be found"
            assert altered["match"] == "perceptual"
            assert altered["run_id"] == run_id
            assert altered["image_sha256"] == exact["image_sha256"]


def test_unknown_images_are_not_found(tmp_path):
    ledger = tmp_path / "generation.jsonl"
    png = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png, format="PNG")
    record_images([png.getvalue()], [{"model_name": "m", "seed": 0}], ledger)
    noise = io.BytesIO()
    Image.fromarray(
        np.random.default_rng(3).integers(0, 255, (28, 28), dtype=np.uint8)
    ).save(noise, format="PNG")
    assert find_image(noise.getvalue(), ledger) is None


def _serve_requests(path: str, worker: int) -> None:
    import os

    os.environ["IMAGEGEN_GENERATION_LEDGER"] = path
    model = _model(worker, f"run-{worker}")
    for request in range(6):
        model.predict(None, pd.DataFrame({"seed": [request], "n": [4]}))
    flush_background()  # multiprocessing children skip atexit


@pytest.mark.parametrize("workers", [3])
def test_parallel_servers_never_interleave_entries(tmp_path, workers):
    path = str(tmp_path / "generation.jsonl")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_serve_requests, args=(path, w)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    ledger = Ledger(path)
    assert ledger.verify().seq == workers * 6 * 4 - 1
    per_run = pd.Series([e["run_id"] for e in ledger.entries()]).value_counts()
    assert per_run.to_dict() == {f"run-{w}": 24 for w in range(workers)}
