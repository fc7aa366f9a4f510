import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from imagegen.provenance.xmp import (
    TRAINED_ALGORITHMIC_MEDIA,
    build_xmp,
    parse_xmp,
    png_with_xmp,
    read_png_provenance,
)

PROVENANCE = {
    "model_name": "imagegen-digits-dcgan",
    "model_version": "3",
    "run_id": "abc123",
    "seed": 7,
    "index": 2,
    "dataset_digest": "d" * 64,
    "generated_at": "2026-11-25T10:00:00+00:00",
}


def _png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (12, 12), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_packet_round_trip():
    parsed = parse_xmp(build_xmp(PROVENANCE))
    assert parsed["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    for key, value in PROVENANCE.items():
        assert parsed[key] == str(value)


def test_png_keeps_its_pixels_and_gains_provenance(tmp_path):
    original = _png()
    labelled = png_with_xmp(original, PROVENANCE)
    (tmp_path / "x.png").write_bytes(labelled)
    a = np.asarray(Image.open(io.BytesIO(original)))
    b = np.asarray(Image.open(tmp_path / "x.png"))
    np.testing.assert_array_equal(a, b)
    assert read_png_provenance(tmp_path / "x.png")["model_version"] == "3"


def test_values_are_escaped():
    parsed = parse_xmp(build_xmp({**PROVENANCE, "model_name": 'a"<b>&c'}))
    assert parsed["model_name"] == 'a"<b>&c'


def test_entities_are_never_expanded():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    )
    with pytest.raises(Exception, match="(?i)entit|DTD"):
        parse_xmp(bomb)


@pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool not installed (Debian libimage-exiftool-perl; CI installs it)",
)
def test_exiftool_reads_the_digital_source_type(tmp_path):
    path = tmp_path / "g.png"
    path.write_bytes(png_with_xmp(_png(), PROVENANCE))
    out = subprocess.run(
        ["exiftool", "-XMP:all", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert TRAINED_ALGORITHMIC_MEDIA in out
    assert "imagegen-digits-dcgan" in out
