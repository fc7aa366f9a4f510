"""The Art. 53(1)(d) public summary: the template's sections, sources named, nothing
asserted that neither lineage nor a person supplied."""

import re

import pytest

from imagegen.framework.parameters import ConfigurationError, validate_parameters
from imagegen.provenance.audit import public_summary_markdown
from imagegen.provenance.public_summary import (
    NOT_STATED,
    build_public_summary,
    size_bin,
    summary_markdown,
)

HEADINGS = (
    "1",
    "1.1",
    "1.2",
    "1.3",
    "2",
    "2.1",
    "2.2",
    "2.2.1",
    "2.2.2",
    "2.3",
    "2.4",
    "2.5",
    "2.6",
    "3",
    "3.1",
    "3.2",
    "3.3",
)
# Words of a statement about where data came from or how it was obtained.
SOURCE_WORDS = re.compile(
    r"crawl|scrap|user data|synthetic|commercial|licensed by|public(ly)? available"
    r"|third part|no web|was used|were used|not used",
    re.IGNORECASE,
)


def make_audit(**hosts: int) -> dict:
    return {
        "model": {
            "name": "imagegen-digits-dcgan",
            "version": "4",
            "run_id": "r1",
            "aliases": ["candidate"],
        },
        "dataset": {
            "digest": "d" * 64,
            "n_works": 3,
            "n_creators": 2,
            "licence_summary": {"CC0-1.0": 2, "CC-BY-4.0": 1},
            "raw_dir": "data/01_raw/works",
        },
        "curation": {
            "files": 6,
            "decisions": {"accepted": 3, "rejected": 3},
            "reasons": {"ok": 3, "opt_out": 2, "privacy": 1},
            "opt_outs_honoured": 2,
            "opt_out_signals": {"takedown": 1, "tdm_reservation": 1},
            "opted_out_in_training": 0,
        },
        "source_hosts": hosts or {"example.org": 2, "(no source)": 1},
        "formats": {"png": 2, "svg": 1},
    }


def sections(markdown: str) -> dict[str, list[str]]:
    """Bullet lines under each numbered heading."""
    found: dict[str, list[str]] = {}
    current = None
    for line in markdown.splitlines():
        heading = re.match(r"^## (\d+(?:\.\d+)*) ", line)
        if heading:
            current = heading[1]
            found[current] = []
        elif current and line.startswith("- "):
            found[current].append(line)
    return found


def test_every_template_section_has_its_numbered_heading_in_order():
    markdown = summary_markdown(build_public_summary(make_audit()))
    numbers = re.findall(r"^## (\d+(?:\.\d+)*) \S", markdown, flags=re.MULTILINE)
    assert tuple(numbers) == HEADINGS
    assert "## 2.3 Data crawled and scraped from online sources" in markdown
    assert "## 3.1 Respect of reservation of rights" in markdown


def test_undeclared_sources_are_not_stated_and_nothing_is_asserted_without_a_source():
    markdown = summary_markdown(build_public_summary(make_audit()))
    by_section = sections(markdown)
    for number in ("2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6"):
        assert f"- **Used**: {NOT_STATED}" in by_section[number], number
    for lines in by_section.values():
        for line in lines:
            # Every entry either says "not stated" or names where it comes from.
            assert line.endswith(NOT_STATED) or line.endswith("_(lineage)_"), line
            if SOURCE_WORDS.search(line.split("**: ", 1)[-1]):
                assert line.endswith(NOT_STATED), line
    # The old blanket claim is gone.
    assert "No web crawling" not in markdown
    assert "was used" not in markdown


def test_declarations_are_written_with_the_key_that_stated_them():
    summary = build_public_summary(
        make_audit(),
        {
            "provider": "Studio Ltd",
            "contact": "rights@studio.example",
            "sources": {
                "public_datasets": {"used": True, "description": "UCI digits"},
                "crawled": {"used": False},
            },
        },
    )
    by_section = sections(summary_markdown(summary))
    assert by_section["1.1"][0] == (
        "- **Provider name**: Studio Ltd "
        "_(stated in configuration: `registration.public_summary.provider`)_"
    )
    assert by_section["2.1"][0].startswith("- **Used**: yes _(stated in configuration")
    assert by_section["2.3"][0].startswith("- **Used**: no _(stated in configuration")
    assert by_section["2.4"][0] == f"- **Used**: {NOT_STATED}"
    assert summary["declarations"]["sources"]["user_data"]["used"] is None


def test_lineage_fills_size_bin_signals_and_top_domains():
    hosts = {f"host{i}.example": 1 for i in range(19)} | {"big.example": 81}
    summary = build_public_summary(make_audit(**hosts), curated_at="2026-12-01T10:00Z")
    fields = {
        (s["number"], f["field"]): f for s in summary["sections"] for f in s["fields"]
    }
    assert (
        fields[("1.3", "Training data size")]["value"] == "Less than 1 million images"
    )
    assert fields[("1.3", "Training data size")]["source"] == "lineage"
    per_signal = fields[("3.1", "Files carrying each signal (every one excluded)")]
    assert per_signal["value"] == {
        "takedown": 1,
        "iptc_data_mining": 0,
        "tdm_reservation": 1,
        "c2pa_training_mining": 0,
    }
    domains = next(
        f["value"]
        for (n, _), f in fields.items()
        if n == "2.3" and "domains" in f["field"]
    )
    # 20 domains: the top 10% are two, by share of the 100 works.
    assert domains == {"big.example": 81.0, "host0.example": 1.0}
    assert (
        fields[("1.3", "Works last read from the source folder by curation")]["value"]
        == "2026-12-01T10:00Z"
    )


@pytest.mark.parametrize(
    ("n", "label"),
    [
        (0, "Less than 1 million images"),
        (999_999, "Less than 1 million images"),
        (1_000_000, "1 million to 1 billion images"),
        (1_000_000_000, "More than 1 billion images"),
    ],
)
def test_size_bins_are_the_templates(n, label):
    assert size_bin(n) == label


def test_hostile_work_metadata_cannot_break_the_markdown():
    hostile = "<script>alert(1)</script>|x" + "y" * 5000
    audit = make_audit(**{hostile: 5})
    audit["dataset"]["raw_dir"] = (
        "data/| ## 9 Fake heading\n<img src=x onerror=alert(1)>"
    )
    markdown = public_summary_markdown(audit)
    # No live HTML (every `<` escaped), no heading smuggled onto a line of its own.
    assert not re.search(r"(?<!\\)<", markdown)
    assert "\\<script\\>" in markdown
    assert not re.search(r"^#+ 9", markdown, flags=re.MULTILINE)
    assert not re.search(r"(?<!\\)\|", markdown)
    assert max(len(line) for line in markdown.splitlines()) < 1200


def test_a_bad_declaration_stops_the_run_naming_the_key(base_params):
    params = dict(base_params)
    params["registration"] = {
        **base_params["registration"],
        "public_summary": {"sources": {"crawled": {"used": "perhaps"}}},
    }
    with pytest.raises(
        ConfigurationError,
        match=r"registration\.public_summary\."
        r"sources\.crawled\.used",
    ):
        validate_parameters(params)
    params["registration"]["public_summary"] = {"provder": "typo"}
    with pytest.raises(ConfigurationError, match="public_summary.provder: unknown key"):
        validate_parameters(params)


def test_the_shipped_configuration_states_nothing(base_params):
    declared = base_params["registration"]["public_summary"]
    validated = validate_parameters(base_params)["registration"].public_summary
    assert validated.model_dump() == build_public_summary(make_audit())["declarations"]
    assert all(v["used"] is None for v in declared["sources"].values())
