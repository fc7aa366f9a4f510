"""Licences and paths: NFC names, manifest quirks, XMP rights fields, conflicts."""

from __future__ import annotations

import csv
import io

import pytest
import yaml
from PIL import Image

from imagegen.datasets.raw_folder import RawFolder
from tests import media
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import curate

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]
CC_BY_TEXT = (
    "This work is licensed under a Creative Commons Attribution 4.0 "
    "International License."
)


def _curate(root):
    return curate(root, POLICY).set_index("path")


def _manifest(root, rows, bom=False):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "licence", "creator"])
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    (root / "manifest.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def _png(seed, xmp=None):
    return media.encode(media.noise(seed=seed), "PNG", xmp)


def _jpeg_with_copyright(seed, text):
    exif = Image.Exif()
    exif[0x8298] = text
    return media.encode(media.noise(seed=seed), "JPEG", exif=exif)


def test_nfd_names_on_disk_match_nfc_manifest_rows_and_back(tmp_path):
    (tmp_path / "cafe\u0301.png").write_bytes(_png(1))  # decomposed on disk
    (tmp_path / "na\u00efve.png").write_bytes(_png(2))  # composed on disk
    _manifest(
        tmp_path,
        [["caf\u00e9.png", "CC0-1.0", "Ana"], ["nai\u0308ve.png", "CC-BY-4.0", "Bo"]],
    )
    rows = _curate(tmp_path)
    # The path column keeps the name as stored, so the same file opens again.
    assert rows.loc["cafe\u0301.png", ["decision", "licence", "creator"]].tolist() == [
        "accepted",
        "CC0-1.0",
        "Ana",
    ]
    assert rows.loc["na\u00efve.png", ["decision", "licence"]].tolist() == [
        "accepted",
        "CC-BY-4.0",
    ]
    assert RawFolder(tmp_path).resolve("cafe\u0301.png").is_file()


def test_manifest_with_bom_and_dot_slash_prefixes(tmp_path):
    (tmp_path / "a.png").write_bytes(_png(1))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(_png(2))
    _manifest(
        tmp_path,
        [["./a.png", "CC0-1.0", "Ana"], ["././sub/./b.png", "CC-BY-4.0", "Bo"]],
        bom=True,
    )
    rows = _curate(tmp_path)
    assert rows.loc["a.png", ["reason", "licence", "creator"]].tolist() == [
        "ok",
        "CC0-1.0",
        "Ana",
    ]
    assert rows.loc["sub/b.png", ["reason", "licence"]].tolist() == ["ok", "CC-BY-4.0"]


def test_manifest_matching_is_case_sensitive(tmp_path):
    (tmp_path / "a.png").write_bytes(_png(1))
    (tmp_path / "A.png").write_bytes(_png(2))
    _manifest(tmp_path, [["A.png", "CC-BY-NC-4.0", "Ana"]])
    rows = _curate(tmp_path)
    assert rows.loc["a.png", "reason"] == "licence_unknown"
    assert rows.loc["A.png", "reason"] == "licence_denied:CC-BY-NC-4.0"


def test_usage_terms_and_rights_as_rdf_alt_are_read(tmp_path):
    usage = (
        "<xmpRights:UsageTerms><rdf:Alt>"
        '<rdf:li xml:lang="fr">Licence CC BY-NC 4.0</rdf:li>'
        f'<rdf:li xml:lang="x-default">{CC_BY_TEXT}</rdf:li>'
        "</rdf:Alt></xmpRights:UsageTerms>"
    )
    (tmp_path / "usage.png").write_bytes(_png(1, media.xmp_packet(body=usage)))
    rights = media.xmp_packet(rights="CC0 1.0 Universal", creator="Ana")
    (tmp_path / "rights.png").write_bytes(_png(2, rights))
    rows = _curate(tmp_path)
    # Every language of an rdf:Alt counts: the French line names another licence.
    assert rows.loc["usage.png", "reason"] == "licence_conflict:CC-BY-4.0|CC-BY-NC-4.0"
    assert rows.loc["rights.png", ["reason", "licence", "licence_source"]].tolist() == [
        "ok",
        "CC0-1.0",
        "xmp",
    ]


def test_usage_terms_alone_decide(tmp_path):
    usage = (
        "<xmpRights:UsageTerms><rdf:Alt>"
        f'<rdf:li xml:lang="x-default">{CC_BY_TEXT}</rdf:li>'
        "</rdf:Alt></xmpRights:UsageTerms>"
    )
    (tmp_path / "usage.png").write_bytes(_png(1, media.xmp_packet(body=usage)))
    row = _curate(tmp_path).loc["usage.png"]
    assert [row.decision, row.reason, row.licence, row.licence_source] == [
        "accepted",
        "ok",
        "CC-BY-4.0",
        "xmp",
    ]
    assert row.licence_raw == CC_BY_TEXT


def test_some_rights_reserved_is_a_slogan_not_a_denial(tmp_path):
    packet = media.xmp_packet(
        licence=media.CC_BY, rights="\u00a9 2024 Jane Doe. Some rights reserved."
    )
    (tmp_path / "slogan.png").write_bytes(_png(1, packet))
    row = _curate(tmp_path).loc["slogan.png"]
    assert [row.decision, row.reason, row.licence] == ["accepted", "ok", "CC-BY-4.0"]


@pytest.mark.parametrize(
    ("exif", "manifest", "reason", "sources"),
    [
        ("CC0", "CC-BY-NC-4.0", "CC-BY-NC-4.0|CC0-1.0", "manifest|exif"),
        ("CC BY-NC 4.0", "CC0-1.0", "CC-BY-NC-4.0|CC0-1.0", "exif|manifest"),
        (
            "Copyright Jane Doe",  # EXIF text is ASCII
            "CC-BY-4.0",
            "CC-BY-4.0|LicenseRef-AllRightsReserved",
            "manifest|exif",
        ),
    ],
)
def test_sources_that_disagree_are_a_conflict_whichever_way(
    tmp_path, exif, manifest, reason, sources
):
    (tmp_path / "a.jpg").write_bytes(_jpeg_with_copyright(1, exif))
    _manifest(tmp_path, [["a.jpg", manifest, "Ana"]])
    row = _curate(tmp_path).loc["a.jpg"]
    assert [row.decision, row.reason] == ["review", f"licence_conflict:{reason}"]
    assert row.licence == ""
    # The row names both sources, each beside its own text.
    assert row.licence_source == sources
    by_source = dict(
        zip(row.licence_source.split("|"), row.licence_raw.split("|"), strict=True)
    )
    assert by_source == {"exif": exif, "manifest": manifest}


def test_a_versionless_name_agrees_with_its_versioned_licence(tmp_path):
    (tmp_path / "a.jpg").write_bytes(_jpeg_with_copyright(1, "CC BY"))
    (tmp_path / "b.jpg").write_bytes(_jpeg_with_copyright(2, "CC BY-NC"))
    _manifest(tmp_path, [["a.jpg", "CC-BY-4.0", "Ana"]])
    rows = _curate(tmp_path)
    assert rows.loc["a.jpg", ["reason", "licence"]].tolist() == ["ok", "CC-BY-4.0"]
    assert rows.loc["a.jpg", "licence_source"] == "manifest|exif"
    assert rows.loc["b.jpg", "reason"] == "licence_denied:LicenseRef-CC-BY-NC"


def test_a_manifest_over_its_size_limit_is_ignored_not_read(tmp_path, monkeypatch):
    from imagegen.pipelines.curation import nodes

    (tmp_path / "a.png").write_bytes(_png(1))
    _manifest(tmp_path, [["a.png", "CC0-1.0", "Ana"]])
    assert nodes.read_manifest(RawFolder(tmp_path))["creator"].tolist() == ["Ana"]
    size = (tmp_path / "manifest.csv").stat().st_size
    monkeypatch.setattr(nodes, "MAX_MANIFEST_BYTES", size - 1)
    assert nodes.read_manifest(RawFolder(tmp_path)).empty
