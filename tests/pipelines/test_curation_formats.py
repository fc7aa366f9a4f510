"""Formats creative tools write: AVIF and HEIF/HEIC curated like any raster."""

from __future__ import annotations

import io

import yaml

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.preprocessing.nodes import build_image_set
from tests import media
from tests.conftest import PROJECT_ROOT

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]


def _curate(root):
    folder = RawFolder(root)
    inventory = nodes.inventory_works(folder, {}, POLICY, {"workers": 1})
    return nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, POLICY),
        nodes.read_manifest(folder),
        nodes.read_takedown_list(folder),
        POLICY,
    ).set_index("path")


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
