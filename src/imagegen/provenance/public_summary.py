"""EU AI Act Art. 53(1)(d): the public summary of a version's training content.

Follows the European Commission's template (Explanatory Notice and Template
for the Public Summary of Training Content, published 24 July 2025) section by
section, numbered as the template numbers them. Every field names its source:
`lineage` (recorded by the pipeline for this version) or `configuration: KEY`
(stated by a person in `registration.public_summary`). A field neither supplies
is written as "not stated": the pipeline never asserts what nobody told it.
"""

from __future__ import annotations

import math
from typing import Any

from imagegen.framework.parameters import PublicSummaryParams
from imagegen.rights.metadata import OPT_OUT_SIGNALS, markdown_text

NOT_STATED = "not stated"
LINEAGE = "lineage"
CONFIG_KEY = "registration.public_summary"
TEMPLATE = (
    "European Commission, Template for the Public Summary of Training Content "
    "for general-purpose AI models (Art. 53(1)(d) AI Act), published 2025-07-24"
)
# The template's size bins for the image modality.
IMAGE_SIZE_BINS = (
    (1_000_000, "Less than 1 million images"),
    (1_000_000_000, "1 million to 1 billion images"),
    (math.inf, "More than 1 billion images"),
)
# The kinds of source of the template's section 2, with the declaration key.
SOURCE_SECTIONS = (
    ("2.1", "Publicly available datasets", "public_datasets"),
    (
        "2.2.1",
        "Datasets commercially licensed by rightsholders or their representatives",
        "commercially_licensed",
    ),
    ("2.2.2", "Private datasets obtained from other third parties", "other_private"),
    ("2.3", "Data crawled and scraped from online sources", "crawled"),
    ("2.4", "User data", "user_data"),
    ("2.5", "Synthetic data", "synthetic"),
    ("2.6", "Other sources of data", "other"),
)
MAX_VALUE = 500  # characters of any one value in the Markdown
MAX_DOMAINS = 1000  # the template's cap on listed domain names


def size_bin(n_images: int) -> str:
    """The template's size bin for `n_images` training images."""
    return next(label for limit, label in IMAGE_SIZE_BINS if n_images < limit)


def top_domains(hosts: dict[str, int]) -> dict[str, float]:
    """The top 10% of domains by share of works (at least one), share in percent."""
    named = {h: n for h, n in hosts.items() if h and h != "(no source)"}
    total = sum(hosts.values())
    if not named or not total:
        return {}
    keep = min(MAX_DOMAINS, max(1, math.ceil(len(named) / 10)))
    ranked = sorted(named.items(), key=lambda item: (-item[1], item[0]))[:keep]
    return {host: round(100 * n / total, 2) for host, n in ranked}


def _field(label: str, value: Any, source: str | None) -> dict[str, Any]:
    stated = value is not None
    return {
        "field": label,
        "value": value if stated else None,
        "source": source if stated else None,
    }


def _stated(declarations: dict[str, Any], *keys: str) -> dict[str, Any]:
    value: Any = declarations
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool):
        value = "yes" if value else "no"
    return _field("", value, f"configuration: {'.'.join((CONFIG_KEY, *keys))}")


def _configured(label: str, declarations: dict[str, Any], *keys: str) -> dict:
    return {**_stated(declarations, *keys), "field": label}


def _section(number: str, title: str, fields: list[dict[str, Any]]) -> dict:
    return {"number": number, "title": title, "fields": fields}


def build_public_summary(
    audit: dict[str, Any],
    declarations: dict[str, Any] | None = None,
    curated_at: str | None = None,
) -> dict[str, Any]:
    """The template's sections for the version of `audit` (JSON-able).

    `declarations` is `registration.public_summary` (validated here, so any
    missing key is null); `curated_at` is when curation last read the source
    folder (the lineage ledger's time), if known.
    """
    said = PublicSummaryParams.model_validate(declarations or {}).model_dump()
    m, d, c = audit["model"], audit["dataset"], audit["curation"]
    n_works = int(d["n_works"])
    domains = top_domains(audit.get("source_hosts", {}))
    signals = c.get("opt_out_signals", {})
    reasons = c.get("reasons", {})
    sections = [
        _section("1", "General information", []),
        _section(
            "1.1",
            "Provider identification",
            [
                _configured("Provider name", said, "provider"),
                _configured("Contact details", said, "contact"),
                _configured(
                    "Authorised representative", said, "authorised_representative"
                ),
            ],
        ),
        _section(
            "1.2",
            "Model identification",
            [
                _field(
                    "Versioned model name",
                    f"{m['name']} version {m['version']} (MLflow run {m['run_id']})",
                    LINEAGE,
                ),
                _field("Registry aliases at summary time", m.get("aliases"), LINEAGE),
                _configured("Model dependencies", said, "dependencies"),
                _configured(
                    "Date of placement on the Union market", said, "placed_on_market"
                ),
            ],
        ),
        _section(
            "1.3",
            "Modalities, overall training data size and other characteristics",
            [
                # The training set is images by construction (preprocessing decodes
                # every work to pixels); the count is the training manifest's.
                _field("Modality", "image", LINEAGE),
                _field("Training data size", size_bin(n_works), LINEAGE),
                _field("Number of training images", n_works, LINEAGE),
                _configured("Types of content", said, "content_types"),
                _field(
                    "File formats of the training works", audit.get("formats"), LINEAGE
                ),
                _configured("Latest date of data acquisition", said, "data_acquired"),
                _field(
                    "Works last read from the source folder by curation",
                    curated_at,
                    LINEAGE,
                ),
                _field("Creators of the training works", d.get("n_creators"), LINEAGE),
                _field(
                    "Licences of the training works", d.get("licence_summary"), LINEAGE
                ),
            ],
        ),
        _section(
            "2",
            "List of data sources",
            [
                _field("Source folder curated", d.get("raw_dir") or None, LINEAGE),
                _field("Files decided on by curation", c.get("files"), LINEAGE),
                _field(
                    "Dataset digest (SHA-256 of the training manifest)",
                    d.get("digest"),
                    LINEAGE,
                ),
            ],
        ),
        *_source_sections(said, domains),
        _section("3", "Data processing aspects", []),
        _section(
            "3.1",
            "Respect of reservation of rights from the text and data mining "
            "exception or limitation",
            [
                _configured(
                    "Signatory to the General-Purpose AI Code of Practice",
                    said,
                    "code_of_practice_signatory",
                ),
                _field(
                    "Opt-out signals read for every file by curation",
                    list(OPT_OUT_SIGNALS),
                    LINEAGE,
                ),
                _field(
                    "Files carrying each signal (every one excluded)",
                    {s: int(signals.get(s, 0)) for s in OPT_OUT_SIGNALS}
                    | {s: int(n) for s, n in signals.items()},
                    LINEAGE,
                ),
                _field(
                    "Works excluded for an opt-out", c.get("opt_outs_honoured"), LINEAGE
                ),
                _field(
                    "Opted-out works in the training set",
                    c.get("opted_out_in_training"),
                    LINEAGE,
                ),
                _configured("Other measures", said, "rights_reservations"),
            ],
        ),
        _section(
            "3.2",
            "Removal of illegal content",
            [
                _configured("Measures", said, "illegal_content"),
                _field(
                    "Works held for review or rejected for a privacy finding "
                    "(faces detected)",
                    int(reasons.get("privacy", 0)),
                    LINEAGE,
                ),
            ],
        ),
        _section(
            "3.3",
            "Other information",
            [
                _field("Curation decisions, per reason", reasons, LINEAGE),
                _configured("Other processing", said, "other_processing"),
            ],
        ),
    ]
    return {
        "template": TEMPLATE,
        "model": {k: m.get(k) for k in ("name", "version", "run_id")},
        "declarations": said,
        "sections": sections,
    }


def _source_sections(said: dict[str, Any], domains: dict[str, float]) -> list[dict]:
    sections = []
    for number, title, key in SOURCE_SECTIONS:
        if number == "2.2.1":
            sections.append(
                _section(
                    "2.2",
                    "Private non-publicly available datasets obtained from third "
                    "parties",
                    [],
                )
            )
        fields = [
            _configured("Used", said, "sources", key, "used"),
            _configured("Description", said, "sources", key, "description"),
        ]
        if key == "crawled":
            fields += [
                _configured(
                    "Crawlers and their behaviour", said, "sources", key, "crawlers"
                ),
                _configured(
                    "Period of data collection", said, "sources", key, "period"
                ),
                # A recorded source URL says where a work came from, not how it was
                # obtained: these shares are facts whether or not anything was crawled.
                _field(
                    "Most relevant domains of the training works' recorded source "
                    "URLs (top 10%, share of training works in %)",
                    domains or None,
                    LINEAGE,
                ),
            ]
        sections.append(_section(number, title, fields))
    return sections


def _value_markdown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(
            f"{markdown_text(k, MAX_VALUE)}: {markdown_text(v, MAX_VALUE)}"
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return ", ".join(markdown_text(v, MAX_VALUE) for v in value) or "none"
    return markdown_text(value, MAX_VALUE)


def _source_markdown(source: str) -> str:
    if source == LINEAGE:
        return "_(lineage)_"
    # Keys are this module's own constants: a code span shows them as they are.
    return f"_(stated in configuration: `{source.split(': ', 1)[-1]}`)_"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: one `## N Title` heading per template section."""
    m = summary["model"]
    lines = [
        "# Public summary of training content: "
        f"{markdown_text(m['name'])} version {markdown_text(m['version'])}",
        "",
        f"Following the {summary['template']}. Each entry names its source: "
        "_(lineage)_ is recorded by the pipeline for this version; _(stated in "
        "configuration)_ is what a person wrote in `registration.public_summary`. "
        f"Where neither says, the entry reads “{NOT_STATED}”.",
        "",
    ]
    for section in summary["sections"]:
        lines += [f"## {section['number']} {section['title']}", ""]
        for f in section["fields"]:
            if f["value"] is None:
                lines.append(f"- **{f['field']}**: {NOT_STATED}")
            else:
                lines.append(
                    f"- **{f['field']}**: {_value_markdown(f['value'])} "
                    f"{_source_markdown(f['source'])}"
                )
        if section["fields"]:
            lines.append("")
    return "\n".join(lines)
