"""Formats creative tools write: AVIF and HEIF/HEIC curated like any raster."""

from __future__ import annotations

import io

import yaml

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.preprocessing.nodes import build_image_set
from tests import media
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import curate

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]


def _curate(root):
    return curate(root, POLICY).set_index("path")


def _encode(fmt, seed, xmp):
    from imagegen.images import register_image_plugins

    register_image_plugins()
    buffer = io.BytesIO()
    media.noise(size=(64, 48), seed=seed).save(buffer, fmt, xmp=xmp.encode())
    return buffer.getvalue()


def test_avif_and_heif_are_decoded_with_their_xmp(tmp_path):
    cc_by = media.xmp_packet(licence=media.CC_BY, creator="Ana")
    prohibited = media.xmp_packet(
        licence=media.CC_BY, data_mining=media.PLUS_PROHIBITED
    )
    (tmp_path / "a.avif").write_bytes(_encode("AVIF", 1, cc_by))
    (tmp_path / "b.heic").write_bytes(_encode("HEIF", 2, cc_by))
    (tmp_path / "c.avif").write_bytes(_encode("AVIF", 3, prohibited))
    (tmp_path / "d.heic").write_bytes(_encode("HEIF", 4, cc_by)[:300])  # truncated
    rows = _curate(tmp_path)
    got = {
        path: (r.decision, r.reason, r.format, r.width, r.height, r.creator)
        for path, r in rows.iterrows()
    }
    assert got["a.avif"] == ("accepted", "ok", "AVIF", 64, 48, "Ana")
    assert got["b.heic"] == ("accepted", "ok", "HEIF", 64, 48, "Ana")
    assert got["c.avif"][:2] == ("rejected", "opt_out:iptc_data_mining")
    assert got["d.heic"][0] == "quarantined"
    accepted = rows[rows["decision"] == "accepted"].reset_index()
    params = {"image_size": 16, "channels": 3}
    images = build_image_set(accepted, RawFolder(tmp_path), params, POLICY)["images"]
    assert images.shape == (2, 16, 16, 3)


# --- SVG and SVGZ -----------------------------------------------------------------------

SVG_HEAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
)


def _svg(body: str, size: str = 'width="40" height="20"') -> bytes:
    return f"{SVG_HEAD} {size}>{body}</svg>".encode()


BLUE_RING = (
    b'fill="none"/><circle cx="20" cy="20" r="14" stroke="blue" stroke-width="6"'
    b' fill="white"/>'
)


def test_svg_and_svgz_are_rendered_and_curated_like_rasters(tmp_path):
    import gzip

    drawing = media.svg_with_rdf(media.OCAL_PD, "Ana", "Fox")
    (tmp_path / "fox.svg").write_bytes(drawing)
    (tmp_path / "fox2.svgz").write_bytes(
        gzip.compress(drawing.replace(b'fill="red"/>', BLUE_RING))
    )
    wide = _svg(
        '<a href="https://example.org/"><circle cx="20" cy="10" r="8" fill="green"/></a>'
    )
    (tmp_path / "wide.svg").write_bytes(wide)
    (tmp_path / "manifest.csv").write_text("path,licence\nwide.svg,CC0-1.0\n")
    rows = _curate(tmp_path)
    got = {
        path: (r.decision, r.reason, r.format, r.width, r.height, r.licence)
        for path, r in rows.iterrows()
    }
    assert got == {
        "fox.svg": ("accepted", "ok", "SVG", 256, 256, "CC-PDDC"),
        "fox2.svgz": ("accepted", "ok", "SVGZ", 256, 256, "CC-PDDC"),
        "wide.svg": ("accepted", "ok", "SVG", 256, 128, "CC0-1.0"),
    }
    assert rows.loc["fox.svg", "creator"] == "Ana"
    assert rows.loc["fox.svg", "phash"] != ""
    accepted = rows[rows["decision"] == "accepted"].reset_index()
    params = {"image_size": 8, "channels": 3}
    images = build_image_set(accepted, RawFolder(tmp_path), params, POLICY)["images"]

    # Pixels of the render: red, blue, and green on a white (composited) ground.
    def colour(image, y, x):
        return tuple(int(v) for v in ((image[y, x] + 1) * 127.5).round())

    assert colour(images[0], 4, 4) == (255, 0, 0)
    assert min(colour(images[1], 4, 4)) > 240  # the ring's white middle
    assert colour(images[1], 4, 1)[2] > 200 > colour(images[1], 4, 1)[0]
    assert colour(images[2], 4, 4)[1] > 60 > colour(images[2], 4, 4)[0]


def test_svgs_that_would_read_or_expand_beyond_themselves_are_refused(tmp_path):
    import gzip
    import time

    outside = tmp_path / "outside.png"
    outside.write_bytes(media.encode(media.noise(seed=9), "PNG"))
    raw = tmp_path / "raw"
    raw.mkdir()
    refused = {
        "abs_image.svg": f'<image href="{outside}" width="9" height="9"/>',
        "file_url.svg": f'<image xlink:href="file://{outside}" width="9" height="9"/>',
        "http.svg": '<image href="http://example.org/a.png" width="9" height="9"/>',
        "relative.svg": '<image href="../outside.png" width="9" height="9"/>',
        "nested_svg.svg": '<image href="data:image/svg+xml;base64,PHN2Zy8+"/>',
        "css_import.svg": "<style>@import url(a.css);</style><rect width='9' height='9'/>",
        "css_url.svg": '<rect width="9" height="9" style="fill:url(http://x/p#g)"/>',
        "fill_url.svg": '<rect width="9" height="9" fill="url(other.svg#g)"/>',
    }
    for name, body in refused.items():
        (raw / name).write_bytes(_svg(body))
    # <use> "billion laughs": ten uses of the level below, seven levels deep.
    levels = ['<g id="l0"><rect width="1" height="1"/></g>']
    for level in range(1, 8):
        uses = "".join(f'<use href="#l{level - 1}"/>' for _ in range(10))
        levels.append(f'<g id="l{level}">{uses}</g>')
    (raw / "laughs.svg").write_bytes(_svg("<defs>" + "".join(levels) + "</defs>"))
    (raw / "loop.svg").write_bytes(_svg('<g id="a"><use href="#a"/></g>'))
    bomb = b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * (64 << 20) + b"</svg>"
    (raw / "bomb.svgz").write_bytes(gzip.compress(bomb))
    big_png = media.png_bomb(60_000, 60_000)
    import base64

    embedded = "data:image/png;base64," + base64.b64encode(big_png).decode()
    (raw / "embedded_bomb.svg").write_bytes(
        _svg(f'<image href="{embedded}" width="9" height="9"/>')
    )
    (raw / "manifest.csv").write_text(
        "path,licence\n" + "".join(f"{n},CC0-1.0\n" for n in refused)
    )
    started = time.monotonic()
    rows = _curate(raw)
    assert time.monotonic() - started < 30
    got = {path: (r.decision, r.reason) for path, r in rows.iterrows()}
    external = ("quarantined", "not_an_image:svg_external_reference")
    assert got == {
        **{name: external for name in refused},
        "laughs.svg": ("quarantined", "not_an_image:svg_too_complex"),
        "loop.svg": ("quarantined", "not_an_image:svg_reference_loop"),
        "bomb.svgz": ("quarantined", "too_large:svg_bytes"),
        "embedded_bomb.svg": (
            "quarantined",
            "not_an_image:svg_embedded_image_too_large",
        ),
    }
    # The decision rests on the metadata that was read: the licence is shown.
    assert set(rows.loc[list(refused), "licence"]) == {"CC0-1.0"}


# --- depth and colour spaces -------------------------------------------------------------


def test_16_bit_float_and_cmyk_works_keep_their_tones(tmp_path):
    import numpy as np
    from PIL import Image

    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "scan16.png")
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "float.tif")
    rgb = Image.fromarray((np.stack([ramp] * 3, -1) * 255).astype(np.uint8))
    rgb.convert("CMYK").save(tmp_path / "print.jpg")
    rgb.convert("CMYK").save(tmp_path / "print.tif")
    lines = "".join(f"{p.name},CC0-1.0\n" for p in sorted(tmp_path.iterdir()))
    (tmp_path / "manifest.csv").write_text("path,licence\n" + lines)
    rows = _curate(tmp_path)
    # The same ramp four ways: one kept, the others seen as its near-duplicates.
    kept = rows.loc["float.tif", "work_id"]
    assert rows["reason"].to_dict() == {
        "float.tif": "ok",
        **{
            p: f"near_duplicate:{kept}"
            for p in ("print.jpg", "print.tif", "scan16.png")
        },
    }
    accepted = rows.reset_index()
    params = {"image_size": 8, "channels": 1}
    images = build_image_set(accepted, RawFolder(tmp_path), params, POLICY)["images"]
    for path, image in zip(accepted["path"], images, strict=True):
        row = ((image[4, :, 0] + 1) * 127.5).round()
        # A dark-to-light ramp, not clipped to white (Pillow's own 16-bit convert).
        assert row[0] < 40 and row[-1] > 215, (path, row)
        assert (np.diff(row) > 0).all(), (path, row)


# --- APNG ------------------------------------------------------------------------------


def test_apng_first_frame_decoded_and_frames_counted(tmp_path, monkeypatch):
    from PIL import PngImagePlugin

    from imagegen.pipelines.curation import nodes

    frames = [media.noise(size=(40, 40), seed=10 + i) for i in range(7)]
    xmp = media.xmp_packet(licence=media.CC_BY, creator="Ana")
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], pnginfo=info)
    (tmp_path / "anim.png").write_bytes(buffer.getvalue())
    (tmp_path / "still.png").write_bytes(media.encode(frames[0], "PNG"))
    seeks = []
    original = PngImagePlugin.PngImageFile.seek

    def counting_seek(self, frame):
        seeks.append(frame)
        return original(self, frame)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "seek", counting_seek)
    rows = _curate(tmp_path)
    assert rows.loc[
        "anim.png", ["decision", "reason", "format", "frames"]
    ].tolist() == [
        "accepted",
        "ok",
        "PNG",
        7,
    ]
    assert rows.loc["anim.png", "creator"] == "Ana"
    assert rows.loc["still.png", "frames"] == 1
    assert all(frame == 0 for frame in seeks)
    # The first frame is what was analysed: its still copy is its near-duplicate.
    inventory = nodes.inventory_works(RawFolder(tmp_path), {}, POLICY, {"workers": 1})
    hashes = dict(zip(inventory["path"], inventory["phash"], strict=True))
    assert hashes["anim.png"] == hashes["still.png"] != ""
