"""Registration pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.registration import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.register_model,
                [
                    "generator",
                    "dataset_digest",
                    "evaluation_metrics",
                    "training_summary",
                    "attribution_table",
                    "training_manifest",
                    "params:registration",
                    "params:raw_dir",
                ],
                "registration_plan",
                name="register_model",
            ),
            Node(
                nodes.record_model_lineage,
                [
                    "registration_plan",
                    "feature_encoder",
                    "dataset_digest",
                    "training_manifest",
                    "holdout_works",
                    "curation_decisions",
                    "params:raw_dir",
                    "params:registration.champion_alias",
                    "params:registration.public_summary",
                ],
                ["model_audit", "lineage_tags"],
                name="record_model_lineage",
                tags=["audit"],
            ),
            # Last: the version, created with every tag, then its aliases.
            Node(
                nodes.publish_version,
                [
                    "registration_plan",
                    "lineage_tags",
                    "evaluation_metrics",
                    "params:registration",
                ],
                "registration_record",
                name="publish_version",
            ),
            Node(
                nodes.render_public_summary,
                "model_audit",
                ["public_summary_record", "public_summary"],
                name="render_public_summary",
                tags=["audit"],
            ),
        ],
        tags=["registration"],
    )
