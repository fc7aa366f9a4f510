"""Hostile work metadata: payloads that would run, shift or hide if rendered raw."""

from __future__ import annotations

import csv
from pathlib import Path

# Each would change document.title if it ran, in HTML or in Markdown rendered to HTML.
PAYLOADS = [
    "<script>document.title='pwned-script'</script>",
    "<img src=x onerror=\"document.title='pwned-img'\">",
    "[click](javascript:document.title='pwned-link')",
    "<a href=\"javascript:document.title='pwned-a'\">x</a>",
    "<svg onload=\"document.title='pwned-svg'\"></svg>",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    "$\\foo$",
    "a | b | c",
    "invoice\u202egnp.exe",
    "zero\u200bwidth\u2066",
    "x" * 5000,
]
URLS = ["http://[", "javascript:document.title='pwned-url'", "=1+1", "ftp://x/y"]


def hostile_manifest(raw: Path) -> None:
    """Rewrite `raw`/manifest.csv: every creator, title and source URL a payload."""
    with open(raw / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        row["creator"] = PAYLOADS[i % len(PAYLOADS)]
        row["title"] = PAYLOADS[(i + 3) % len(PAYLOADS)]
        row["source_url"] = URLS[i % len(URLS)]
    with open(raw / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
