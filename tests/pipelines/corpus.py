"""A small hostile corpus of works, built in a temporary folder by the tests."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tests import media


def curate(root: Path, policy: dict, workers: int = 1, chunk_size: int = 64):
    """Decisions of the curation nodes over `root`, in process, as the pipeline chains them."""
    from imagegen.datasets.raw_folder import RawFolder
    from imagegen.pipelines.curation import nodes

    folder = RawFolder(root)
    inventory = nodes.inventory_works(
        folder, {}, policy, {"workers": workers, "chunk_size": chunk_size}
    )
    manifest = nodes.read_manifest(folder)
    return nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, policy),
        manifest,
        nodes.read_takedown_list(folder),
        policy,
        nodes.check_site_reservations(folder, inventory, manifest, policy),
    )


def png(path: Path, size=(32, 32), seed: int = 0, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def build_corpus(root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """Write the corpus; return {path: (decision, reason)} that curation must give.

    Reason details that depend on content (work ids) are filled in here too.
    """
    expected: dict[str, tuple[str, str]] = {}
    manifest = []

    def work(rel, licence, decision, reason, seed, **kw):
        data = png(root / rel, seed=seed, **kw)
        if licence is not None:
            manifest.append(
                {
                    "path": rel,
                    "licence": licence,
                    "creator": "A. Artist",
                    "title": rel,
                    "source_url": "https://example.org/" + rel,
                }
            )
        expected[rel] = (decision, reason)
        return data

    work(
        "ok/cc_by.png",
        "https://creativecommons.org/licenses/by/4.0/",
        "accepted",
        "ok",
        1,
    )
    work("ok/cc0.png", "CC0-1.0", "accepted", "ok", 2, mode="RGBA")
    work("ok/grey.png", "Public Domain", "accepted", "ok", 3, mode="L")
    work(
        "licence/nc.png",
        "https://creativecommons.org/licenses/by-nc/4.0/",
        "rejected",
        "licence_denied:CC-BY-NC-4.0",
        4,
    )
    work(
        "licence/reserved.png",
        "All rights reserved",
        "rejected",
        "licence_denied:LicenseRef-AllRightsReserved",
        5,
    )
    work("licence/sa.png", "CC-BY-SA-4.0", "review", "licence_review:CC-BY-SA-4.0", 6)
    work("licence/none.png", None, "review", "licence_unknown", 7)
    work("licence/gibberish.png", "ask my agent", "review", "licence_unknown", 8)
    work(
        "licence/conflict.png",
        "CC0-1.0",
        "review",
        "licence_conflict:CC-BY-NC-4.0|CC0-1.0",
        9,
    )
    manifest.append(
        {
            "path": "licence/conflict.png",
            "licence": "CC-BY-NC-4.0",
            "creator": "A. Artist",
            "title": "",
            "source_url": "",
        }
    )
    taken_down = work(
        "optout/takedown.png", "CC0-1.0", "rejected", "opt_out:takedown", 10
    )
    (root / "takedown.txt").write_text(
        "# works withdrawn by their creators\n"
        + hashlib.sha256(taken_down).hexdigest()
        + "  # request 42\n"
    )
    original = work("dup/a_original.png", "CC0-1.0", "accepted", "ok", 11)
    (root / "dup/b_copy.png").write_bytes(original)
    manifest.append(
        {
            "path": "dup/b_copy.png",
            "licence": "CC0-1.0",
            "creator": "B",
            "title": "",
            "source_url": "",
        }
    )
    work_id = hashlib.sha256(original).hexdigest()
    expected["dup/b_copy.png"] = ("rejected", f"duplicate:{work_id}")
    # A link that sorts before its target is still the duplicate.
    os.symlink("../dup/a_original.png", root / "ok/0_link_to_original.png")
    expected["ok/0_link_to_original.png"] = ("rejected", f"duplicate:{work_id}")
    png(outside / "secret.png", seed=99)
    os.symlink(outside / "secret.png", root / "escape.png")
    expected["escape.png"] = ("quarantined", "not_an_image:link_outside_raw_dir")

    truncated = png(root / "broken/truncated.png", size=(64, 64), seed=12)
    (root / "broken/truncated.png").write_bytes(truncated[: len(truncated) // 2])
    expected["broken/truncated.png"] = ("quarantined", "corrupt:truncated")
    (root / "broken/empty.png").write_bytes(b"")
    expected["broken/empty.png"] = ("quarantined", "corrupt:empty")
    (root / "notes.txt").write_text("not a picture")
    expected["notes.txt"] = ("quarantined", "not_an_image:unidentified")
    work(
        "size/huge.png",
        "CC0-1.0",
        "quarantined",
        "too_large:pixels",
        13,
        size=(400, 300),
    )
    work("size/tiny.png", "CC0-1.0", "rejected", "too_small:side", 14, size=(4, 30))
    # Sidecar metadata is not a work of its own.
    (root / "ok/cc_by.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")

    _metadata_works(root, expected, manifest)
    _external_works(root, outside, expected, manifest)
    _other_works(root, expected, manifest)
    _hostile_works(root, expected, manifest)

    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["path", "licence", "creator", "title", "source_url"]
        )
        writer.writeheader()
        writer.writerows(manifest)
    return expected


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every entry (links not followed)."""
    state = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            data = (
                os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            )
            state[str(path.relative_to(root))] = (data, stat.st_mtime_ns)
    return state


def _write(root: Path, rel: str, data: bytes) -> bytes:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _row(rel: str, licence: str, creator: str = "A. Artist") -> dict:
    return {
        "path": rel,
        "licence": licence,
        "creator": creator,
        "title": "",
        "source_url": "",
    }


def _metadata_works(root: Path, expected: dict, manifest: list) -> None:
    """One work per metadata source and opt-out signal."""
    noise, xmp, enc = media.noise, media.xmp_packet, media.encode
    prohibited = xmp(data_mining=media.PLUS_PROHIBITED)

    # Embedded XMP: PNG iTXt (plain and compressed), JPEG APP1, WebP, TIFF.
    _write(root, "xmp/plus_prohibited.png", enc(noise(seed=20), "PNG", prohibited))
    manifest.append(_row("xmp/plus_prohibited.png", "CC0-1.0"))
    expected["xmp/plus_prohibited.png"] = ("rejected", "opt_out:iptc_data_mining")
    allowed = xmp(
        data_mining=media.PLUS_ALLOWED, licence=media.CC_BY, creator="Ada Lovelace"
    )
    _write(root, "xmp/plus_allowed.png", enc(noise(seed=21), "PNG", allowed, zip=True))
    expected["xmp/plus_allowed.png"] = ("accepted", "ok")
    tdm = xmp(tdm_reservation="1", licence=media.CC_BY)
    _write(root, "xmp/tdm.jpg", enc(noise(seed=22), "JPEG", tdm))
    expected["xmp/tdm.jpg"] = ("rejected", "opt_out:tdm_reservation")
    both = xmp(data_mining=media.PLUS_PROHIBITED, tdm_reservation="1")
    _write(root, "xmp/both.png", enc(noise(seed=23), "PNG", both))
    manifest.append(_row("xmp/both.png", "CC0-1.0"))
    expected["xmp/both.png"] = ("rejected", "opt_out:iptc_data_mining")
    webp = xmp(licence=media.CC_BY, creator="Webp Maker", title="Lossless")
    _write(root, "xmp/licensed.webp", enc(noise(seed=24), "WEBP", webp, lossless=True))
    expected["xmp/licensed.webp"] = ("accepted", "ok")
    tiff = xmp(rights="All rights reserved")
    _write(root, "xmp/reserved.tif", enc(noise(seed=25), "TIFF", tiff))
    expected["xmp/reserved.tif"] = (
        "rejected",
        "licence_denied:LicenseRef-AllRightsReserved",
    )
    _write(
        root,
        "xmp/conflict.png",
        enc(noise(seed=26), "PNG", xmp(licence=media.CC_BY_NC)),
    )
    manifest.append(_row("xmp/conflict.png", "CC0-1.0"))
    expected["xmp/conflict.png"] = ("review", "licence_conflict:CC-BY-NC-4.0|CC0-1.0")
    entity = '<!DOCTYPE x [<!ENTITY e "LEAKED-ENTITY-TEXT">]>' + xmp(creator="&e;")
    _write(root, "xmp/entity.png", enc(noise(seed=27), "PNG", entity))
    manifest.append(_row("xmp/entity.png", "CC0-1.0"))
    expected["xmp/entity.png"] = ("quarantined", "corrupt:metadata_unreadable")
    # A zip bomb in a compressed iTXt chunk: 8 MiB of XMP in about 8 KiB.
    bomb = media.itxt_payload("XML:com.adobe.xmp", b" " * (8 << 20), compressed=True)
    _write(
        root, "xmp/zbomb.png", media.png_with_text_chunk(noise(seed=28), b"iTXt", bomb)
    )
    manifest.append(_row("xmp/zbomb.png", "CC0-1.0"))
    expected["xmp/zbomb.png"] = ("quarantined", "corrupt:metadata_too_large")
    big = xmp(body="<dc:description>" + "x" * (1 << 20) + "</dc:description>")
    _write(root, "xmp/big_packet.png", enc(noise(seed=29), "PNG", big))
    manifest.append(_row("xmp/big_packet.png", "CC0-1.0"))
    expected["xmp/big_packet.png"] = ("quarantined", "corrupt:metadata_too_large")


def _external_works(root: Path, outside: Path, expected: dict, manifest: list) -> None:
    """Sidecars and SVG sources."""
    noise, xmp, enc = media.noise, media.xmp_packet, media.encode
    prohibited = xmp(data_mining=media.PLUS_PROHIBITED)

    # XMP sidecars: NAME.xmp and NAME.ext.xmp; one that leaves raw_dir is not read.
    _write(root, "sidecar/photo.png", enc(noise(seed=30), "PNG"))
    sidecar = xmp(licence=media.CC_BY, creator="Side Car")
    (root / "sidecar/photo.xmp").write_text(sidecar)
    expected["sidecar/photo.png"] = ("accepted", "ok")
    _write(root, "sidecar/darktable.jpg", enc(noise(seed=31), "JPEG"))
    (root / "sidecar/darktable.jpg.xmp").write_text(prohibited)
    manifest.append(_row("sidecar/darktable.jpg", "CC0-1.0"))
    expected["sidecar/darktable.jpg"] = ("rejected", "opt_out:iptc_data_mining")
    _write(root, "sidecar/escape.png", enc(noise(seed=32), "PNG"))
    (outside / "escape.xmp").write_text(
        xmp(licence=media.CC_BY, creator="OUTSIDE-SECRET")
    )
    os.symlink(outside / "escape.xmp", root / "sidecar/escape.xmp")
    expected["sidecar/escape.png"] = ("review", "licence_unknown")

    # SVG RDF: an SVG work, and PNG renders described by `_sources/…svg`.
    _write(root, "vector/drawing.svg", media.svg_with_rdf(media.OCAL_PD))
    expected["vector/drawing.svg"] = ("accepted", "ok")  # rendered, then curated
    for seed, (name, licence, extra) in enumerate(
        [
            ("fox", media.OCAL_PD, {}),
            ("gpl", media.OCAL_GPL, {}),
            ("blank", "", {}),
            (
                "adobe",
                media.OCAL_PD,
                {"doctype": '<!DOCTYPE svg [<!ENTITY ns "LEAKED-ENTITY-TEXT">]>\n'},
            ),
        ]
    ):
        _write(root, f"ocal/{name}.png", enc(noise(seed=40 + seed), "PNG"))
        _write(
            root,
            f"_sources/ocal/{name}.svg",
            media.svg_with_rdf(licence, "Nicu Buculei", name, **extra),
        )
    expected["ocal/fox.png"] = ("accepted", "ok")
    expected["ocal/gpl.png"] = ("review", "licence_review:GPL-2.0-or-later")
    expected["ocal/blank.png"] = ("review", "licence_unknown")
    expected["ocal/adobe.png"] = ("quarantined", "corrupt:metadata_unreadable")


def _other_works(root: Path, expected: dict, manifest: list) -> None:
    """EXIF, IPTC, C2PA, near-duplicates and faces."""
    noise, enc = media.noise, media.encode

    # EXIF (GPS noted), IPTC IIM, C2PA.
    gps = enc(noise(seed=50), "JPEG", exif=media.exif_with_gps("Ada Lovelace"))
    _write(root, "exif/gps.jpg", gps)
    manifest.append(_row("exif/gps.jpg", "CC0-1.0", creator=""))
    expected["exif/gps.jpg"] = ("accepted", "ok")
    iptc = media.with_iptc(
        enc(noise(seed=51), "JPEG"), "G. H.", "All rights reserved", "Bug"
    )
    _write(root, "iptc/reserved.jpg", iptc)
    expected["iptc/reserved.jpg"] = (
        "rejected",
        "licence_denied:LicenseRef-AllRightsReserved",
    )
    signed = media.with_c2pa(enc(noise(seed=52), "JPEG"), "notAllowed")
    _write(root, "c2pa/not_allowed.jpg", signed)
    manifest.append(_row("c2pa/not_allowed.jpg", "CC0-1.0"))
    expected["c2pa/not_allowed.jpg"] = ("rejected", "opt_out:c2pa_training_mining")

    # Perceptual near-duplicate: the same drawing, a little brighter.
    yy, xx = np.mgrid[0:64, 0:64]
    drawing = ((np.sin(xx / 5.0) + np.cos(yy / 7.0)) * 60 + 128).astype(np.uint8)
    first = _write(root, "near/a.png", enc(Image.fromarray(drawing, "L"), "PNG"))
    brighter = np.clip(drawing.astype(int) + 6, 0, 255).astype(np.uint8)
    _write(root, "near/b.png", enc(Image.fromarray(brighter, "L"), "PNG"))
    manifest += [_row("near/a.png", "CC0-1.0"), _row("near/b.png", "CC0-1.0")]
    expected["near/a.png"] = ("accepted", "ok")
    expected["near/b.png"] = (
        "rejected",
        f"near_duplicate:{hashlib.sha256(first).hexdigest()}",
    )

    # Privacy: a photograph with a face.
    _write(root, "privacy/astronaut.png", enc(media.face_photo(), "PNG"))
    manifest.append(_row("privacy/astronaut.png", "CC0-1.0"))
    expected["privacy/astronaut.png"] = ("review", "privacy:face")


def _hostile_works(root: Path, expected: dict, manifest: list) -> None:
    """Bombs, animations, odd names, links to folders, manifest rows that escape."""
    _write(root, "size/bomb.png", media.png_bomb())
    manifest.append(_row("size/bomb.png", "CC0-1.0"))
    expected["size/bomb.png"] = ("quarantined", "too_large:pixels")
    frames = [media.noise(size=(40, 40), seed=60 + i) for i in range(5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], loop=0)
    _write(root, "anim/loop.gif", buffer.getvalue())
    manifest.append(_row("anim/loop.gif", "CC0-1.0"))
    expected["anim/loop.gif"] = ("accepted", "ok")
    os.symlink("../ok", root / "size/dirlink")
    expected["size/dirlink"] = ("quarantined", "not_an_image:link_to_non_file")
    for index, (name, shown) in enumerate(ODD_NAMES.items()):
        path = os.path.join(os.fsencode(root), b"odd", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(media.encode(media.noise(seed=70 + index), "PNG"))
        expected["odd/" + shown] = ("review", "licence_unknown")
    # Manifest rows naming files outside raw_dir are never opened.
    manifest.append(_row("../outside/secret.png", "CC0-1.0"))
    manifest.append(_row("/etc/hostname", "CC0-1.0"))


# File name bytes -> the escaped path curation writes for them.
ODD_NAMES = {
    b"new\nline.png": "new\\x0aline.png",
    b"-rf --no-preserve-root.png": "-rf --no-preserve-root.png",
    b"caf\xe9 latin-1.png": "caf\\xe9 latin-1.png",
    b"back\\slash.png": "back\\\\slash.png",
    b"l" + b"o" * 240 + b"ng.png": "l" + "o" * 240 + "ng.png",
}
