"""Monitor pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.monitor import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.collect_generations,
                "params:monitor",
                "new_generations",
                name="collect_generations",
            ),
            Node(
                nodes.measure_generations,
                [
                    "new_generations",
                    "training_set",
                    "holdout_set",
                    "dataset_digest",
                    "params:evaluation",
                    "params:monitor",
                ],
                "monitoring_report",
                name="measure_generations",
            ),
            Node(
                nodes.record_monitoring,
                ["monitoring_report", "params:monitor"],
                ["monitoring_trend", "monitoring_html"],
                name="record_monitoring",
            ),
            Node(
                nodes.raise_on_alert,
                ["monitoring_report", "monitoring_html", "params:monitor"],
                None,
                name="raise_on_alert",
            ),
        ],
        tags=["monitor"],
    )
