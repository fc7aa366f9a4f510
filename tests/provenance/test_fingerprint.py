"""Fingerprints in the generation ledger: laundered copies traced, others not, index kept."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from sklearn.datasets import load_digits

from imagegen.provenance import fingerprint
from imagegen.provenance.generation_index import GenerationIndex, find_generated
from imagegen.provenance.generation_ledger import record_images


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _save(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def _blobs(n: int, seed: int) -> list[Image.Image]:
    """Smooth high-contrast 28x28 images, the size and kind a small generator draws."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        small = Image.fromarray(rng.normal(0, 2, (7, 7)).astype(np.float32), "F")
        up = np.asarray(small.resize((28, 28), Image.Resampling.BILINEAR))
        images.append(
            Image.fromarray(np.round((np.tanh(up) + 1) * 127.5).astype(np.uint8))
        )
    return images


@pytest.fixture(scope="module")
def generated_28():
    """'Generated' images: blobs (200), then unrelated ones (digits, other blobs)."""
    digits = [
        Image.fromarray(np.round(d * 255 / 16).astype(np.uint8)).resize(
            (28, 28), Image.Resampling.LANCZOS
        )
        for d in load_digits().images[:300]
    ]
    return _blobs(1000, seed=0) + digits + _blobs(100, seed=1)


@pytest.fixture
def ledger(tmp_path, generated_28):
    """200 'generated' digits, split between two model versions."""
    path = tmp_path / "generation.jsonl"
    pngs = [_png(image) for image in generated_28[:200]]
    meta = [
        {"model_name": "imagegen-dcgan", "model_version": str(1 + i % 2), "seed": i}
        for i in range(200)
    ]
    record_images(pngs, meta, path)
    return path


def test_descriptor_ignores_size_brightness_and_contrast(generated_28):
    image = generated_28[0]
    base = fingerprint.descriptor(image)
    assert base.shape == (64,) and abs(np.linalg.norm(base) - 1) < 1e-5
    bigger = image.resize((56, 56), Image.Resampling.BICUBIC)
    brighter = ImageEnhance.Brightness(image).enhance(0.8)
    assert float(base @ fingerprint.descriptor(bigger)) > 0.97
    assert float(base @ fingerprint.descriptor(brighter)) > 0.99
    assert float(base @ fingerprint.descriptor(generated_28[1])) < 0.9
    flat = Image.new("L", (28, 28), 200)
    assert not fingerprint.descriptor(flat).any()  # a flat image matches nothing


def test_the_issues_laundered_copy_is_traced_to_its_version(ledger, generated_28):
    # 28x28, resized to 90%, JPEG q85, no metadata: pHash moved 20 bits here.
    target = generated_28[37]
    laundered = _save(target.resize((25, 25)).convert("RGB"), "JPEG", quality=85)
    found = find_generated(laundered, ledger)
    assert found is not None
    assert found["match"] == "fingerprint"
    assert (found["seed"], found["model_version"]) == (37, "2")
    assert found["similarity"] >= fingerprint.MIN_SIMILARITY


@pytest.mark.parametrize(
    "launder",
    [
        lambda i: i.crop((2, 1, 26, 27)),  # about 10% off two sides
        lambda i: i.crop((0, 0, 25, 25)).resize((50, 50), Image.Resampling.BICUBIC),
        lambda i: ImageEnhance.Contrast(i).enhance(1.2),
        lambda i: Image.open(io.BytesIO(_save(i.convert("RGB"), "WEBP", quality=80))),
    ],
    ids=["crop", "crop_and_upscale", "contrast", "webp"],
)
def test_other_launderings_are_traced(ledger, generated_28, launder):
    copy = launder(generated_28[11])
    found = find_generated(_png(copy), ledger)
    assert found is not None and found["seed"] == 11


@pytest.mark.parametrize(
    "launder",
    [
        lambda i: i.resize((14, 14), Image.Resampling.BICUBIC),  # 0.5x
        lambda i: i.resize((56, 56), Image.Resampling.BICUBIC),  # 2x
        lambda i: i.resize((15, 15), Image.Resampling.LANCZOS),  # 0.55x
        # A screenshot: shown at 80 %, captured as PNG (RGB, no metadata).
        lambda i: i.resize((22, 22), Image.Resampling.BILINEAR).convert("RGB"),
    ],
    ids=["0.5x", "2x", "0.55x_lanczos", "screenshot_0.8x_png"],
)
def test_resized_and_screenshot_copies_are_traced_to_their_version(
    ledger, generated_28, digits_ledger, digits_and_imitations, launder
):
    _, imitations = digits_and_imitations
    for path, images in ((ledger, generated_28), (digits_ledger, imitations)):
        for seed in (8, 33, 51):
            found = find_generated(_png(launder(images[seed])), path)
            assert found is not None and found["match"] == "fingerprint"
            assert (found["seed"], found["model_version"]) == (seed, str(1 + seed % 2))


def test_images_never_generated_are_not_matched(ledger, generated_28):
    rng = np.random.default_rng(0)
    # Unrecorded blobs, digits, blobs of another seed, noise.
    others = [_png(image) for image in generated_28[200:400] + generated_28[1000:]]
    others += [
        _png(Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)))
        for _ in range(20)
    ]
    assert [find_generated(data, ledger) for data in others] == [None] * len(others)


def test_exact_bytes_and_entry_id_are_found_first(tmp_path, generated_28):
    path = tmp_path / "generation.jsonl"
    png = _png(generated_28[5])
    [entry] = record_images(
        [png], [{"model_name": "m", "model_version": "3", "entry_id": "00ff" * 4}], path
    )
    assert find_generated(png, path)["match"] == "exact"
    other = _png(generated_28[900])  # not this image's pixels, but it names the id
    found = find_generated(other, path, entry_id="00ff" * 4)
    assert found["match"] == "entry_id" and found["seq"] == entry["seq"]
    assert find_generated(other, path, entry_id="12" * 8) is None


def test_index_grows_with_the_ledger_and_recovers_from_a_cut_update(
    tmp_path, generated_28
):
    path = tmp_path / "generation.jsonl"
    record_images([_png(i) for i in generated_28[:3]], [{"model_name": "m"}] * 3, path)
    index = GenerationIndex(path)
    assert index.update() == 3
    record_images([_png(i) for i in generated_28[3:5]], [{"model_name": "m"}] * 2, path)
    # An update cut short: rows written, state not moved on.
    with open(index.dir / "sha256.bin", "ab") as fh:
        fh.write(b"\x01" * 32)
    assert index.update() == 5
    assert (index.dir / "sha256.bin").stat().st_size == 5 * 32
    state = json.loads((index.dir / "state.json").read_text())
    assert state == {"format": 3, "bytes": path.stat().st_size, "rows": 5}
    found = find_generated(_png(generated_28[4]), path)
    assert found["match"] == "exact" and found["seq"] == 4


def test_a_read_only_ledger_folder_is_indexed_in_a_private_cache(
    tmp_path, generated_28, monkeypatch
):
    path = tmp_path / "generation.jsonl"
    record_images([_png(generated_28[7])], [{"model_name": "m"}], path)
    update = GenerationIndex.update

    def refuse_beside_the_ledger(self):
        if self.dir == tmp_path / "generation.jsonl.index":
            raise PermissionError(13, "read-only", str(self.dir))
        return update(self)

    monkeypatch.setattr(GenerationIndex, "update", refuse_beside_the_ledger)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    laundered = _save(generated_28[7].resize((25, 25)), "JPEG", quality=85)
    assert find_generated(laundered, path)["match"] == "fingerprint"
    assert list((tmp_path / "cache").glob("imagegen-index-*/state.json"))


def _digit(pixels: np.ndarray) -> Image.Image:
    """A scikit-learn digit (0-16) as the default model's 28x28 training image."""
    grey = np.round(np.clip(pixels, 0, 16) * 255 / 16).astype(np.uint8)
    return Image.fromarray(grey).resize((28, 28), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def digits_and_imitations():
    """60 training digits and a 'generated' imitation of each (another hand's strokes)."""
    rng = np.random.default_rng(0)
    real = load_digits().images[:60]
    imitations = [_digit(d + rng.normal(0, 3.0, d.shape)) for d in real]
    return [_digit(d) for d in real], imitations


@pytest.fixture
def digits_ledger(tmp_path, digits_and_imitations):
    path = tmp_path / "generation.jsonl"
    _, imitations = digits_and_imitations
    meta = [
        {"model_name": "imagegen-dcgan", "model_version": str(1 + i % 2), "seed": i}
        for i in range(len(imitations))
    ]
    record_images([_png(image) for image in imitations], meta, path)
    return path


def test_a_training_digit_never_generated_is_not_matched(
    digits_ledger, digits_and_imitations
):
    real, imitations = digits_and_imitations
    # The 64-float descriptor alone calls many of them the same image ...
    coarse = [
        float(fingerprint.descriptor(r) @ fingerprint.descriptor(g))
        for r, g in zip(real, imitations, strict=True)
    ]
    assert sum(c >= fingerprint.MIN_SIMILARITY for c in coarse) >= 20
    # ... the fine check does not.
    assert [find_generated(_png(r), digits_ledger) for r in real] == [None] * len(real)


def test_the_issues_laundered_digit_is_traced_to_its_version(
    digits_ledger, digits_and_imitations
):
    _, imitations = digits_and_imitations
    for seed in (5, 22, 41):
        small = imitations[seed].resize((25, 25)).convert("RGB")  # 90 %
        found = find_generated(_save(small, "JPEG", quality=85), digits_ledger)
        assert found is not None and found["match"] == "fingerprint"
        assert (found["seed"], found["model_version"]) == (seed, str(1 + seed % 2))


@pytest.mark.parametrize("gain", [0.8, 1.2])
def test_a_brightened_or_darkened_copy_is_traced(
    digits_ledger, digits_and_imitations, ledger, generated_28, gain
):
    _, imitations = digits_and_imitations
    for path, images in ((digits_ledger, imitations), (ledger, generated_28)):
        for seed in (3, 30):
            copy = ImageEnhance.Brightness(images[seed].convert("RGB")).enhance(gain)
            found = find_generated(_save(copy, "JPEG", quality=90), path)
            assert found is not None and found["seed"] == seed


def test_entries_and_indexes_from_before_the_fine_check_still_answer(
    tmp_path, generated_28, caplog
):
    path = tmp_path / "generation.jsonl"
    [entry] = record_images([_png(generated_28[9])], [{"model_name": "m"}], path)
    # An entry as written before thumbnails existed, and its format-1 index.
    del entry["thumbnail"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + [json.dumps(entry)]) + "\n")
    index = GenerationIndex(path)
    index.update()
    state = json.loads((index.dir / "state.json").read_text())
    (index.dir / "state.json").write_text(
        json.dumps({"bytes": state["bytes"], "rows": state["rows"]})
    )
    (index.dir / "thumbnails.u8").unlink()
    laundered = _save(generated_28[9].resize((25, 25)), "JPEG", quality=85)
    with caplog.at_level("WARNING"):
        found = find_generated(laundered, path)
    assert "rebuilding it as format 3" in caplog.text
    assert found["match"] == "fingerprint (coarse only)" and found["seq"] == 0
    assert json.loads((index.dir / "state.json").read_text())["format"] == 3


def test_entries_with_the_older_16x16_thumbnail_are_still_checked_finely(
    tmp_path, digits_and_imitations, caplog
):
    real, imitations = digits_and_imitations
    path = tmp_path / "generation.jsonl"
    record_images([_png(i) for i in imitations[:20]], [{"model_name": "m"}] * 20, path)
    # Rewrite the entries as format 2 wrote them: the central region at 16x16.
    lines = []
    for line, image in zip(path.read_text().splitlines(), imitations, strict=False):
        entry = json.loads(line)
        region = image.resize(
            (16, 16), Image.Resampling.BOX, box=(2.8, 2.8, 25.2, 25.2)
        )
        pixels = np.asarray(region, np.uint8).tobytes()
        entry["thumbnail"] = base64.b64encode(pixels).decode("ascii")
        lines.append(json.dumps(entry))
    path.write_text("\n".join(lines) + "\n")
    index = GenerationIndex(path)
    index.update()
    (index.dir / "state.json").write_text(
        json.dumps({**json.loads((index.dir / "state.json").read_text()), "format": 2})
    )
    laundered = _save(imitations[7].resize((25, 25)).convert("RGB"), "JPEG", quality=85)
    with caplog.at_level("WARNING"):
        found = find_generated(laundered, path)
    assert "rebuilding it as format 3" in caplog.text
    assert found["match"] == "fingerprint" and found["seq"] == 7
    # The training digits those imitate still match none of them.
    assert [find_generated(_png(r), path) for r in real[:20]] == [None] * 20
