"""A hostile-metadata corpus through the smoke train: no script runs in any
rendered output, no CSV cell is a formula, no run fails.

The corpus is the second folder of tests/e2e/conftest.py, trained once for this
module and test_datasets_apart.py.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.project import imagegen

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


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
def hostile_project(second_folder):
    """A smoke project after a `train` on a folder of hostile metadata (e2e/conftest.py)."""
    return second_folder.project


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
        "imagegen-sketches-dcgan@candidate",  # the hostile folder's model
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
