"""C2PA manifests on generated images: signed with a test CA, read back, tampering seen."""

import base64
import hashlib
import importlib.util
import io
import json
import logging
import struct
import zlib

import c2pa
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.provenance import content_credentials
from imagegen.provenance.content_credentials import read_credentials, sign_image
from imagegen.provenance.generation_ledger import flush_background
from imagegen.provenance.image_audit import _credentials_line
from imagegen.provenance.marking import mark_images
from imagegen.provenance.xmp import TRAINED_ALGORITHMIC_MEDIA, read_png_provenance
from tests.project import PROJECT_ROOT
from tests.provenance.test_generation_ledger import _model


def _make_test_ca():
    spec = importlib.util.spec_from_file_location(
        "make_test_ca", PROJECT_ROOT / "scripts/make_test_ca.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_test_ca


@pytest.fixture
def signer(tmp_path, monkeypatch):
    paths = _make_test_ca()(tmp_path / "ca")
    monkeypatch.setenv(content_credentials.KEY_ENV, str(paths["key"]))
    monkeypatch.setenv(content_credentials.CERTS_ENV, str(paths["chain"]))
    monkeypatch.setenv(content_credentials.TRUST_ENV, str(paths["ca"]))
    return paths


def _reader_json(data: bytes, mime: str, ca) -> dict:
    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": ca}}
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Reader(mime, io.BytesIO(data), context=context) as reader,
    ):
        return json.loads(reader.json())


def _active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def _assertion(manifest: dict, label: str) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def _edit_one_pixel(png: bytes) -> bytes:
    """The PNG with pixel (0, 0) changed and every other chunk (the manifest) kept."""
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.array(image.convert("L"))
    pixels[0, 0] ^= 0x40
    raw = b"".join(b"\0" + row.tobytes() for row in pixels)  # filter 0 per line
    data = zlib.compress(raw)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data
    idat += struct.pack(">I", zlib.crc32(b"IDAT" + data))
    out, at, placed = bytearray(png[:8]), 8, False
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        chunk = png[at : at + 12 + length]
        if kind == b"IDAT":
            if not placed:
                out += idat
                placed = True
        else:
            out += chunk
        at += 12 + length
    return bytes(out)


def test_served_pngs_are_signed_and_match_their_ledger_entries(
    signer, tmp_path, monkeypatch
):
    ledger = tmp_path / "generation.jsonl"
    monkeypatch.setenv("IMAGEGEN_GENERATION_LEDGER", str(ledger))
    out = _model(0, "run-1").predict(None, pd.DataFrame({"seed": [3], "n": [2]}))
    flush_background()
    entries = {
        e["entry_id"]: e for e in map(json.loads, ledger.read_text().splitlines())
    }
    ca = signer["ca"].read_text()
    for row in out.to_dict("records"):
        png = base64.b64decode(row["png_base64"])
        store = _reader_json(png, "image/png", ca)
        assert store["validation_state"] == "Trusted"
        manifest = _active(store)
        [created] = _assertion(manifest, "c2pa.actions.v2")["actions"]
        assert created["action"] == "c2pa.created"
        assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
        ours = _assertion(manifest, content_credentials.ASSERTION)
        entry = entries[ours["entry_id"]]
        assert entry["image_sha256"] == hashlib.sha256(png).hexdigest()
        assert ours == {
            "model_name": "imagegen-digits-dcgan",
            "run_id": "run-1",
            "seed": "3",
            "index": str(entry["index"]),
            "entry_id": entry["entry_id"],
        }
        assert row["entry_id"] == entry["entry_id"]
        # The XMP label is still there, with the same entry id.
        assert read_png_provenance(io.BytesIO(png))["entry_id"] == entry["entry_id"]


def test_a_signed_jpeg_reads_back_valid(signer):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, format="JPEG", quality=90
    )
    provenance = {"model_name": "imagegen-dcgan", "model_version": "2", "seed": 1}
    jpeg = sign_image(
        buffer.getvalue(), {**provenance, "entry_id": "ab" * 8}, "image/jpeg"
    )
    store = _reader_json(jpeg, "image/jpeg", signer["ca"].read_text())
    assert store["validation_state"] == "Trusted"
    report = read_credentials(jpeg)
    assert report["present"] and report["intact"] and report["trusted"]
    assert report["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert report["assertion"]["model_version"] == "2"
    assert report["assertion"]["entry_id"] == "ab" * 8


def test_one_edited_pixel_breaks_the_hash_binding(signer):
    [image] = mark_images(
        [
            {
                "png": _model(1, "run-2").generate(
                    pd.DataFrame({"seed": [0], "n": [1]})
                )[0]["png"],
                "model_name": "m",
            }
        ]
    )
    signed = image["png"]
    assert read_credentials(signed)["intact"]
    edited = _edit_one_pixel(signed)
    with Image.open(io.BytesIO(edited)) as a, Image.open(io.BytesIO(signed)) as b:
        diff = np.asarray(a.convert("L"), int) - np.asarray(b.convert("L"), int)
    assert np.count_nonzero(diff) == 1
    store = _reader_json(edited, "image/png", signer["ca"].read_text())
    assert store["validation_state"] == "Invalid"
    report = read_credentials(edited)
    assert report["present"] and report["hash_mismatch"] and not report["intact"]
    line = _credentials_line(report)
    assert "NOT intact" in line and "assertion.dataHash.mismatch" in line


def test_an_untrusted_chain_is_named(signer, monkeypatch):
    [image] = mark_images([{"png": _png_gray(), "model_name": "m"}])
    monkeypatch.delenv(content_credentials.TRUST_ENV)
    report = read_credentials(image["png"])
    assert report["intact"] and not report["trusted"]
    assert "NOT trusted" in _credentials_line(report)
    assert _credentials_line(read_credentials(_png_gray())) == "C2PA manifest: none"


def _png_gray() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def test_without_a_signer_images_keep_xmp_and_the_log_says_so_once(monkeypatch, caplog):
    for name in (content_credentials.KEY_ENV, content_credentials.CERTS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        content_credentials, "_warned", type(content_credentials._warned)()
    )
    with caplog.at_level(logging.WARNING, logger=content_credentials.__name__):
        images = mark_images(
            [{"png": _png_gray(), "model_name": "m"} for _ in range(3)]
        )
        mark_images([{"png": _png_gray(), "model_name": "m"}])
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "not C2PA-signed" in caplog.records[0].message
    for image in images:
        assert not read_credentials(image["png"])["present"]
        provenance = read_png_provenance(io.BytesIO(image["png"]))
        assert provenance["entry_id"] == image["entry_id"]
    assert len({i["entry_id"] for i in images}) == 3


def test_a_hostile_assertion_is_cut_to_known_printable_fields(signer):
    hostile = {"model_name": "m\x1b[31m\n" + "x" * 500, "entry_id": "ab" * 8}
    signed = sign_image(_png_gray(), hostile)
    assertion = read_credentials(signed)["assertion"]
    assert set(assertion) == {"model_name", "entry_id"}
    assert "\x1b" not in assertion["model_name"] and "\n" not in assertion["model_name"]
    assert len(assertion["model_name"]) == 200
