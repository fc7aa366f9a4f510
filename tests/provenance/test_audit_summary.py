"""`imagegen audit model` by default: the audit at a glance, not the list of works."""

import pandas as pd

from imagegen.provenance.audit import (
    _gates,
    audit_markdown,
    audit_summary_markdown,
    build_audit,
)

MODEL = {
    "name": "imagegen-digits-dcgan",
    "version": "3",
    "aliases": ["candidate"],
    "run_id": "r1",
    "source": "m",
}


def make_audit(n_works: int = 300):
    creators = [f"Creator {i % 12}" for i in range(n_works)]
    creators[:6] = ["<script>x</script> | evil"] * 6
    manifest = pd.DataFrame(
        {
            "work_id": [f"{i:064x}" for i in range(n_works)],
            "path": [f"w{i}.png" for i in range(n_works)],
            "title": [f"t{i}" for i in range(n_works)],
            "creator": creators,
            "licence": ["CC0-1.0"] * n_works,
            "source_url": [""] * n_works,
        }
    )
    decisions = pd.DataFrame(
        {
            "work_id": [*manifest["work_id"], "f" * 64],
            "decision": ["accepted"] * n_works + ["rejected"],
            "reason": ["ok"] * n_works + ["opt_out:tdm_reservation"],
            "opt_out": [""] * n_works + ["tdm_reservation"],
        }
    )
    digest = {
        "dataset_digest": "d" * 64,
        "licence_summary": {"CC0-1.0": n_works},
    }
    audit = build_audit(
        MODEL,
        digest,
        manifest,
        manifest.head(0),
        decisions,
        raw_dir="data/01_raw/digits",
    )
    audit["gates"] = _gates(
        {
            "gate.fid_max.value": "2.42",
            "gate.fid_max.limit": "<= 5.0",
            "gate.fid_max.verdict": "pass",
            "gates_passed": "true",
            "dataset_digest": "d" * 64,
        }
    )
    return audit


def test_the_summary_is_short_whatever_the_number_of_works():
    audit = make_audit(300)
    summary = audit_summary_markdown(audit, "imagegen-digits-dcgan@candidate")
    assert len(summary.splitlines()) < 60
    assert len(audit_markdown(audit).splitlines()) > 300  # --works lists them all
    assert "# imagegen-digits-dcgan version 3 (@candidate)" in summary
    assert "- works trained on: 300, by 13 creator(s)" in summary
    assert "- curation: 301 files (accepted 300, rejected 1)" in summary
    assert "- CC0-1.0: 300" in summary
    assert "## Creators (top 10 of 13)" in summary
    assert "honoured (works refused for an opt-out signal): 1 (tdm_reservation 1)" in (
        summary
    )
    assert "- fid_max: pass (2.42, limit <= 5.0)" in summary
    assert "runs:/r1/audit/public_summary.md" in summary
    assert "imagegen audit model imagegen-digits-dcgan@candidate --works" in summary


def test_creators_in_the_summary_are_escaped():
    audit = make_audit(24)
    summary = audit_summary_markdown(audit)
    assert "<script>" not in summary and "\\<script\\>" in summary
    assert "\\| evil" in summary
