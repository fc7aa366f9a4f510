"""The Great Expectations Data Docs open without a network, styled, with their results."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from imagegen.pipelines.curation.expectations import run_validation
from tests.project import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What a page loads by itself: scripts, stylesheets, images (not links to follow).
LOADED = re.compile(r'<(?:script|img)[^>]*\ssrc="([^"]+)"|<link[^>]*\shref="([^"]+)"')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    decisions = pd.DataFrame(
        {
            "path": ["a.png", "b.png", "c.png"],
            "work_id": ["1" * 64, "2" * 64, "3" * 64],
            "decision": ["accepted", "rejected", "review"],
            "reason": ["ok", "opt_out:tdm_reservation", "licence_review"],
            "licence": ["CC0-1.0", "CC0-1.0", "GPL-2.0-only"],
            "creator": ["Ann", "Bob", "Cy"],
            "opt_out": ["", "tdm_reservation", ""],
            "faces": ["0", "0", "0"],
            "gps": ["False", "False", "False"],
        }
    )
    docs = tmp_path_factory.mktemp("docs") / "data_docs"
    run_validation(decisions, str(docs), ["CC-BY-NC-4.0"])
    return docs


def _validation_page(site: Path) -> Path:
    (page,) = (site / "validations").rglob("*.html")
    return page


def test_every_page_loads_only_files_of_the_site(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 2
    for page in pages:
        text = page.read_text()
        for match in LOADED.finditer(text):
            ref = (match.group(1) or match.group(2)).split("?")[0]
            assert "://" not in ref, f"{page.name} loads {ref}"
            if not ref.startswith(("data:", "#")):
                assert (page.parent / ref).resolve().is_file(), f"{page.name}: {ref}"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed")
def test_chromium_offline_shows_the_styled_index_and_the_validation_table(site):
    from playwright.sync_api import sync_playwright

    shots = PROJECT_ROOT / "data/08_reporting"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            offline=True, viewport={"width": 1400, "height": 900}
        )
        requested = []
        context.on("request", lambda r: requested.append(r.url))
        page = context.new_page()
        page.goto((site / "index.html").as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "data_docs_index.png"), full_page=True)
        # Bootstrap styled the page and bootstrap-table built the results list.
        navbar_height = page.evaluate(
            "getComputedStyle(document.querySelector('nav.navbar')).display"
        )
        index_rows = page.locator("table tbody tr").count()
        index_text = page.inner_text("body")
        page.goto(_validation_page(site).as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "data_docs_validation.png"), full_page=True)
        result_rows = page.locator("table tbody tr").count()
        validation_text = page.inner_text("body")
        browser.close()
    assert not [u for u in requested if not u.startswith(("file:", "data:"))]
    assert navbar_height == "flex"
    assert index_rows >= 1 and "curation" in index_text
    assert result_rows >= 3
    assert "Expectation" in validation_text and "Observed Value" in validation_text
