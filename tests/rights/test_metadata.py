import io

import pytest
from PIL import Image

from imagegen.rights import metadata as md
from tests import media

LIMIT = 1 << 20


@pytest.mark.parametrize(
    ("value", "opted_out"),
    [
        (media.PLUS_PROHIBITED, True),
        ("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING", True),
        ("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED", True),
        ("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEECONSTRAINT", True),
        (media.PLUS_ALLOWED, False),
        ("http://ns.useplus.org/ldf/vocab/DMI-UNSPECIFIED", False),
        ("", False),
    ],
)
def test_plus_data_mining_values(value, opted_out):
    packet = media.xmp_packet(data_mining=value or None)
    found = md.read_xmp(packet, "xmp", LIMIT)
    assert (md.IPTC_DATA_MINING in found.opt_out) is opted_out


@pytest.mark.parametrize(("value", "opted_out"), [("1", True), ("0", False)])
def test_tdm_reservation_is_read_by_namespace_not_prefix(value, opted_out):
    for prefix in ("tdm", "t"):
        packet = media.xmp_packet(tdm_reservation=value, tdm_prefix=prefix)
        found = md.read_xmp(packet, "xmp", LIMIT)
        assert (md.TDM_RESERVATION in found.opt_out) is opted_out


def test_xmp_licence_sources_creator_title_and_gps():
    packet = media.xmp_packet(
        licence=media.CC_BY,
        rights="Some rights reserved",
        web_statement="https://example.org/rights",
        creator="Ada Lovelace",
        title="Engine",
        gps=True,
    )
    found = md.read_xmp(packet.encode(), "xmp", LIMIT)
    assert found.licences == [
        "https://example.org/rights",
        media.CC_BY,
        "Some rights reserved",
    ]
    assert (found.creator, found.title, found.gps) == ("Ada Lovelace", "Engine", True)


def test_xmp_with_a_dtd_or_entities_is_refused_and_nothing_leaks():
    packet = '<!DOCTYPE x [<!ENTITY secret "LEAKED-ENTITY-TEXT">]>' + media.xmp_packet(
        creator="&secret;"
    )
    with pytest.raises(md.MetadataError) as error:
        md.read_xmp(packet, "xmp", LIMIT)
    assert error.value.code == "metadata_unreadable"
    assert "LEAKED" not in str(error.value)


def test_oversized_packet_is_refused_before_parsing():
    packet = media.xmp_packet(
        body="<dc:description>" + "x" * 5000 + "</dc:description>"
    )
    with pytest.raises(md.MetadataError, match="metadata_too_large"):
        md.read_xmp(packet, "xmp", 4096)


def test_open_clip_art_svg_rdf():
    found = md.read_svg_rdf(
        media.svg_with_rdf(media.OCAL_PD, "Nicu Buculei", "Fox"), "svg_rdf", LIMIT
    )
    # dc:rights holds an agent (the rights holder), not a licence.
    assert found.licences == [media.OCAL_PD]
    assert (found.creator, found.title) == ("Nicu Buculei", "Fox")


def test_svg_without_namespace_and_with_a_plain_doctype():
    doctype = (
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" '
        '"http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd">\n'
    )
    svg = media.svg_with_rdf(media.OCAL_GPL, namespace=False, doctype=doctype)
    assert md.read_svg_rdf(svg, "svg_rdf", LIMIT).licences == [media.OCAL_GPL]


def test_svg_entities_are_never_expanded():
    doctype = '<!DOCTYPE svg [<!ENTITY who "LEAKED-ENTITY-TEXT">]>\n'
    svg = media.svg_with_rdf(media.OCAL_PD, creator="&who;", doctype=doctype)
    with pytest.raises(md.MetadataError) as error:
        md.read_svg_rdf(svg, "svg_rdf", LIMIT)
    assert error.value.code == "metadata_unreadable"
    assert "LEAKED" not in repr(error.value)


def test_svg_is_read_only_up_to_its_metadata_and_the_limit():
    svg = media.svg_with_rdf(media.OCAL_PD)
    head, tail = svg.split(b"<rect", 1)
    huge = head + b"<g>" + b"<rect/>" * 400_000 + b"</g><rect" + tail  # about 2.8 MB
    assert md.read_svg_rdf(io.BytesIO(huge), "svg_rdf", 8192).licences == [
        media.OCAL_PD
    ]
    # Metadata that only ends past the limit is too large to read.
    late = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g/>" * 5000 + head[60:]
    with pytest.raises(md.MetadataError, match="metadata_too_large"):
        md.read_svg_rdf(io.BytesIO(late + b"</svg>"), "svg_rdf", 8192)


def test_svg_is_read_no_further_than_1_kib_past_its_metadata():
    svg = media.svg_with_rdf(media.OCAL_PD)
    head, tail = svg.split(b"<rect", 1)
    stream = io.BytesIO(head + b"<rect/>" * 10_000 + b"<rect" + tail)  # 70 KB
    assert md.read_svg_rdf(stream, "svg_rdf", 1 << 20).licences == [media.OCAL_PD]
    assert stream.tell() < len(head) + 1024


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_embedded_xmp_of_each_format_matches_exiv2(fmt):
    import pyexiv2

    packet = media.xmp_packet(data_mining=media.PLUS_PROHIBITED, licence=media.CC_BY)
    data = media.encode(media.noise(), fmt, packet)
    with Image.open(io.BytesIO(data)) as image:
        found = md.read_xmp(image.info["xmp"], "xmp", LIMIT)
    assert found.opt_out == [md.IPTC_DATA_MINING]
    assert found.licences == [media.CC_BY]
    # exiv2, reading the same file independently, sees the same values.
    with pyexiv2.ImageData(data) as image:
        xmp = image.read_xmp()
    assert xmp["Xmp.plus.DataMining"] == media.PLUS_PROHIBITED
    assert xmp["Xmp.cc.license"] == media.CC_BY


def test_exif_artist_copyright_and_gps():
    exif = media.exif_with_gps("Ada Lovelace", "All rights reserved")
    data = media.encode(media.noise(), "JPEG", exif=exif)
    with Image.open(io.BytesIO(data)) as image:
        found = md.read_exif(image, LIMIT)
    assert (found.creator, found.licences, found.gps) == (
        "Ada Lovelace",
        ["All rights reserved"],
        True,
    )


def test_iptc_byline_copyright_and_title():
    data = media.with_iptc(
        media.encode(media.noise(), "JPEG"), "Grace Hopper", "(c) 2024 GH", "Bug"
    )
    with Image.open(io.BytesIO(data)) as image:
        found = md.read_iptc(image, LIMIT)
    assert (found.creator, found.licences, found.title) == (
        "Grace Hopper",
        ["(c) 2024 GH"],
        "Bug",
    )


@pytest.mark.parametrize(
    ("label", "use", "opted_out"),
    [
        ("cawg.training-mining", "notAllowed", True),
        ("c2pa.training-mining", "notAllowed", True),
        ("cawg.training-mining", "allowed", False),
    ],
)
def test_c2pa_training_mining_assertion(label, use, opted_out):
    data = media.with_c2pa(media.encode(media.noise(), "JPEG"), use, label)
    found = md.read_c2pa(data, "JPEG")
    assert (md.C2PA_TRAINING_MINING in found.opt_out) is opted_out


def test_c2pa_assertion_rules_on_a_manifest_store():
    def store(entries, label="cawg.training-mining.v2"):
        assertion = {"label": label, "data": {"entries": entries}}
        return {"manifests": {"m": {"assertions": [assertion]}}}

    assert md.c2pa_opts_out(store({"cawg.ai_training": {"use": "notAllowed"}}))
    assert md.c2pa_opts_out(store({"cawg.data_mining": {"use": "constrained"}}))
    # Inference is not training.
    assert not md.c2pa_opts_out(store({"cawg.ai_inference": {"use": "notAllowed"}}))
    assert not md.c2pa_opts_out(store({"cawg.ai_training": {"use": "notAllowed"}}, "x"))


def test_c2pa_marker_without_a_manifest_is_no_signal():
    data = media.encode(media.noise(), "PNG", media.xmp_packet(title="c2pa"))
    assert md.has_c2pa_marker(data)
    assert md.read_c2pa(data, "PNG").opt_out == []


def test_clean_text_is_one_bounded_line():
    assert md.clean_text("a\nb\x00c\u2028d  e") == "a b c d e"
    assert len(md.clean_text("x" * 1000)) == md.MAX_TEXT


def test_bidi_and_zero_width_characters_are_removed():
    from imagegen.rights.metadata import clean_text

    assert clean_text("invoice\u202egnp.exe") == "invoicegnp.exe"
    assert clean_text("a\u200bb\u2066c\u2069\ufeff") == "abc"


def test_csv_cells_are_neutralised_reversibly():
    import pandas as pd

    from imagegen.rights.metadata import csv_restored, csv_safe

    frame = pd.DataFrame(
        {
            "creator": ["=1+1", "+1", "-2+3", "@SUM(1)", "\t=1", "\r=1", "'=x", "ok"],
            "score": [-0.5, 1, 2, 3, 4, 5, 6, 7],
        }
    )
    safe = csv_safe(frame)
    assert safe["creator"].tolist() == [
        "'=1+1",
        "'+1",
        "'-2+3",
        "'@SUM(1)",
        "'\t=1",
        "'\r=1",
        "''=x",
        "ok",
    ]
    assert safe["score"].tolist() == frame["score"].tolist()  # numbers stay numbers
    assert csv_restored(safe).equals(frame)


def test_people_csv_dataset_writes_text_cells_and_reads_back_the_values(tmp_path):
    import pandas as pd

    from imagegen.datasets.people_csv import PeopleCSVDataset

    frame = pd.DataFrame({"creator": ["=HYPERLINK(1)", "A. Artist"], "n": ["1", "2"]})
    dataset = PeopleCSVDataset(
        filepath=str(tmp_path / "x.csv"),
        save_args={"index": False},
        load_args={"dtype": str, "keep_default_na": False},
    )
    dataset.save(frame)
    assert "'=HYPERLINK(1)" in (tmp_path / "x.csv").read_text()
    assert dataset.load().equals(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]  # no temp file left


def test_markdown_links_only_for_http():
    from imagegen.rights.metadata import markdown_link

    assert markdown_link("https://example.org/a") == "<https://example.org/a>"
    assert markdown_link("javascript:alert(1)") == r"javascript:alert\(1\)"
    assert markdown_link("http://x/<script>") == r"http://x/\<script\>"


def test_a_creator_in_dollars_is_drawn_not_parsed():
    import pandas as pd

    from imagegen.plots import curation_summary_figure

    decisions = pd.DataFrame(
        {
            "decision": ["accepted", "accepted"],
            "reason": ["ok", "ok"],
            "licence": ["CC0-1.0", "CC0-1.0"],
            "creator": [r"$\foo$", r"$\frac{1}{$"],
        }
    )
    figure = curation_summary_figure(decisions)
    figure.canvas.draw()  # mathtext would raise here


def test_an_unparsable_source_url_is_counted_not_fatal():
    from imagegen.provenance.audit import source_host

    assert source_host("http://[") == "(unparsable URL)"
    assert source_host("https://example.org/x") == "example.org"
    assert source_host("") == "(no source)"
