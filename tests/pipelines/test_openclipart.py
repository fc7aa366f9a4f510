"""Curation of the real Open Clip Art Library (scripts/fetch_openclipart.sh)."""

import os
import re
from collections import Counter

import pandas as pd
import pytest

from tests.project import PROJECT_ROOT, copy_project, kedro

pytestmark = pytest.mark.slow

OCAL = PROJECT_ROOT / "data/01_raw/openclipart"


def _png_paths() -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(OCAL):
        if os.path.samefile(dirpath, OCAL):
            dirnames.remove("_sources")
        found += [
            os.path.relpath(os.path.join(dirpath, n), OCAL)
            for n in filenames
            + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        ]
    return found


@pytest.fixture(scope="module")
def decisions(tmp_path_factory):
    if not (OCAL / "_sources").is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                "CI must fetch Open Clip Art first (scripts/fetch_openclipart.sh)"
            )
        pytest.skip("run scripts/fetch_openclipart.sh to test on Open Clip Art")
    project = copy_project(tmp_path_factory.mktemp("ocal") / "project")
    result = kedro(
        project,
        "run",
        "--pipeline",
        "curation",
        "--env",
        "openclipart",
        "--params",
        f"raw_dir={OCAL}",
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    table = pd.read_csv(
        project / "data/08_reporting/curation_decisions.csv",
        dtype=str,
        keep_default_na=False,
    )
    codes = table["reason"].str.split(":", n=1).str[0]
    print("decisions:", dict(Counter(table["decision"])))  # noqa: T201 - for the log
    print("reasons:", dict(Counter(codes)))  # noqa: T201
    return table, project


def test_one_row_per_png_path(decisions):
    table, _ = decisions
    assert sorted(table["path"]) == sorted(_png_paths())
    assert len(table) > 8000


def test_links_are_duplicates_of_their_target(decisions):
    table, _ = decisions
    rows = table.set_index("path")
    links = table[table["link_target"] != ""]
    assert len(links) > 1000
    for link in links.itertuples():
        target = rows.loc[link.link_target]
        if target["reason"].split(":")[0] in ("corrupt", "too_large", "too_small"):
            assert link.reason == target["reason"]
        else:
            assert link.reason == f"duplicate:{target['work_id']}"


def test_licences_from_the_svg_rdf(decisions):
    table, _ = decisions
    other = r"(duplicate|near_duplicate|privacy|corrupt|too_large|too_small):"

    def decided_by_licence(rows: pd.DataFrame) -> pd.DataFrame:
        return rows[~rows["reason"].str.match(other)]

    public_domain = table[table["licence"] == "CC-PDDC"]
    assert len(public_domain) > 6000
    assert set(decided_by_licence(public_domain)["reason"]) == {"ok"}
    gpl = table[table["licence_raw"].str.contains("/GPL/")]
    assert len(gpl) >= 2
    assert set(decided_by_licence(gpl)["reason"]) == {"licence_review:GPL-2.0-or-later"}
    # licence_unknown: the SVG names no licence URL.
    unknown = table[table["reason"] == "licence_unknown"]
    assert len(unknown) > 10
    for path in unknown["path"]:
        svg = (OCAL / "_sources" / path).with_suffix(".svg").read_bytes()
        assert not re.search(rb'license\s+rdf:resource="[^"]+"', svg), path


def test_accepted_works_are_attributed(decisions):
    table, project = decisions
    accepted = table[table["decision"] == "accepted"]
    attribution = pd.read_csv(project / "data/08_reporting/attribution.csv")
    assert len(attribution) == len(accepted)
    assert accepted["creator"].ne("").mean() > 0.9
