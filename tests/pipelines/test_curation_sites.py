"""Site-level reservations from the offline snapshot `_sources/sites/<host>/`."""

from __future__ import annotations

import csv
import io
import json
import os

import yaml

from imagegen.pipelines.curation import nodes
from tests import media
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import curate

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]
DATE = "2026-11-30 12:00:00+00:00"


def _works(root, urls: dict[str, str]) -> None:
    """One CC0 PNG per name, its manifest row naming the URL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "licence", "creator", "title", "source_url"])
    for seed, (name, url) in enumerate(sorted(urls.items())):
        (root / name).write_bytes(media.encode(media.noise(seed=seed), "PNG"))
        writer.writerow([name, "CC0-1.0", "Ana", name, url])
    (root / "manifest.csv").write_text(buffer.getvalue())


def _site(root, host="example.org", retrieved="2026-11-30T12:00:00Z", **files):
    folder = root / "_sources" / "sites" / host
    folder.mkdir(parents=True)
    if retrieved is not None:
        (folder / "snapshot.json").write_text(json.dumps({"retrieved": retrieved}))
    for name, content in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode()
        path.write_bytes(data)
    return folder


def _rows(root):
    table = curate(root, POLICY).set_index("path")
    return {
        p: (r.decision, r.reason, r.opt_out, r.site_snapshot)
        for p, r in table.iterrows()
    }


def test_tdmrep_header_x_robots_tag_and_html_meta(tmp_path):
    _works(
        tmp_path,
        {
            "a.png": "https://example.org/art/a.png",
            "b.png": "https://example.org/art/b.png",
            "c.png": "https://example.org/gallery/c.html",
            "d.png": "https://example.org/gallery/d.html",
            "e.png": "https://example.org/art/e.png",
            "f.png": "https://example.org/art/",
        },
    )
    _site(
        tmp_path,
        **{
            "headers.json": json.dumps(
                {
                    "/art/a.png": {"TDM-Reservation": "1"},
                    "/art/b.png": {"X-Robots-Tag": ["noindex", "GPTBot: noimageai"]},
                    "/art/e.png": {"tdm-reservation": "0", "X-Robots-Tag": "noindex"},
                }
            ),
            "pages__gallery__c.html": '<html><head><meta name="tdm-reservation" '
            'content="1"></head><body>x</body></html>',
            "pages__gallery__d.html": "<html><head><META NAME=robots "
            'content="noai, nofollow"></head></html>',
            "pages__art__index.html": "<html><head><title>ok</title></head></html>",
        },
    )
    snapshot = f"example.org {DATE.replace(' ', 'T')}"
    assert _rows(tmp_path) == {
        "a.png": ("rejected", "opt_out:tdmrep_header", "tdmrep_header", snapshot),
        "b.png": ("rejected", "opt_out:x_robots_tag", "x_robots_tag", snapshot),
        "c.png": ("rejected", "opt_out:tdmrep_html", "tdmrep_html", snapshot),
        "d.png": ("rejected", "opt_out:robots_meta", "robots_meta", snapshot),
        "e.png": ("accepted", "ok", "", snapshot),
        "f.png": ("accepted", "ok", "", snapshot),
    }


def test_tdmrep_json_first_matching_rule_decides(tmp_path):
    _works(
        tmp_path,
        {
            "a.png": "https://example.org/open/a.png",
            "b.png": "https://example.org/images/b.png",
            "c.png": "https://example.org/images/free/c.png",
            "d.png": "http://example.org/other.png",
        },
    )
    rules = [
        {"location": "/images/free/*", "tdm-reservation": 0},
        {"location": "/images/*", "tdm-reservation": 1, "tdm-policy": "https://x/p"},
        {"location": "/other.png$", "tdm-reservation": 1},
    ]
    _site(tmp_path, **{"tdmrep.json": json.dumps(rules)})
    rows = _rows(tmp_path)
    assert {p: r[1] for p, r in rows.items()} == {
        "a.png": "ok",
        "b.png": "opt_out:tdmrep_site",
        "c.png": "ok",
        "d.png": "opt_out:tdmrep_site",
    }


def test_robots_txt_rules_for_ai_crawlers_and_the_wildcard_group(tmp_path):
    _works(
        tmp_path,
        {
            "a.png": "https://example.org/art/a.png",
            "b.png": "https://example.org/blog/b.png",
            "c.png": "https://example.org/private/c.png",
            "d.png": "https://example.org/art/public/d.png",
            "e.png": "https://other.example/e.png",
        },
    )
    _site(
        tmp_path,
        **{
            "robots.txt": "User-agent: GPTBot\nDisallow: /art/\nAllow: /art/public/\n\n"
            "User-agent: Googlebot\nDisallow: /blog/\n\n"
            "User-agent: *\nDisallow: /private/\n"
        },
    )
    # A host without a snapshot says nothing; no date either.
    rows = _rows(tmp_path)
    assert {p: r[1] for p, r in rows.items()} == {
        "a.png": "opt_out:robots_txt",  # GPTBot's own group
        "b.png": "ok",  # closed to a search crawler only
        "c.png": "opt_out:robots_txt",  # closed to every robot (see docs)
        "d.png": "ok",  # the longer Allow wins
        "e.png": "ok",
    }
    assert rows["e.png"][3] == ""


def test_snapshot_date_falls_back_to_the_folder_mtime(tmp_path):
    _works(tmp_path, {"a.png": "https://example.org/a.png"})
    folder = _site(tmp_path, retrieved=None, **{"robots.txt": "User-agent: *\n"})
    os.utime(folder, (1_700_000_000, 1_700_000_000))
    rows = _rows(tmp_path)
    assert rows["a.png"] == (
        "accepted",
        "ok",
        "",
        "example.org 2023-11-14T22:13:20+00:00 (folder mtime)",
    )


def test_hostile_snapshots_become_reasons(tmp_path):
    limit = POLICY["max_metadata_bytes"]
    _works(
        tmp_path,
        {
            "big.png": "https://big.example/a.png",
            "badjson.png": "https://badjson.example/a.png",
            "badutf.png": "https://badutf.example/a.png",
            "deep.png": "https://deep.example/a.png",
            "dotdot.png": "https://../etc/passwd",
            "date.png": "https://date.example/a.png",
            "both.png": "https://both.example/a.png",
            "ftp.png": "ftp://files.example/a.png",
            "link.png": "https://link.example/a.png",
        },
    )
    _site(tmp_path, "big.example", **{"robots.txt": b"#" * (limit + 1)})
    _site(tmp_path, "badjson.example", **{"tdmrep.json": '[{"location": "/"'})
    _site(tmp_path, "badutf.example", **{"headers.json": b'{"/a.png": {"x": "\xff"}}'})
    _site(tmp_path, "deep.example", **{"headers.json": "[" * 100_000 + "]" * 100_000})
    _site(tmp_path, "date.example", retrieved="last tuesday")
    _site(
        tmp_path,
        "both.example",
        **{"tdmrep.json": "{}", "headers.json": '{"/a.png": {"tdm-reservation": 1}}'},
    )
    outside = tmp_path.parent / f"{tmp_path.name}_outside"
    outside.mkdir()
    (outside / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    link = _site(tmp_path, "link.example")
    (link / "robots.txt").symlink_to(outside / "robots.txt")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rows = _rows(tmp_path)
    assert {p: r[:2] for p, r in rows.items()} == {
        "badjson.png": ("quarantined", "corrupt:site_tdmrep_json_malformed"),
        "badutf.png": ("quarantined", "corrupt:site_headers_json_malformed"),
        "big.png": ("quarantined", "corrupt:site_robots_txt_too_large"),
        "both.png": ("rejected", "opt_out:tdmrep_header"),  # a clear opt-out wins
        "date.png": ("quarantined", "corrupt:site_snapshot_json_malformed"),
        "deep.png": ("quarantined", "corrupt:site_headers_json_malformed"),
        "dotdot.png": ("quarantined", "corrupt:site_host_invalid"),
        "ftp.png": ("accepted", "ok"),
        "link.png": ("quarantined", "corrupt:site_robots_txt_unreadable"),
    }
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_audit_counts_site_snapshots(tmp_path):
    from imagegen.provenance.audit import build_audit

    _works(tmp_path, {"a.png": "https://example.org/a.png", "b.png": ""})
    _site(tmp_path, **{"headers.json": '{"/a.png": {"X-Robots-Tag": "noai"}}'})
    decisions = curate(tmp_path, POLICY)
    accepted = decisions[decisions["decision"] == "accepted"]
    audit = build_audit(
        {"name": "m"},
        {"dataset_digest": "x"},
        accepted.assign(source_url=""),
        accepted.iloc[:0],
        decisions,
    )
    assert audit["curation"]["opt_out_signals"] == {"x_robots_tag": 1}
    assert audit["curation"]["site_snapshots"] == {
        "example.org 2026-11-30T12:00:00+00:00": 1
    }


def test_pipeline_wires_the_site_check():
    from imagegen.pipelines.curation.pipeline import create_pipeline

    names = {n.name: n for n in create_pipeline().nodes}
    assert "site_reservations" in names["decide_works"].inputs
    assert names["check_site_reservations"].func is nodes.check_site_reservations
