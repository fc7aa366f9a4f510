"""Great Expectations suite over the curation decisions table."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from imagegen.pipelines.curation.offline_docs import localise_data_docs
from imagegen.rights.policy import DECISIONS, REASON_CODES

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "path",
    "work_id",
    "decision",
    "reason",
    "licence",
    "creator",
    "opt_out",
    "faces",
    "gps",
)


def _suite(denied_licences: list[str]):
    """Expectations every decisions table meets; deny patterns are shell-style."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    suite = gx.ExpectationSuite(name="curation_decisions")
    for column in REQUIRED_COLUMNS:
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="path"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="path"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="decision"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(column="decision", value_set=list(DECISIONS))
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToMatchRegex(
            column="reason", regex=r"^(?:" + "|".join(REASON_CODES) + r")(?::.*)?$"
        )
    )
    # What may reach training: unique, hashed, licensed works with reason "ok".
    accepted = {"row_condition": Column("decision") == "accepted"}
    for expectation in (
        gxe.ExpectColumnValuesToBeUnique(column="work_id", **accepted),
        gxe.ExpectColumnValuesToMatchRegex(
            column="work_id", regex=r"^[0-9a-f]{64}$", **accepted
        ),
        gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=["ok"], **accepted),
        gxe.ExpectColumnValuesToMatchRegex(column="licence", regex=r"\S", **accepted),
        gxe.ExpectColumnValuesToNotMatchRegexList(
            column="licence",
            regex_list=[fnmatch.translate(p) for p in denied_licences],
            **accepted,
        ),
        gxe.ExpectColumnValuesToBeInSet(column="opt_out", value_set=[""], **accepted),
        # Works with a detected face go to review (or are rejected), never straight in.
        gxe.ExpectColumnValuesToBeInSet(column="faces", value_set=["0"], **accepted),
    ):
        suite.add_expectation(expectation)
    return suite


def run_validation(
    decisions: pd.DataFrame, data_docs_dir: str, denied_licences: list[str]
) -> dict[str, Any]:
    """Validate the decisions table, write Data Docs; return a JSON-able summary."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = Path(data_docs_dir).absolute()  # GX needs an absolute path here
    context.add_data_docs_site(
        site_name="curation",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas("curation")
    batch = source.add_dataframe_asset(
        "decisions"
    ).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(_suite(denied_licences))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="curation_decisions", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="curation",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
        )
    )
    # The table as written and read back (all text), whichever way it came.
    result = checkpoint.run(batch_parameters={"dataframe": decisions.astype(str)})
    localise_data_docs(docs_dir)
    checks = []
    for run_result in result.run_results.values():
        for item in run_result.results:
            config = item.expectation_config
            checks.append(
                {
                    "expectation": config.type,
                    "column": config.kwargs.get("column"),
                    "accepted_only": config.kwargs.get("row_condition") is not None,
                    "success": bool(item.success),
                    "unexpected_count": (item.result or {}).get("unexpected_count"),
                }
            )
    return {
        "success": bool(result.success),
        "checks": checks,
        "data_docs": str(docs_dir / "index.html"),
    }
