"""Evaluation pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.evaluation import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.train_feature_encoder,
                ["training_set", "params:evaluation"],
                "feature_encoder",
                name="train_feature_encoder",
            ),
            Node(
                nodes.collect_samples,
                [
                    "generator",
                    "samples_folder",
                    "params:samples_dir",
                    "params:preprocessing",
                    "params:policy.max_pixels",
                    "params:evaluation",
                ],
                "evaluation_samples",
                name="collect_samples",
            ),
            Node(
                nodes.embed_images,
                [
                    "feature_encoder",
                    "evaluation_samples",
                    "training_set",
                    "holdout_set",
                    "dataset_digest",
                    "params:evaluation",
                ],
                "evaluation_features",
                name="embed_images",
            ),
            Node(
                nodes.measure_quality,
                ["evaluation_features", "params:evaluation"],
                "evaluation_quality",
                name="measure_quality",
            ),
            Node(
                nodes.measure_data_copying,
                ["evaluation_features", "params:evaluation"],
                "evaluation_copying",
                name="measure_data_copying",
                tags=["audit"],
            ),
            Node(
                nodes.audit_memorisation,
                [
                    "evaluation_samples",
                    "evaluation_features",
                    "training_set",
                    "holdout_set",
                    "training_manifest",
                    "params:evaluation",
                ],
                ["memorisation_table", "memorisation_summary"],
                name="audit_memorisation",
                tags=["audit"],
            ),
            Node(
                nodes.summarise_evaluation,
                [
                    "evaluation_quality",
                    "evaluation_copying",
                    "memorisation_summary",
                    "evaluation_samples",
                    "evaluation_features",
                    "dataset_digest",
                    "params:registration.gates",
                ],
                ["evaluation_metrics", "evaluation_mlflow_metrics"],
                name="summarise_evaluation",
            ),
            Node(
                nodes.plot_samples,
                ["evaluation_samples", "params:evaluation"],
                "evaluation_sample_grid",
                name="plot_samples",
            ),
            Node(
                nodes.plot_memorisation_sheet,
                [
                    "evaluation_samples",
                    "training_set",
                    "memorisation_table",
                    "params:evaluation",
                ],
                "memorisation_sheet",
                name="plot_memorisation_sheet",
                tags=["audit"],
            ),
            Node(
                nodes.render_evaluation_report,
                ["evaluation_metrics", "memorisation_table", "params:evaluation"],
                "evaluation_report",
                name="render_evaluation_report",
            ),
        ],
        tags=["evaluation"],
    )
