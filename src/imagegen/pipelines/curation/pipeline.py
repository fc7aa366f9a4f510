"""Curation pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.curation import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.materialise_default_data,
                ["params:raw_dir", "params:curation.default_data"],
                "raw_ready",
                name="materialise_default_data",
            ),
            Node(
                nodes.inventory_works,
                ["raw_works", "raw_ready", "params:policy", "params:curation"],
                "work_inventory",
                name="inventory_works",
            ),
            Node(
                nodes.find_duplicates,
                ["work_inventory", "params:policy"],
                "work_duplicates",
                name="find_duplicates",
            ),
            Node(
                nodes.read_manifest, "raw_works", "raw_manifest", name="read_manifest"
            ),
            Node(
                nodes.read_takedown_list,
                "raw_works",
                "takedown_list",
                name="read_takedown_list",
            ),
            Node(
                nodes.check_site_reservations,
                ["raw_works", "work_inventory", "raw_manifest", "params:policy"],
                "site_reservations",
                name="check_site_reservations",
            ),
            Node(
                nodes.decide_works,
                [
                    "work_inventory",
                    "work_duplicates",
                    "raw_manifest",
                    "takedown_list",
                    "params:policy",
                    "site_reservations",
                ],
                "curation_decisions",
                name="decide_works",
            ),
            Node(
                nodes.validate_decisions,
                [
                    "curation_decisions",
                    "params:policy",
                    "params:curation.data_docs_dir",
                ],
                "curation_validation",
                name="validate_decisions",
            ),
            Node(
                nodes.select_accepted,
                ["curation_decisions", "curation_validation"],
                "accepted_works",
                name="select_accepted",
            ),
            Node(
                nodes.count_decisions,
                "curation_decisions",
                "curation_metrics",
                name="count_decisions",
            ),
            Node(
                nodes.plot_curation_summary,
                "curation_decisions",
                "curation_summary_plot",
                name="plot_curation_summary",
            ),
            Node(
                nodes.build_attribution,
                "accepted_works",
                ["attribution_table", "attribution_markdown"],
                name="build_attribution",
            ),
        ],
        tags=["curation"],
    )
