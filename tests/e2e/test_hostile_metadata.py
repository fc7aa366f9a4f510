"""A hostile-metadata corpus through the smoke train: no script runs in any
rendered output, no CSV cell is a formula, no run fails."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.project import copy_project, imagegen, kedro

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _hostile_manifest(raw: Path) -> None:
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


def _rendered_dom(page: Path) -> str:
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _markdown_page(markdown_text: str, out: Path) -> Path:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])  # as MkDocs does
    out.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>safe</title>"
        f"</head><body>{body}</body></html>",
        encoding="utf-8",
    )
    return out


@pytest.fixture(scope="module")
def hostile_project(tmp_path_factory):
    from imagegen.pipelines.curation.default_data import write_digits

    project = copy_project(tmp_path_factory.mktemp("hostile") / "project")
    raw = project / "data/01_raw/digits"
    write_digits(raw)
    _hostile_manifest(raw)
    result = kedro(project, "run", "--pipeline", "train", "--env", "smoke")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def test_no_csv_cell_a_person_opens_is_a_formula(hostile_project):
    reporting = hostile_project / "data/08_reporting"
    files = [
        reporting / "curation_decisions.csv",
        reporting / "attribution.csv",
        hostile_project / "data/05_model_input/training_manifest.csv",
        reporting / "evaluation/memorisation.csv",
    ]
    neutralised = 0
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                        float(cell)  # only a negative number may start so
                    neutralised += cell.startswith("'=")
                    assert not INVISIBLE.search(cell), (path.name, cell)
                    assert len(cell) <= 1000, path.name
    assert neutralised > 0


def test_no_script_runs_in_any_rendered_output(hostile_project, tmp_path):
    audit = imagegen(
        hostile_project,
        "audit",
        "model",
        "imagegen-digits-dcgan@candidate",
        "--works",  # the whole work list, where every payload appears
    )
    assert audit.returncode == 0, audit.stderr
    assert "pwned-script" in audit.stdout  # the payloads are there, as text
    pages = {
        "audit.md": _markdown_page(audit.stdout, tmp_path / "audit.html"),
        "public_summary.md": _markdown_page(
            (hostile_project / "data/08_reporting/public_summary.md").read_text(),
            tmp_path / "public_summary.html",
        ),
        "ATTRIBUTION.md": _markdown_page(
            (hostile_project / "data/08_reporting/ATTRIBUTION.md").read_text(),
            tmp_path / "attribution.html",
        ),
    }
    report = hostile_project / "data/08_reporting/evaluation/report.html"
    assert "Content-Security-Policy" in report.read_text()
    pages["report.html"] = report
    for name, page in pages.items():
        dom = _rendered_dom(page)
        title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
        assert "pwned" not in title, (name, title)
        assert "<script" not in dom.lower(), name
        assert not re.search(r"<[^>]+\son(error|load)=", dom, re.I), name
        assert not re.search(r"<a\s[^>]*href=\"javascript:", dom, re.I), name
        assert not INVISIBLE.search(dom), name
    # A "|" in a creator never shifts the audit table's columns.
    rows = [line for line in audit.stdout.splitlines() if line.startswith("| `")]
    assert rows and all(re.split(r"(?<!\\)\|", r).__len__() == 7 for r in rows)
